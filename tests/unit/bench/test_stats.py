"""The arithmetic the performance targets are judged by, and the shape of the bench's last line."""

from __future__ import annotations

import math

import orjson
import pytest

from bench import stats
from bench.api_load import parse_result
from bench.ceilings import parse_consumer_performance
from bench.peer import transactional_partition_done
from bench.profile import top_frames
from bench.rebuild import parse_summary


def test_percentiles_interpolate_between_closest_ranks():
    values = list(range(1, 101))  # 1..100
    assert stats.percentile(values, 50) == pytest.approx(50.5)
    assert stats.percentile(values, 99) == pytest.approx(99.01)
    assert stats.percentile(values, 0) == 1
    assert stats.percentile(values, 100) == 100


def test_percentile_ignores_input_order_and_handles_one_value():
    assert stats.percentile([30.0, 10.0, 20.0], 50) == 20.0
    assert stats.percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_percentile_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        stats.percentile([1.0, 2.0], bad)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        stats.percentile([], 50)


def test_latency_summary_rounds_to_a_tenth_of_a_millisecond():
    summary = stats.latency_summary([float(v) for v in range(1, 1001)])
    assert summary == {"latency_p50_ms": 500.5, "latency_p95_ms": 950.0, "latency_p99_ms": 990.0}


def test_rate_and_rebuild_scaling():
    assert stats.rate(20_000, 2.0) == 10_000
    with pytest.raises(ValueError):
        stats.rate(1, 0)
    assert stats.per_million_seconds(250_000, 12.5) == pytest.approx(50.0)


def test_bench_n_scales_every_stage_from_the_issue_defaults():
    default = stats.scale_from_env({})
    assert (default.pipeline, default.rebuild, default.latency_seconds) == (200_000, 1_000_000, 60.0)
    small = stats.scale_from_env({"BENCH_N": "20_000"})
    assert (small.pipeline, small.rebuild, small.latency_seconds) == (20_000, 100_000, 6.0)
    assert stats.scale_from_env({"BENCH_N": "1000"}).latency_seconds == 5.0  # never shorter than 5 s
    with pytest.raises(ValueError):
        stats.scale_from_env({"BENCH_N": "10"})


def test_json_line_has_every_key_in_order_with_numbers_or_null():
    line = stats.json_line({"pipeline_checkins_per_s": 21_000, "latency_p99_ms": 12.3456, "enrol_rps": math.nan})
    assert "\n" not in line
    data = orjson.loads(line)
    assert list(data) == list(stats.KEYS)
    assert data["pipeline_checkins_per_s"] == 21_000
    assert data["latency_p99_ms"] == 12.346
    assert data["enrol_rps"] is None  # not a number in JSON
    assert data["quix_peer_per_s"] is None  # stage not run


def test_json_line_refuses_non_numbers():
    with pytest.raises(TypeError):
        stats.json_line({"max_rss_mib": "120"})
    with pytest.raises(TypeError):
        stats.json_line({"max_rss_mib": True})


def test_targets_and_ratios():
    figures = {
        "pipeline_checkins_per_s": 25_000,
        "aiokafka_read_per_s": 400_000,
        "scoring_per_s": 30_000,
        "quix_peer_per_s": 20_000,
    }
    derived = stats.derived(figures)
    assert derived["pipeline_vs_aiokafka"] == pytest.approx(0.0625)
    assert derived["scoring_vs_quix"] == pytest.approx(1.5)
    by_key = {t.key: t for t in stats.TARGETS}
    assert by_key["pipeline_checkins_per_s"].met(25_000) is True
    assert by_key["pipeline_vs_aiokafka"].met(derived["pipeline_vs_aiokafka"]) is False
    assert by_key["latency_p99_ms"].met(251) is False
    assert by_key["latency_p99_ms"].met(250) is True
    assert by_key["max_rss_mib"].met(None) is None
    assert stats.derived({"scoring_per_s": 1.0})["scoring_vs_quix"] is None


def test_consumer_performance_output_gives_the_fetch_rate():
    stdout = (
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
        "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n"
        "2026-11-27 10:00:00:000, 2026-11-27 10:00:04:000, 47.6837, 11.9209, 200000, 50000.0000, "
        "3000, 1000, 47.6837, 200000.0000\n"
    )
    assert parse_consumer_performance(stdout) == 200_000.0


def test_wrk_result_line_is_read():
    out = 'Running 20s test\nRESULT {"requests":40000,"seconds":20.00,"rps":2000.0,"p50_ms":9.10,"p90_ms":20.0,'
    out += '"p99_ms":41.50,"max_ms":90.0,"socket_errors":0,"non_2xx_3xx":12,"codes":{"201":26000,"200":13988}}\n'
    run = parse_result(out)
    assert (run.requests, run.rps, run.p99_ms) == (40_000, 2000.0, 41.5)
    assert run.ok_share == pytest.approx(39_988 / 40_000)


def test_profile_frames_self_and_own_code():
    collapsed = (
        "run (asyncio/runners.py:118);handle (services/activities/checkins.py:90);loads (orjson.py:1) 30\n"
        "run (asyncio/runners.py:118);handle (services/activities/checkins.py:95);execute (asyncpg/conn.py:3) 70\n"
    )
    frames = top_frames(collapsed)
    assert frames["self"][0] == ("execute (asyncpg/conn.py)", 0.7)
    assert frames["own"] == [("handle (services/activities/checkins.py)", 1.0)]


def test_rebuild_summary_line_is_read():
    output = "replayed 1463210 records in 121.5 s\nREBUILD equal=False swapped=False records=1463210\n"
    assert parse_summary(output) == (1_463_210, False)
    assert parse_summary("Traceback (most recent call last):\n") == (None, None)


def test_a_transactional_partition_is_done_one_short_of_its_end():
    # [r0, r1, commit-marker]: end offset 3, the consumer committed 2 (after r1)
    assert transactional_partition_done(2, 3)
    assert transactional_partition_done(0, 0)  # empty partition
    # [r0, r1, marker, r3 (transaction still open)]: end 4, committed 2 → not done
    assert not transactional_partition_done(2, 4)


def test_broadcast_rate_is_messages_over_creation_to_last_sent_and_p99_from_creation():
    seconds = [float(s) for s in range(1, 101)]  # 100 messages sent 1..100 s after the broadcast's creation
    assert stats.broadcast_summary(seconds) == {"broadcast_per_s": 1.0, "broadcast_p99_s": 99.01}
    assert stats.broadcast_summary([0.5, 0.25], prefix="broadcast_limited") == {
        "broadcast_limited_per_s": 4.0,
        "broadcast_limited_p99_s": 0.5,
    }
    assert stats.broadcast_summary([]) == {}  # nothing sent: the figures stay null


def test_broadcast_residents_come_from_the_environment():
    assert stats.broadcast_residents_from_env({}) == stats.DEFAULT_BROADCAST_RESIDENTS
    assert stats.broadcast_residents_from_env({"BENCH_BROADCAST_RESIDENTS": "100_000"}) == 100_000
    with pytest.raises(ValueError):
        stats.broadcast_residents_from_env({"BENCH_BROADCAST_RESIDENTS": "5"})


def test_broadcast_targets_and_json_keys():
    by_key = {t.key: t for t in stats.TARGETS}
    assert by_key["broadcast_per_s"].met(1_000) is True
    assert by_key["broadcast_per_s"].met(134) is False  # the developers' own figure
    assert by_key["broadcast_p99_s"].met(5.0) is True
    assert by_key["broadcast_p99_s"].met(5.01) is False
    assert by_key["broadcast_p99_s"].met(None) is None
    data = orjson.loads(stats.json_line({"broadcast_per_s": 1234.5, "broadcast_p99_s": 4.2}))
    assert (data["broadcast_per_s"], data["broadcast_p99_s"]) == (1234.5, 4.2)
    keys = list(data)
    assert keys.index("broadcast_per_s") == keys.index("hot_enrol_correct") + 1  # added after the earlier keys


def test_bench_residents_are_fixed_reachable_and_never_in_quiet_hours():
    from bench import broadcast

    people = [broadcast.resident(i) for i in range(10)]
    assert people[3] == broadcast.resident(3)  # a later run imports the same resident (reused, not doubled)
    assert {p["resident_id"] for p in people} == {f"bench-bcast-r{i:06d}" for i in range(10)}
    assert all(p["consent"] and p["quiet_hours_start"] == p["quiet_hours_end"] for p in people)
    by_email = [p for p in people if p["preferred_channel"] == "email"]
    assert len(by_email) == 2 and all("@" in p["email"] and "phone" not in p for p in by_email)
    assert all(p["phone"].startswith("+86") for p in people if p["preferred_channel"] == "sms")


def test_cpu_seconds_of_a_process_and_of_one_that_is_gone():
    import os

    from bench import broadcast

    assert broadcast.cpu_seconds(os.getpid()) >= 0
    assert broadcast.cpu_seconds(2**22 + 12345) is None  # beyond pid_max: no such process


def test_the_broadcast_audience_is_realigned_to_exactly_this_runs_residents():
    from bench import broadcast

    known = {
        "bench-bcast-r000000": "infant",  # in the audience, stays
        "bench-bcast-r000001": "special",  # parked by a smaller run: comes back
        "bench-bcast-r000002": "infant",  # beyond N = 2 (an earlier, larger run): parked
        "bench-bcast-r000003": "special",  # beyond N and parked: stays
        "r-someone-else": "infant",  # not the bench's: never touched
    }
    assert broadcast.realign(known, 2) == {"bench-bcast-r000001": "infant", "bench-bcast-r000002": "special"}
    assert broadcast.realign(known, 4) == {"bench-bcast-r000001": "infant", "bench-bcast-r000003": "infant"}
