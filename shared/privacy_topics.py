"""What a full read of every topic finds about a resident (ADR 10, issue 17).

`learnstreet privacy find-in-topics` is the data-protection officer's check after an erasure: every
topic of the street, dead-letter topics included (`all_topic_specs`), read from its first retained
record to the end it had when the read began, with the admin principal. Each record's key, value
and headers are searched for the resident's card number, phone and e-mail as bytes: the events are
UTF-8 JSON and the keys UTF-8, so a byte search finds every plain copy, whatever field holds it.
The card and the e-mail count only as whole tokens (no ASCII letter or digit right before or after):
`r-000123` is not found inside `r-0001234`, another resident's card, which would be a false alarm
after an erasure; inside `enrol:r-000123:s1` or `"r-000123"` it is. A phone counts anywhere: it is
written with or without its country code, and in free text.

The search is pure (`findings_in`) and testable without Kafka; `read_topics` is the I/O.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

PLACES = ("key", "value", "headers")


class ReadStalled(RuntimeError):
    """A partition stopped giving records before the end it had when the read began."""


@dataclass
class TopicFindings:
    """One topic: records read, and per needle (`card`, `phone`, `email`) the records holding it by
    where it was found (a record can hold it in its key and its value: counted in both)."""

    topic: str
    records: int = 0
    found: dict[str, Counter[str]] = field(default_factory=dict)

    def holding(self, needle: str) -> int:
        return max(self.found.get(needle, Counter()).values(), default=0)

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "records": self.records, "found": {n: dict(c) for n, c in self.found.items()}}


def as_json(findings: list[TopicFindings]) -> dict[str, Any]:
    return {"records": sum(f.records for f in findings), "topics": [f.as_json() for f in findings]}


def topics_holding(findings: list[TopicFindings], needles: list[str]) -> list[str]:
    return sorted(f.topic for f in findings if any(f.holding(n) for n in needles))


def findings_table(findings: list[TopicFindings], needles: list[str]) -> Table:
    """Per topic read: records, and per needle the records holding it in key / value / headers;
    a topic holding any in red. Topics with nothing retained and nothing found are left out."""
    from rich.table import Table

    read = sum(f.records for f in findings)
    table = Table(
        title=f"{read:,} records read from {len(findings)} topics / 已读取记录",
        caption="records holding it in their key / value / headers / 键、值、头中含该信息的记录数",
    )
    table.add_column("topic / 主题", overflow="fold")
    table.add_column("records / 记录", justify="right")
    for name in needles:
        table.add_column(f"{name} k/v/h", justify="right", no_wrap=True)
    for f in findings:
        if not f.records and not any(f.found.values()):
            continue
        cells = ["/".join(str(f.found.get(name, {}).get(place, 0)) for place in PLACES) for name in needles]
        table.add_row(f.topic, f"{f.records:,}", *cells, style="red" if any(f.holding(n) for n in needles) else None)
    return table


@dataclass(frozen=True)
class Needle:
    """What is searched for: `text` as bytes, as a whole token or anywhere, in any case or exactly."""

    text: bytes
    whole_token: bool = True
    any_case: bool = False
    pattern: re.Pattern[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        escaped = re.escape(self.text)
        if self.whole_token:
            escaped = rb"(?<![A-Za-z0-9])" + escaped + rb"(?![A-Za-z0-9])"
        object.__setattr__(self, "pattern", re.compile(escaped, re.IGNORECASE if self.any_case else 0))

    def in_(self, data: bytes | None) -> bool:
        return bool(data) and self.pattern.search(data) is not None  # type: ignore[arg-type]


def needles_of(card: str, phone: str | None = None, email: str | None = None) -> dict[str, Needle]:
    """What is searched for; ValueError (one line) for a value too short to mean anything."""
    # (value, whole token, any case): an e-mail's domain has no case, and people write its name in any
    given = {"card": (card, True, False), "phone": (phone, False, False), "email": (email, True, True)}
    needles = {}
    for name, (value, whole_token, any_case) in given.items():
        if value is None or value == "":
            continue
        if len(value.strip()) < 6:
            raise ValueError(f"{name} {value!r} is too short to search for (6 characters or more)")
        needles[name] = Needle(value.strip().encode(), whole_token, any_case)
    return needles


def places_holding(
    needle: Needle, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
) -> list[str]:
    """Where in one record `needle` occurs: a subset of PLACES, in that order."""
    places = []
    if needle.in_(key):
        places.append("key")
    if needle.in_(value):
        places.append("value")
    if any(needle.in_(v) or needle.in_(k.encode()) for k, v in headers or ()):
        places.append("headers")
    return places


def findings_in(
    topic: str, records: Iterable[Any], needles: Mapping[str, Needle], into: TopicFindings | None = None
) -> TopicFindings:
    """Add `records` (with .key, .value, .headers as aiokafka gives them) of `topic` to its findings."""
    findings = into or TopicFindings(topic)
    for record in records:
        findings.records += 1
        for name, needle in needles.items():
            for place in places_holding(needle, record.key, record.value, record.headers):
                findings.found.setdefault(name, Counter())[place] += 1
    return findings


async def read_topics(
    kafka_kwargs: Mapping[str, Any],
    topics: Iterable[str],
    needles: Mapping[str, Needle],
    *,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[int], None] = lambda done: None,
    stall_s: float = 60.0,
) -> list[TopicFindings]:
    """Read `topics` (those the cluster has; an absent one is reported with 0 records) from their
    first retained record to the end offsets taken at the start, and search every record."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    wanted = list(topics)
    findings = {t: TopicFindings(t) for t in wanted}
    admin = AIOKafkaAdminClient(**kafka_kwargs)
    await admin.start()
    try:
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if not t["error_code"]  # a topic the cluster lacks: 0 records
        for p in sorted(t["partitions"], key=lambda p: p["partition"])
    ]
    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024, **kafka_kwargs
    )
    await consumer.start()
    try:
        if not partitions:
            return list(findings.values())
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > starts[tp]}
        on_start(sum(ends[tp] - starts[tp] for tp in partitions))
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        done, moved_at = 0, time.monotonic()
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
            for tp, records in batch.items():
                mine = [r for r in records if r.offset < ends[tp]]
                findings_in(tp.topic, mine, needles, findings[tp.topic])
                done += len(mine)
            # positions run to the end even where compaction or aborted transactions left gaps
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
                    consumer.pause(tp)
            if batch:
                moved_at = time.monotonic()
            elif time.monotonic() - moved_at > stall_s:
                stuck = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in left))
                raise ReadStalled(f"no records for {stall_s:.0f} s from {stuck} before their end; nothing concluded")
            on_progress(done)
        return list(findings.values())
    finally:
        await consumer.stop()
