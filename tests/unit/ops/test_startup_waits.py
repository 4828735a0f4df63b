"""Start-up waits of the local stack (deploy/local/waiting.py, used by stack.py for Kafka,
PostgreSQL and the services): they follow the process's progress instead of a fixed limit, and a
failure shows the process's own output and the likely cause.

Driven by a fake clock whose `sleep` advances time and lets the fake process act (write a log
line, use CPU, exit, become ready): nothing here sleeps for real."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer

LOCAL_DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "local"
if str(LOCAL_DEPLOY) not in sys.path:
    sys.path.insert(0, str(LOCAL_DEPLOY))

import stack  # noqa: E402
import topology as topo  # noqa: E402
import waiting  # noqa: E402


class FakeProcess:
    """A process that, at each tick of the fake clock, may write to its log and use CPU."""

    def __init__(self, log: Path, *, writes_every_s: float | None = 5.0, ready_at: float | None = None,
                 exits_at: float | None = None, last_words: str = "") -> None:  # fmt: skip
        self.log, self.writes_every_s = log, writes_every_s
        self.ready_at, self.exits_at, self.last_words = ready_at, exits_at, last_words
        self.now = 0.0
        self.cpu = 0.0
        self._written_at = 0.0

    # the clock
    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.alive() and self.writes_every_s is not None and self.now - self._written_at >= self.writes_every_s:
            self._written_at = self.now
            with self.log.open("a") as f:
                f.write(f"[{self.now:.1f}] starting...\n")
        if self.exits_at is not None and self.now >= self.exits_at and self.last_words:
            with self.log.open("a") as f:
                f.write(self.last_words + "\n")
            self.last_words = ""

    # the process
    def alive(self) -> bool:
        return self.exits_at is None or self.now < self.exits_at

    def ready(self) -> bool:
        return self.ready_at is not None and self.now >= self.ready_at and self.alive()


def wait(p: FakeProcess, logs: list[Path], **kw) -> waiting.Outcome:
    said: list[str] = []
    outcome = waiting.wait_for(
        "the fake", p.ready, alive=p.alive, logs=logs, clock=p.monotonic, sleep=p.sleep, say=said.append, **kw
    )
    outcome.said = said  # type: ignore[attr-defined]
    return outcome


# ------------------------------------------------------------------ the wait itself


def test_a_slow_start_whose_log_moves_is_awaited_past_any_old_fixed_limit(tmp_path):
    p = FakeProcess(tmp_path / "out.log", writes_every_s=20, ready_at=400)
    outcome = wait(p, [p.log])
    assert (outcome.ready, outcome.state) == (True, "ready")
    assert outcome.elapsed_s == pytest.approx(400, abs=1)
    assert any("still waiting for the fake" in line and "log" in line for line in outcome.said)


def test_cpu_use_counts_as_progress_while_the_log_is_silent(tmp_path):
    p = FakeProcess(tmp_path / "out.log", writes_every_s=None, ready_at=300)

    def cpu() -> float:
        p.cpu += 0.1  # a JVM loading classes: busy, writes nothing
        return p.cpu

    assert wait(p, [p.log], cpu=cpu).ready


def test_an_idle_silent_process_is_given_up_after_the_quiet_time_not_before(tmp_path):
    p = FakeProcess(tmp_path / "out.log", writes_every_s=None)
    outcome = wait(p, [p.log], quiet_s=120)
    assert (outcome.ready, outcome.state) == (False, "stalled")
    assert outcome.elapsed_s == pytest.approx(120, abs=1)


def test_a_process_that_exits_is_given_up_at_once(tmp_path):
    p = FakeProcess(tmp_path / "out.log", exits_at=3)
    outcome = wait(p, [p.log])
    assert (outcome.ready, outcome.state) == (False, "exited")
    assert outcome.elapsed_s < 5


def test_a_process_that_looks_gone_for_a_moment_is_looked_at_again(tmp_path):
    """Seen once in CI: Kafka's JVM, just started, read as gone ("exited after 0s", nothing in its
    log) yet ran and was stopped at teardown; the start failed for nothing."""
    p = FakeProcess(tmp_path / "out.log", ready_at=10)
    blinks = iter([False])  # gone at the first look only
    outcome = waiting.wait_for("the fake", p.ready, alive=lambda: next(blinks, True), logs=[p.log],
                               clock=p.monotonic, sleep=p.sleep, say=lambda _: None)  # fmt: skip
    assert (outcome.ready, outcome.state) == (True, "ready")


def test_the_bound_stops_a_start_that_never_finishes(tmp_path):
    p = FakeProcess(tmp_path / "out.log", writes_every_s=1)
    outcome = wait(p, [p.log], bound_s=600)
    assert (outcome.ready, outcome.state) == (False, "timed out")
    assert outcome.elapsed_s == pytest.approx(600, abs=1)


@pytest.mark.parametrize(
    ("last_words", "cause"),
    [
        ("java.net.BindException: Address already in use", "port is taken"),
        ("java.lang.OutOfMemoryError: Java heap space", "not enough memory"),
        ('FATAL:  lock file "postmaster.pid" already exists', "another PostgreSQL"),
        ("ModuleNotFoundError: No module named 'uvloop'", "Python environment"),
        ("org.apache.kafka.common.errors.InconsistentClusterIdException: x", "another Kafka cluster"),
    ],
)
def test_the_report_shows_the_processs_own_output_and_the_likely_cause(tmp_path, last_words, cause):
    p = FakeProcess(tmp_path / "out.log", exits_at=2, last_words=last_words)
    text = waiting.report("the fake", wait(p, [p.log]), [p.log])
    assert text.startswith("the fake: exited after")
    assert last_words in text
    last = text.split("\n")[-1]
    assert last.startswith("likely cause:") and cause in last


def test_the_report_says_when_a_log_was_never_written(tmp_path):
    p = FakeProcess(tmp_path / "out.log", writes_every_s=None)
    never = tmp_path / "server.log"
    text = waiting.report("the fake", wait(p, [p.log, never], quiet_s=60), [p.log, never])
    assert f"{never}: not written" in text
    assert "likely cause: alive but silent and idle for 60s" in text


# ------------------------------------------------------------------ stack.py uses it


@pytest.fixture
def kafka_node(tmp_path) -> topo.Node:
    logs = tmp_path / "logs"
    logs.mkdir()
    return topo.Node(1, 19092, 19093, tmp_path / "data", tmp_path / "server.properties", logs, "kafka")


def drive_stack(monkeypatch, p: FakeProcess, ready: Callable[..., bool]) -> None:
    monkeypatch.setattr(stack, "time", SimpleNamespace(monotonic=p.monotonic, sleep=p.sleep))
    monkeypatch.setattr(stack, "pid_alive", lambda pid, marker="": p.alive())
    monkeypatch.setattr(stack, "node_ready", ready)


def test_kafka_that_takes_200_s_on_a_busy_first_start_is_awaited(monkeypatch, kafka_node):
    p = FakeProcess(kafka_node.logs_dir / "kafkaServer.out", writes_every_s=10, ready_at=200)
    drive_stack(monkeypatch, p, lambda n, creds, pw=None: p.ready())
    stack._node_wait(kafka_node, 4242, {}, None)  # returns: ready
    assert p.now == pytest.approx(200, abs=1)


def test_kafka_that_exits_shows_its_own_output_and_the_likely_cause(monkeypatch, kafka_node, capsys):
    out = kafka_node.logs_dir / "kafkaServer.out"
    p = FakeProcess(out, exits_at=4, last_words="java.net.BindException: Address already in use")
    drive_stack(monkeypatch, p, lambda n, creds, pw=None: False)
    with pytest.raises(typer.Exit):
        stack._node_wait(kafka_node, 4242, {}, None)
    text = " ".join(capsys.readouterr().err.split())
    assert "Kafka node 1 to answer an authenticated metadata call on 127.0.0.1:19092" in text
    assert "exited after" in text and "BindException: Address already in use" in text
    assert "server.log: not written" in text
    assert "likely cause: its port is taken by another process" in text


def test_the_cause_comes_from_the_latest_start_not_an_earlier_one_in_the_same_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("FATAL:  could not create any TCP/IP sockets (Address already in use)\nLOG:  shut down\n")
    p = FakeProcess(log, exits_at=2, last_words='FATAL:  invalid value for parameter "shared_buffers": "lots"')
    text = waiting.report("PostgreSQL", wait(p, [log]), [log])
    assert text.split("\n")[-1] == "likely cause: a configuration error, named in the output above"
