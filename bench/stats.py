"""Figures of a bench run: percentiles, rates, scaling by BENCH_N and the one-line JSON summary.

Pure functions only, so the arithmetic the targets are judged by is unit-tested."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

# The keys of the last line `make bench` prints, in this order; every value is a number (or null
# when a stage could not run, with the reason printed above it).
KEYS: tuple[str, ...] = (
    "pipeline_checkins_per_s",
    "aiokafka_read_per_s",
    "kafka_consumer_perf_per_s",
    "scoring_per_s",
    "quix_peer_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "rebuild_1m_s",
    "enrol_rps",
    "enrol_p99_ms",
    "max_rss_mib",
    "enrol_ceiling_rps",
    "hot_enrol_per_s",
    "hot_enrol_p99_ms",
    "hot_spread_enrol_per_s",
    "hot_enrol_correct",
    "broadcast_per_s",
    "broadcast_p99_s",
    "broadcast_limit_per_s",
    "broadcast_limited_per_s",
    "broadcast_limited_p99_s",
    "broadcast_limited_lag_p99_s",
    "broadcast_notify_cpu_ms",
    "pipeline_2x_checkins_per_s",
    "latency_rebalance_p99_ms",
    "latency_restart_p99_ms",
)

DEFAULT_N = 200_000
# Residents of the broadcast stage: the street has 100,000; this many keep the stage within
# about three minutes on a 2-core machine (BENCH_BROADCAST_RESIDENTS=100000 for the full run).
DEFAULT_BROADCAST_RESIDENTS = 1_500


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: int, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"rate over a non-positive duration ({seconds} s)")
    return count / seconds


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return ours / theirs


@dataclass(frozen=True)
class Scale:
    """Event counts of one run. BENCH_N sets the pipeline's N; the others follow its proportion to the
    issue's defaults (N 200,000 : rebuild 1,000,000 : latency 60 s at 1,000 per second)."""

    n: int

    @property
    def pipeline(self) -> int:
        return self.n

    @property
    def rebuild(self) -> int:
        return self.n * 5

    @property
    def latency_seconds(self) -> float:
        return max(5.0, 60.0 * self.n / DEFAULT_N)

    @property
    def scoring(self) -> int:
        return self.n


def scale_from_env(environ: Mapping[str, str] | None = None) -> Scale:
    raw = (environ if environ is not None else os.environ).get("BENCH_N", "").strip()
    if not raw:
        return Scale(DEFAULT_N)
    n = int(raw.replace("_", "").replace(",", ""))
    if n < 100:
        raise ValueError(f"BENCH_N={raw}: use at least 100 events")
    return Scale(n)


def broadcast_residents_from_env(environ: Mapping[str, str] | None = None) -> int:
    raw = (environ if environ is not None else os.environ).get("BENCH_BROADCAST_RESIDENTS", "").strip()
    if not raw:
        return DEFAULT_BROADCAST_RESIDENTS
    n = int(raw.replace("_", "").replace(",", ""))
    if n < 10:
        raise ValueError(f"BENCH_BROADCAST_RESIDENTS={raw}: use at least 10 residents")
    return n


def broadcast_summary(seconds_to_sent: Sequence[float], prefix: str = "broadcast") -> dict[str, float]:
    """A broadcast's messages/s (messages sent over the time from its creation to the last one sent)
    and the p99 of the seconds from its creation to each message's `sent`."""
    if not seconds_to_sent:
        return {}
    return {
        f"{prefix}_per_s": round(rate(len(seconds_to_sent), max(seconds_to_sent)), 1),
        f"{prefix}_p99_s": round(percentile(seconds_to_sent, 99), 2),
    }


def per_million_seconds(events: int, seconds: float) -> float:
    """Seconds a rebuild of 1,000,000 events takes at the measured pace (the replay is linear in events)."""
    return seconds * 1_000_000 / events


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    values = list(latencies_ms)
    return {
        "latency_p50_ms": round(percentile(values, 50), 1),
        "latency_p95_ms": round(percentile(values, 95), 1),
        "latency_p99_ms": round(percentile(values, 99), 1),
    }


def json_line(figures: Mapping[str, float | int | None]) -> str:
    """The last line of the run: every key of KEYS (null where a stage did not run), numbers only."""
    out: dict[str, float | int | None] = {}
    for key in KEYS:
        value = figures.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TypeError(f"{key} must be a number, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = round(value, 3) if isinstance(value, float) else value
    return orjson.dumps(out).decode()


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float
    higher_is_better: bool

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.limit if self.higher_is_better else value <= self.limit


TARGETS: tuple[Target, ...] = (
    Target("pipeline_checkins_per_s", "pipeline ≥ 20,000 check-ins/s", 20_000, True),
    Target("pipeline_vs_aiokafka", "pipeline ≥ 10% of bare aiokafka read", 0.10, True),
    Target("scoring_vs_quix", "scoring step ≥ 1.5× Quix Streams (exactly-once)", 1.5, True),
    Target("pipeline_2x_checkins_per_s", "pipeline with two instances each ≥ 20,000 check-ins/s", 20_000, True),
    Target("latency_p99_ms", "p99 ≤ 250 ms at 1,000 check-ins/s", 250, False),
    Target("latency_rebalance_p99_ms", "p99 ≤ 250 ms while one of two scoring instances is killed", 250, False),
    Target("latency_restart_p99_ms", "p99 ≤ 250 ms while one of two scoring instances restarts (SIGTERM)", 250, False),
    Target("rebuild_1m_s", "rebuild of 1,000,000 events ≤ 60 s", 60, False),
    Target("enrol_rps", "enrolment API ≥ 1,500 requests/s", 1_500, True),
    Target("enrol_p99_ms", "enrolment API p99 ≤ 50 ms", 50, False),
    Target("max_rss_mib", "every service ≤ 300 MiB resident", 300, False),
    Target("enrol_vs_ceiling", "enrolment API ≥ 0.5× the minimal INSERT endpoint", 0.5, True),
    Target("hot_enrol_correct", "hot session: 50 confirmed, the rest waitlisted in arrival order", 1, True),
    Target("hot_enrol_per_s", "hot session ≥ 1,000 enrolments/s", 1_000, True),
    Target("hot_enrol_p99_ms", "hot session p99 ≤ 1 s", 1_000, False),
    Target("hot_vs_spread", "hot session ≥ 0.8× the same load spread over sessions", 0.8, True),
    Target("broadcast_per_s", "broadcast: notify hands ≥ 1,000 messages/s to gateway and sink", 1_000, True),
    Target("broadcast_p99_s", "broadcast p99 from its creation to sent ≤ 5 s", 5, False),
)


def derived(figures: Mapping[str, float | None]) -> dict[str, float | None]:
    """The ratios the targets are stated in."""
    return {
        "pipeline_vs_aiokafka": ratio(figures.get("pipeline_checkins_per_s"), figures.get("aiokafka_read_per_s")),
        "scoring_vs_quix": ratio(figures.get("scoring_per_s"), figures.get("quix_peer_per_s")),
        "enrol_vs_ceiling": ratio(figures.get("enrol_rps"), figures.get("enrol_ceiling_rps")),
        "hot_vs_spread": ratio(figures.get("hot_enrol_per_s"), figures.get("hot_spread_enrol_per_s")),
    }
