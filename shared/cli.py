"""`learnstreet`: the operator's command line (tokens, dead letters, residents' data exports).

Reads the same environment as the services (`.local/credentials.env` locally).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from shared.credentials_cli import verify
from shared.http.auth import ROLES, mint_token, weak_secret_reason
from shared.local_env import MissingSetting, kafka_client_kwargs, setting

app = typer.Typer(help="learnstreet operator tools / 学习型街道运维工具", no_args_is_help=True)
app.command()(verify)  # learnstreet verify FILE: an Open Badges credential (shared/credentials_cli.py)
dlq_app = typer.Typer(help="Dead letters: list and replay / 死信：查看与重放", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
privacy_app = typer.Typer(help="Residents' personal information: export / 居民个人信息：导出", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
quarantine_app = typer.Typer(
    help="Dead letters Kafka refused, kept in a service's database / 未能写入死信主题的死信", no_args_is_help=True
)
dlq_app.add_typer(quarantine_app, name="quarantine")
console = Console()
err = Console(stderr=True)


def _env(name: str) -> str:
    value = setting(name)
    if value is None:
        _missing(MissingSetting(name))
    return value


def _missing(error: MissingSetting) -> None:
    # one plain line: rich would wrap it at 80 columns when stderr is not a terminal
    print(f"error: {error}", file=sys.stderr)
    raise typer.Exit(2)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(2)


@app.command()
def token(
    role: str = typer.Option(..., help=f"one of {', '.join(ROLES)}"),
    subject: str = typer.Option("operator", help="user, kiosk or resident id"),
    ttl: int = typer.Option(3600, help="lifetime in seconds"),
    community: str = typer.Option(None, help="the community a community_worker acts in"),
    venue: list[str] = typer.Option(None, help="a venue a venue_staff token acts for (repeatable)"),
) -> None:
    """Mint a development bearer token for the HTTP APIs / 签发开发用访问令牌.

    Refused when the services take their tokens from an identity provider (LS_OIDC_ISSUER)."""
    issuer = setting("LS_OIDC_ISSUER")
    if issuer:
        _fail(
            f"the services accept tokens of {issuer} only (LS_OIDC_ISSUER): sign in there; no token minted"
            " (local stack: .venv/bin/python deploy/local/keycloak.py token demo-operator)"
        )
    if role not in ROLES:
        _fail(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    if ttl <= 0:
        _fail("--ttl must be a positive number of seconds")
    if role == "community_worker" and not community:
        _fail("a community_worker token needs --community")
    if role == "venue_staff" and not venue:
        _fail("a venue_staff token needs --venue (one per venue)")
    secret = _env("LS_JWT_SECRET")
    if (reason := weak_secret_reason(secret)) is not None:
        _fail(f"{reason}; the services refuse it at start-up")
    venues = list(venue) if venue else None
    print(mint_token(secret, subject=subject, role=role, ttl_s=ttl, community_id=community or None, venue_id=venues))


def _kafka_kwargs() -> dict:
    try:
        return kafka_client_kwargs("admin")
    except MissingSetting as error:
        _missing(error)


async def _read_all(topic: str) -> list:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, group_id=None, auto_offset_reset="earliest", **_kafka_kwargs())
    await consumer.start()
    try:
        records = []
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                return records
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()


def _dlq_topic(topic: str) -> str:
    from shared.events.topics import TOPICS_BY_NAME, dead_letter_topic

    base = topic.removesuffix(".dlq")
    if base not in TOPICS_BY_NAME:
        _fail(f"unknown topic {topic!r}; one of: {', '.join(sorted(TOPICS_BY_NAME))}")
    return dead_letter_topic(base)


def _h(record) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}


@dlq_app.command("list")
def dlq_list(topic: str = typer.Argument(..., help="source topic, e.g. kiosk.checkins")) -> None:
    """List dead letters of a topic with their reasons / 列出死信及原因."""
    records = asyncio.run(_read_all(_dlq_topic(topic)))
    reasons = Counter(_h(r).get("dlq_reason", "?") for r in records)
    summary = Table(title=f"{_dlq_topic(topic)}: {len(records)} dead letters / 条死信")
    summary.add_column("reason / 原因")
    summary.add_column("count / 数量", justify="right")
    for reason, n in reasons.most_common():
        summary.add_row(reason, str(n))
    console.print(summary)
    detail = Table(title="latest 20 / 最近20条")
    for column in ("partition@offset", "service", "reason", "message"):
        detail.add_column(column)
    for r in records[-20:]:
        h = _h(r)
        detail.add_row(_source(r), h.get("dlq_service", ""), h.get("dlq_reason", ""),
                       h.get("dlq_error_message", "")[:100])  # fmt: skip
    console.print(detail)


@dlq_app.command("replay")
def dlq_replay(
    topic: str = typer.Argument(..., help="source topic whose dead letters go back to it"),
    reason: str = typer.Option(None, help="only dead letters with this reason code"),
    only: str = typer.Option(None, help="only the dead letter of this source record, PARTITION@OFFSET"),
) -> None:
    """Send dead letters back to their original topic after the cause was fixed / 修复后重放死信.

    A dead letter cut to fit (dlq_body_truncated, dlq_key_truncated, dlq_headers_dropped) is not
    sent as it is: its original record is read from the source topic; if the topic no longer holds
    it, that dead letter is refused."""

    async def replay() -> tuple[int, list[str]]:
        from aiokafka import AIOKafkaProducer

        records = await _read_all(_dlq_topic(topic))
        chosen = [r for r in records if reason is None or _h(r).get("dlq_reason") == reason]
        if only is not None:
            chosen = [r for r in chosen if _source(r) == only]
        sends, refused = [], []
        for r in chosen:
            h = _h(r)
            if any(name in h for name in _CUT):
                original, why = await _original(h)
                if original is None:
                    refused.append(f"{_source(r)} of {h['dlq_original_topic']}: {why}")
                    continue
                sends.append((h["dlq_original_topic"], original.value, original.key, list(original.headers or ())))
            else:
                headers = [(k, v) for k, v in (r.headers or ()) if not k.startswith("dlq_")]
                sends.append((h["dlq_original_topic"], r.value, r.key, headers))
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **_kafka_kwargs())
        await producer.start()
        try:
            for target, value, key, headers in sends:
                await producer.send_and_wait(target, value, key=key, headers=headers)
        finally:
            await producer.stop()
        return len(sends), refused

    n, refused = asyncio.run(replay())
    console.print(f"replayed {n} dead letters / 已重放 {n} 条死信")
    for line in refused:
        err.print(f"refused / 未重放 {line}", soft_wrap=True)
    if refused:
        raise typer.Exit(1)


# Headers of a dead letter that holds less than its record (shared/bus/dead_letters.py `fit`).
_CUT = ("dlq_body_truncated", "dlq_key_truncated", "dlq_headers_dropped")


def _source(record) -> str:
    h = _h(record)
    return f"{h.get('dlq_original_partition', '?')}@{h.get('dlq_original_offset', '?')}"


async def _original(h: dict[str, str]) -> tuple[object | None, str]:
    """The record a cut dead letter was made of, from its source topic, or None and why not."""
    import hashlib

    from aiokafka import AIOKafkaConsumer, TopicPartition

    tp = TopicPartition(h["dlq_original_topic"], int(h["dlq_original_partition"]))
    offset = int(h["dlq_original_offset"])
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **_kafka_kwargs())
    await consumer.start()
    try:
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        held = f"the partition holds {first}..{end - 1}"
        gone = f"the dead letter was cut to fit and offset {offset} is no longer retained ({held})"
        if not first <= offset < end:
            return None, gone
        consumer.seek(tp, offset)
        while True:  # bounded: offset < end, and every fetch moves forward
            batch = await consumer.getmany(tp, timeout_ms=5000)
            if not batch:
                return None, f"the dead letter was cut to fit and offset {offset} could not be read"
            for record in batch.get(tp, ()):
                if record.offset > offset:
                    return None, gone  # compacted or aborted: not there
                if record.offset == offset:
                    expected = h.get("dlq_body_sha256")
                    if expected and hashlib.sha256(record.value or b"").hexdigest() != expected:
                        return None, f"the record at offset {offset} is not the one dead-lettered (sha256 differs)"
                    return record, ""
    finally:
        await consumer.stop()


def _service_db(service: str) -> str:
    from shared.events.topics import SERVICES

    if service not in SERVICES:
        _fail(f"unknown service {service!r}; one of: {', '.join(SERVICES)}")
    return _env(f"{service.upper()}_DATABASE_URL")


_QUARANTINED = """SELECT id, topic, partition, "offset", reason, key, headers, value, publish_error, quarantined_at
                  FROM dead_letter_quarantine WHERE $1::bigint IS NULL OR id = $1 ORDER BY id"""


@quarantine_app.command("list")
def quarantine_list(service: str = typer.Argument(..., help="activities, enrolment, scoring or notify")) -> None:
    """Dead letters the service could not publish, with Kafka's refusal / 列出未能发布的死信."""

    async def rows() -> list:
        import asyncpg

        conn = await asyncpg.connect(_service_db(service))
        try:
            return await conn.fetch(_QUARANTINED, None)
        finally:
            await conn.close()

    found = asyncio.run(rows())
    table = Table(title=f"{service}: {len(found)} quarantined dead letters / 条隔离死信")
    for column in ("id", "record", "reason", "body bytes", "refused by Kafka", "at"):
        table.add_column(column)
    for r in found:
        record = f"{r['topic']}[{r['partition']}]@{r['offset']}"
        size = str(len(r["value"] or b""))
        table.add_row(str(r["id"]), record, r["reason"], size, r["publish_error"][:80], r["quarantined_at"].isoformat())
    console.print(table)


@quarantine_app.command("replay")
def quarantine_replay(
    service: str = typer.Argument(..., help="activities, enrolment, scoring or notify"),
    id: int = typer.Option(None, "--id", help="only this quarantined dead letter"),
) -> None:
    """Publish quarantined dead letters to their DLQ topic once the cause is fixed / 修复后发布隔离的死信.

    A row is deleted only after Kafka acknowledged its dead letter."""

    async def replay() -> tuple[int, int]:
        import asyncpg
        import orjson
        from aiokafka import AIOKafkaProducer

        from shared.bus.dead_letters import fit

        conn = await asyncpg.connect(_service_db(service))
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **_kafka_kwargs())
        await producer.start()
        done = failed = 0
        try:
            for r in await conn.fetch(_QUARANTINED, id):
                letter = fit(r["topic"], r["key"], orjson.loads(r["headers"]), r["value"])
                headers = [(k, v.encode()) for k, v in letter.headers.items()]
                try:
                    await producer.send_and_wait(letter.topic, letter.body, key=letter.key, headers=headers)
                except Exception as error:
                    failed += 1
                    err.print(f"[red]still refused:[/] {r['id']} {letter.topic}: {error!r}")
                    continue
                await conn.execute("DELETE FROM dead_letter_quarantine WHERE id = $1", r["id"])
                done += 1
        finally:
            await producer.stop()
            await conn.close()
        return done, failed

    done, failed = asyncio.run(replay())
    console.print(f"published {done} quarantined dead letters / 已发布 {done} 条; still quarantined {failed}")
    if failed:
        raise typer.Exit(1)


# --- privacy ---------------------------------------------------------------------------------------

PRIVACY_SERVICES = ("activities", "enrolment", "scoring", "notify")
_DEFAULT_PORTS = {"activities": 8101, "enrolment": 8102, "scoring": 8103, "notify": 8104}


def _service_url(service: str) -> str:
    host = setting(f"{service.upper()}_HTTP_HOST") or "127.0.0.1"
    port = setting(f"{service.upper()}_HTTP_PORT")
    return f"http://{host}:{port or _DEFAULT_PORTS[service]}"


def _operator_bearer(given: str | None, subject: str) -> str:
    if given:
        return given
    if setting("LS_OIDC_ISSUER"):
        _fail("the services take tokens of an identity provider (LS_OIDC_ISSUER): pass --token or set LS_TOKEN")
    return mint_token(_env("LS_JWT_SECRET"), subject=subject, role="operator", ttl_s=600)


@privacy_app.command("export")
def privacy_export(
    resident_id: str = typer.Argument(..., help="the resident's id (card number)"),
    out: Path = typer.Option(None, "--out", "-o", help="file to write; default resident-<id>-export.json"),
    purpose: str = typer.Option(
        "resident's request for a copy of their data", help="recorded in each service's access log"
    ),
    token: str = typer.Option(None, envvar="LS_TOKEN", help="operator bearer token (default: minted locally)"),
    operator: str = typer.Option(os.environ.get("USER", "operator"), help="who asks, recorded as the actor"),
) -> None:
    """Everything the four services hold about a resident, in one JSON file / 导出居民的全部个人信息.

    Each service records the export in its access log with --purpose. The file holds personal
    data: it is written readable by its owner only, and nothing is written if a service fails."""
    from urllib.parse import quote

    import httpx
    import orjson
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bearer = _operator_bearer(token, operator)
    headers = {"Authorization": f"Bearer {bearer}", "X-Access-Purpose": quote(purpose, safe=" /:,.;()-")}
    exports: dict[str, object] = {}
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("services", total=len(PRIVACY_SERVICES))
        with httpx.Client(headers=headers, timeout=60.0) as http:
            for service in PRIVACY_SERVICES:
                progress.update(task, description=service)
                url = f"{_service_url(service)}/v1/residents/{resident_id}/data-export"
                try:
                    r = http.get(url)
                except httpx.HTTPError as e:
                    _fail(f"{service}: {e}; nothing written")
                if r.status_code != 200:
                    _fail(f"{service}: HTTP {r.status_code} {r.text[:300]}; nothing written")
                exports[service] = r.json()
                progress.advance(task)
    document = {
        "resident_id": resident_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "purpose": purpose,
        "services": exports,
    }
    path = out or Path(f"resident-{resident_id}-export.json")
    # created owner-only, never readable by others even for a moment
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    rows = sum(len(v) for e in exports.values() for v in e.get("tables", {}).values())  # type: ignore[union-attr]
    console.print(f"wrote {path}: {rows} rows from {len(exports)} services / 已导出")


@privacy_app.command("find-in-topics")
def privacy_find_in_topics(
    resident_id: str = typer.Argument(..., help="the resident's id (card number)"),
    phone: str = typer.Option(None, help="their phone number, searched for too"),
    email: str = typer.Option(None, help="their e-mail address, searched for too"),
    as_json: bool = typer.Option(False, "--json", help="one JSON document on stdout instead of the table"),
) -> None:
    """Read every topic of the street from its beginning and count the records holding the
    resident's card number, phone or e-mail / 全量读取各主题，查找居民信息.

    The check after an erasure (ADR 10): what Kafka still holds, topic by topic, in keys, values
    and headers. Needs the Kafka admin principal (KAFKA_ADMIN_USERNAME / _PASSWORD)."""
    import orjson
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from shared import privacy_topics
    from shared.events.topics import all_topic_specs

    try:
        needles = privacy_topics.needles_of(resident_id, phone, email)
    except ValueError as error:
        _one_line(str(error))
    topics = [spec.name for spec in all_topic_specs()]
    columns = (TextColumn("reading topics"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("read", total=None)
        try:
            findings = asyncio.run(privacy_topics.read_topics(
                _kafka_kwargs(), topics, needles,
                on_start=lambda total: progress.update(task, total=total),
                on_progress=lambda done: progress.update(task, completed=done),
            ))  # fmt: skip
        except privacy_topics.ReadStalled as error:
            _one_line(str(error))
    if as_json:
        print(orjson.dumps(privacy_topics.as_json(findings)).decode())
        return
    table = privacy_topics.findings_table(findings, list(needles))
    console.print(table)
    held = privacy_topics.topics_holding(findings, list(needles))
    console.print(f"topics holding the resident / 仍含该居民信息的主题: {', '.join(held) or 'none / 无'}")


# --- report ----------------------------------------------------------------------------------------


@app.command()
def report(
    period: str = typer.Option(..., help="the year reported, e.g. 2026"),
    community: str = typer.Option(None, help="one community's report (its id); default: the street's"),
    lang: str = typer.Option("zh-CN", help="zh-CN or en"),
    pdf: bool = typer.Option(False, "--pdf", help="also a PDF beside the HTML (headless Chromium's print-to-PDF)"),
    out: Path = typer.Option(None, "--out", "-o", help="the HTML file; default .local/reports/self-assessment-…"),
    token: str = typer.Option(None, envvar="LS_TOKEN", help="operator bearer token (default: minted locally)"),
    operator: str = typer.Option(os.environ.get("USER", "operator"), help="who asks, the token's subject"),
    district: bool = typer.Option(False, "--district", help="the district report: every street's published index"),
    district_url: str = typer.Option(
        None,
        envvar="LS_DISTRICT_URL",
        help="the district instance of scoring (SCORING_DISTRICT_STREETS; `make up STREETS=…` runs it on "
        "scoring's port + 100); default: scoring's address",
    ),
) -> None:
    """The self-assessment report (自评报告) from the running services, as HTML (and PDF) / 生成自评报告.

    Names instead of codes, Beijing time, each value with its denominator, self and expert
    assessments with their evidence, rectification tasks, honours with their selection record.
    With --district: each street's published index side by side and its communities (ADR 0022)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from shared.report import command, fetch, model

    try:
        model.parse_period(period)
        model.parse_language(lang)
    except ValueError as error:
        _one_line(str(error))
    bearer = _operator_bearer(token, operator)
    if district:
        from shared.report import district as district_report

        try:
            path = district_report.write_district_report(
                district_url or _service_url("scoring"), bearer, period=period, lang=lang, out=out
            )
        except fetch.ReportError as error:
            _one_line(str(error))
        console.print(f"wrote {path} / 已生成区级报告", soft_wrap=True)
        return
    endpoints = fetch.Endpoints(scoring=_service_url("scoring"), activities=_service_url("activities"))
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} requests"))
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("report", total=None)

            def step(what: str) -> None:
                progress.update(task, description=what[:70], advance=1)

            written = command.write_report(endpoints, bearer, period=period, community=community, lang=lang, pdf=pdf,
                                           out=out, reference_dir=setting("LS_REFERENCE_DIR"), step=step)  # fmt: skip
    except fetch.ReportError as error:
        _one_line(str(error))
    also = f" and {written.pdf}" if written.pdf else ""
    console.print(f"wrote {written.html}{also} / 已生成自评报告", soft_wrap=True)


def _one_line(message: str) -> None:
    # plain: rich would wrap it at 80 columns when stderr is not a terminal
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


# Erasure lives in its own module (ADR 10); its command joins `learnstreet privacy` here.
from shared import privacy_cli  # noqa: E402

privacy_app.command("erase")(privacy_cli.privacy_erase)

# Outbox rows the relay moved aside (shared/bus/relay.py): `learnstreet outbox quarantine ...`.
from shared.outbox_cli import outbox_app  # noqa: E402

app.add_typer(outbox_app, name="outbox")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        from aiokafka.errors import KafkaConnectionError

        if not isinstance(error, KafkaConnectionError):
            raise
        # where it tried, and from which setting: a wrong KAFKA_BOOTSTRAP is the usual cause
        bootstrap = setting("KAFKA_BOOTSTRAP") or "127.0.0.1:19092"
        print(f"error: cannot reach Kafka at {bootstrap} (KAFKA_BOOTSTRAP): {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
