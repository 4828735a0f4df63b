"""Kafka for the harness: the two kiosk clients (aiokafka, kcat), reading topics, measuring lag.

Both clients write through the catalogue's shared `kiosk` principal (Write and Describe on
kiosk.checkins only): each stands for a fleet of kiosks behind one producer that survives broker
restarts and kills, which is what the harness tests. Kiosks with a Kafka principal each are the
demo's (deploy/demo/simulate.py) and tests/integration/activities/test_kiosk_principals.py's.
What binds a scan to its kiosk is its signature: the aiokafka client signs for the signing kiosks
(`KioskSigner`, chaos/plan.py SIGNING_CLIENT)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from chaos.plan import MALFORMED, Checkin
from shared.events import topics as catalogue
from shared.events.catalogue import KioskCheckin
from shared.kiosk_signing import sign
from shared.local_env import kafka_client_kwargs

CHECKINS = catalogue.KIOSK_CHECKINS.name


def auth(env: dict[str, str], principal: str) -> dict[str, Any]:
    return kafka_client_kwargs(principal, env)


class KioskSigner:
    """The contract-v2 headers of a planned scan of one of `kiosks` (their local keys,
    deploy/local/kiosk_principals.signing_key); none for a malformed record or another kiosk.
    Ed25519 signatures are deterministic: a retry carries the same bytes and headers."""

    def __init__(self, kiosks: Iterable[str]) -> None:
        from deploy.local import kiosk_principals

        self.keys = {k: kiosk_principals.signing_key(k) for k in kiosks}
        self._signed: dict[int, list[tuple[str, bytes]]] = {}

    def __call__(self, c: Checkin) -> list[tuple[str, bytes]]:
        if c.kind == MALFORMED or c.value is None:
            return []
        found = self._signed.get(c.seq)
        if found is None:
            body = orjson.loads(c.value)
            key = self.keys.get(body.get("kiosk_id"))
            signed = sign(key, KioskCheckin.model_validate(body)) if key is not None else {}
            found = self._signed[c.seq] = [(k, v.encode()) for k, v in signed.items()]
        return found


class AiokafkaKiosk:
    """The kiosk principal through aiokafka. A send counts only once its future resolved; one that
    failed is sent again, the same bytes (same `checkin_id`), until Kafka acknowledges it, as a real
    kiosk keeps a scan in its local queue until the broker took it. After an error the idempotent
    producer cannot recover from (its sequence numbers are lost with a restarted broker), the
    producer is replaced before the next retry."""

    RETRY_DELAY_S = 1.0
    # A send neither acknowledged nor failed this long after it was made is given up on and sent
    # again through a new producer: after a broker that led every partition was killed, aiokafka's
    # producer kept batches for it "not ready" without failing them, and a scan waited for ever
    # (CI-style run of 2026-12-06: 118 of 3,000 unacknowledged after 10 minutes). A real kiosk
    # times out and reconnects. Two request timeouts.
    STUCK_AFTER_S = 60.0
    # Stopping a producer stuck that way may never return either.
    STOP_TIMEOUT_S = 10.0

    def __init__(
        self,
        env: dict[str, str],
        run_id: str,
        on_ack: Callable[[Checkin, int, int], None],
        signer: Callable[[Checkin], list[tuple[str, bytes]]] | None = None,
    ) -> None:
        self.env = env
        self.signer = signer
        self.producer = self._producer()
        self.run_id = run_id.encode()
        self.on_ack = on_ack
        self.failures = 0  # sends that failed (each is retried)
        self.retries = 0
        self.replaced = 0  # producers replaced after an error they cannot recover from
        self.pending: set[asyncio.Future] = set()
        self.sent_at: dict[asyncio.Future, tuple[float, Checkin]] = {}
        self.given_up = 0  # sends neither acknowledged nor failed after STUCK_AFTER_S
        self.unacked: dict[int, Checkin] = {}  # seq -> scan not acknowledged yet (in flight or failed)
        self.failed: asyncio.Queue[Checkin] = asyncio.Queue()
        self._retrier: asyncio.Task | None = None
        self._broken = False

    def _producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **auth(self.env, "kiosk"),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            max_request_size=1024 * 1024,
            request_timeout_ms=30_000,
        )

    async def start(self) -> None:
        await self.producer.start()
        self._retrier = asyncio.create_task(self._retry_failed())

    async def send(self, c: Checkin) -> None:
        self.unacked[c.seq] = c
        headers = [("chaos_run", self.run_id), ("chaos_seq", str(c.seq).encode())]
        if self.signer is not None:
            headers += self.signer(c)
        try:
            fut = await self.producer.send(CHECKINS, c.value, key=c.key, headers=headers)
        except Exception as error:
            self._failed(c, error)
            return

        def done(f: asyncio.Future, c: Checkin = c) -> None:
            self.pending.discard(f)
            self.sent_at.pop(f, None)
            if f.cancelled():
                self._failed(c, None)
            elif f.exception() is not None:
                self._failed(c, f.exception())
            elif c.seq in self.unacked:
                meta = f.result()
                del self.unacked[c.seq]
                self.on_ack(c, meta.partition, meta.offset)

        self.pending.add(fut)
        self.sent_at[fut] = (asyncio.get_running_loop().time(), c)
        fut.add_done_callback(done)

    def give_up_stuck(self) -> int:
        """Sends older than STUCK_AFTER_S still unresolved: failed (sent again by the retrier through
        a new producer). If the old send resolves later, the scan is acknowledged twice: the
        platform takes the second copy as a kiosk retry (same checkin_id)."""
        now = asyncio.get_running_loop().time()
        stuck = [(f, c) for f, (at, c) in self.sent_at.items() if now - at > self.STUCK_AFTER_S]
        for f, c in stuck:
            self.pending.discard(f)
            del self.sent_at[f]
            if c.seq in self.unacked:
                self.given_up += 1
                self._failed(c, TimeoutError(f"no answer for {self.STUCK_AFTER_S:.0f} s"))
        return len(stuck)

    def _failed(self, c: Checkin, error: BaseException | None) -> None:
        self.failures += 1
        # Any failure: the next retry goes through a new producer (cheap, and an idempotent
        # producer's lost sequence state after a broker restart shows as timeouts, not as one error).
        self._broken = True
        self.failed.put_nowait(c)

    async def _retry_failed(self) -> None:
        while True:
            c = await self.failed.get()
            await asyncio.sleep(self.RETRY_DELAY_S)
            if self._broken:
                self._broken = False
                await self._replace_producer()
            if c.seq in self.unacked:
                self.retries += 1
                await self.send(c)

    async def _replace_producer(self) -> None:
        old, self.producer = self.producer, self._producer()
        self.replaced += 1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), self.STOP_TIMEOUT_S)
        while True:
            try:
                await self.producer.start()
                return
            except Exception:  # the broker is still down: a kiosk keeps trying
                with contextlib.suppress(Exception):
                    await self.producer.stop()
                self.producer = self._producer()
                await asyncio.sleep(self.RETRY_DELAY_S)

    async def flush(self, timeout_s: float = 600.0) -> None:
        """Until every scan sent is acknowledged (retries included), or `timeout_s`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        wait_s = min(5.0, self.STUCK_AFTER_S / 2)  # look for stuck sends at least this often
        while self.unacked and asyncio.get_running_loop().time() < deadline:
            self.give_up_stuck()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.flush(), wait_s)
            if self.pending:
                await asyncio.wait(list(self.pending), timeout=wait_s)
            else:
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._retrier is not None:
            self._retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrier
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.stop(), self.STOP_TIMEOUT_S)


def newer_librdkafka(into: Path) -> Path:
    """A folder with a librdkafka.so.1 that speaks Kafka 4's SASL: the one bundled in the
    confluent-kafka wheel. Debian 12's librdkafka 2.0.2 fails SCRAM against Kafka >= 4.0
    (edenhill/kcat#462, fixed in librdkafka 2.6.1); kcat's ABI is stable across 2.x."""
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so.1"))
    if not found:
        raise RuntimeError(f"no bundled librdkafka in {libs}")
    lib = into / "lib"
    lib.mkdir(exist_ok=True)
    link = lib / "librdkafka.so.1"
    link.unlink(missing_ok=True)
    link.symlink_to(found[0])
    return lib


class KcatKiosk:
    """The kiosk principal through kcat (librdkafka), idempotent with acks=all.

    kcat prints no per-message delivery report, so a chunk counts as acknowledged only when kcat
    exits 0 and reported no failed delivery; a failed chunk counts as sent, not acknowledged.
    `-E`: a broker that is down for a while is waited for (message.timeout.ms), not given up on."""

    def __init__(self, env: dict[str, str], run_id: str) -> None:
        if shutil.which("kcat") is None:
            raise RuntimeError("kcat is not installed (Debian package kcat; `make setup` installs it)")
        self.dir = Path(tempfile.mkdtemp(prefix="chaos-kcat-"))
        os.chmod(self.dir, 0o700)
        a = auth(env, "kiosk")
        conf = self.dir / "kiosk.conf"  # a file, not argv: argv is world-readable in /proc
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                f"bootstrap.servers={a['bootstrap_servers']}\nsecurity.protocol=SASL_PLAINTEXT\n"
                f"sasl.mechanisms=SCRAM-SHA-512\nsasl.username={a['sasl_plain_username']}\n"
                f"sasl.password={a['sasl_plain_password']}\nenable.idempotence=true\nacks=all\n"
                "message.timeout.ms=120000\nlinger.ms=5\n"
            )
        self.conf = conf
        self.env = {**os.environ, "LD_LIBRARY_PATH": str(newer_librdkafka(self.dir))}
        self.run_id = run_id
        self.chunks = 0
        self.failed_chunks = 0
        self.last_error = ""

    async def send_chunk(self, chunk: list[Checkin]) -> bool:
        self.chunks += 1
        path = self.dir / f"chunk-{self.chunks}.tsv"
        # key TAB value, one a line: JSON from orjson has no raw tab or newline
        path.write_bytes(b"".join((c.key or b"") + b"\t" + (c.value or b"") + b"\n" for c in chunk))
        proc = await asyncio.create_subprocess_exec(
            "kcat", "-P", "-E", "-F", str(self.conf), "-t", CHECKINS, "-K", "\t", "-l", str(path),
            "-H", f"chaos_run={self.run_id}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )  # fmt: skip
        _, err = await proc.communicate()
        path.unlink(missing_ok=True)
        text = err.decode(errors="replace")
        # with -E, connection errors while the broker is down are printed and retried; what counts
        # is the exit status (1 after any failed delivery) and the delivery failures themselves
        ok = proc.returncode == 0 and "delivery failed" not in text.lower()
        if not ok:
            self.failed_chunks += 1
            self.last_error = text.strip()[-300:]
        return ok

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- reading and lag
async def end_offsets(env: dict[str, str], topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**auth(env, "admin"), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def read_range(
    env: dict[str, str], start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> list[ConsumerRecord]:
    """Every record of the given partitions in [start, end) (admin principal, no group)."""
    todo = {tp: e for tp, e in end.items() if e > start.get(tp, 0)}
    if not todo:
        return []
    consumer = AIOKafkaConsumer(
        **auth(env, "admin"), group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, start.get(tp, 0))
        remaining = set(todo)
        idle = 0
        while remaining and idle < 300:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for r in records:
                    if r.offset < todo[tp]:
                        out.append(r)
                if tp in remaining and await consumer.position(tp) >= todo[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
        if remaining:
            raise RuntimeError(f"could not read {sorted(str(t) for t in remaining)} to their end")
        return out
    finally:
        await consumer.stop()


async def partition_leaders(env: dict[str, str], topic: str) -> dict[int, int]:
    """partition -> node id of its leader, from fresh cluster metadata."""
    consumer = AIOKafkaConsumer(**auth(env, "admin"), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        cluster = consumer._client.cluster
        return {p: cluster.leader_for_partition(TopicPartition(topic, p)) for p in cluster.partitions_for_topic(topic)}
    finally:
        await consumer.stop()


SERVICE_GROUPS = tuple(catalogue.group_id(s) for s in catalogue.SERVICES)


async def consumer_lag(env: dict[str, str]) -> dict[str, int]:
    """Lag per learnstreet.* group: end offsets minus committed offsets, per partition it committed.

    aiokafka 0.14 cannot decode Kafka 4.1's DescribeGroups answer, so membership is not known:
    the caller gates on the four service groups and reports the others (rebuilds, tests)."""
    admin = AIOKafkaAdminClient(**auth(env, "admin"), request_timeout_ms=15_000)
    await admin.start()
    try:
        groups = sorted({g[0] for g in await admin.list_consumer_groups() if g[0].startswith("learnstreet.")})
        lags: dict[str, int] = {}
        for g in groups:
            committed = await admin.list_consumer_group_offsets(g)
            topics = {tp.topic for tp in committed}
            if not topics:
                lags[g] = 0
                continue
            ends = await end_offsets(env, topics)
            lag = 0
            for tp, end in ends.items():
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(0, end - done)
            lags[g] = lag
        return lags
    finally:
        await admin.close()
