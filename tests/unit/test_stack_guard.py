"""The guard before each integration module (tests/integration/conftest.py): a stack that answers
is left alone; one that does not is started again; one that stays broken ends the run with the
reason instead of letting every later test wait out its timeout (CI stop 23)."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration import conftest as guard


class Starts:
    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, argv, **_kwargs):
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, "up in 3.0s\n", "")


def problems_in_turn(monkeypatch, *answers: list[str]) -> None:
    answers_left = list(answers)
    monkeypatch.setattr(guard, "stack_problems", lambda _patience: answers_left.pop(0))


def test_a_stack_that_answers_is_left_alone(monkeypatch):
    starts = Starts()
    monkeypatch.setattr(guard.subprocess, "run", starts)
    problems_in_turn(monkeypatch, [])
    guard.mend_or_stop("tests/x.py")
    assert starts.calls == []


def test_a_stack_that_does_not_answer_is_started_again_as_make_test_records_it(monkeypatch):
    starts = Starts()
    monkeypatch.setattr(guard.subprocess, "run", starts)
    problems_in_turn(monkeypatch, ["notify does not answer /readyz (ConnectError)"], [])
    guard.mend_or_stop("tests/x.py")
    [argv] = starts.calls
    assert argv[1:4] == ["deploy/local/stack.py", "up", "--record"]
    assert argv[4].endswith(".local/run/test-started")


def test_a_stack_that_stays_broken_ends_the_run_naming_the_problem(monkeypatch):
    monkeypatch.setattr(guard.subprocess, "run", Starts())
    broken = ["Kafka refuses an authenticated admin call (KafkaConnectionError: ...)"]
    problems_in_turn(monkeypatch, broken, broken)
    with pytest.raises(pytest.exit.Exception) as stopped:
        guard.mend_or_stop("tests/integration/scoring/test_x.py")
    assert stopped.value.returncode == 3
    assert "Kafka refuses an authenticated admin call" in stopped.value.msg
    assert "before tests/integration/scoring/test_x.py" in stopped.value.msg


def test_a_failed_start_ends_the_run_without_asking_again(monkeypatch):
    monkeypatch.setattr(guard.subprocess, "run", Starts(returncode=1))
    problems_in_turn(monkeypatch, ["scoring answers /readyz with 503"])  # asked once only
    with pytest.raises(pytest.exit.Exception) as stopped:
        guard.mend_or_stop("tests/x.py")
    assert "scoring answers /readyz with 503" in stopped.value.msg
