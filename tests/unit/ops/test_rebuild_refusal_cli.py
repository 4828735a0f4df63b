"""Both rebuild commands end in one line and exit 4 when a topic no longer holds its first records
(shared/rebuild.py HistoryMissing), instead of a traceback or a rebuild from part of the history."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.enrolment import cli as enrolment_cli
from services.scoring import cli as scoring_cli
from shared import rebuild
from shared.rebuild import HistoryMissing, NoCheckpoint, RebuildBusy

CASES = [(enrolment_cli, "rebuild-passports"), (scoring_cli, "rebuild")]


@pytest.mark.parametrize(("cli", "command"), CASES, ids=["enrolment", "scoring"])
def test_a_topic_without_its_first_records_ends_the_rebuild_in_one_line(cli, command, monkeypatch) -> None:
    async def refused(*_args, **_kwargs):
        raise HistoryMissing("activities.attendance partition 2 starts at offset 40: the rebuild needs it from 0")

    monkeypatch.setattr(cli, "settings", lambda: object())
    monkeypatch.setattr(cli, "run_rebuild", refused)
    result = CliRunner().invoke(cli.app, [command])
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "partition 2 starts at offset 40" in lines[0]


def test_a_rebuild_from_a_checkpoint_that_does_not_exist_ends_in_one_line(monkeypatch) -> None:
    async def refused(*_args, **kwargs):
        assert kwargs["from_checkpoint"] is True
        raise NoCheckpoint("the scoring projection has no checkpoint (scoring_checkpoint): take one first")

    monkeypatch.setattr(scoring_cli, "settings", lambda: object())
    monkeypatch.setattr(scoring_cli, "run_rebuild", refused)
    result = CliRunner().invoke(scoring_cli.app, ["rebuild", "--from-checkpoint"])
    assert result.exit_code == 4, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no checkpoint" in lines[0] and "take one first" in lines[0]


@pytest.mark.parametrize(("cli", "command"), [(enrolment_cli, "checkpoint-passports"), (scoring_cli, "checkpoint")],
                         ids=["enrolment", "scoring"])  # fmt: skip
def test_a_checkpoint_beside_a_rebuild_exits_3_saying_so(cli, command, monkeypatch) -> None:
    async def busy(*_args, **_kwargs):
        raise RebuildBusy("projection")

    class Settings:
        database_url = type("Secret", (), {"get_secret_value": lambda self: "postgresql://unused"})()

    monkeypatch.setattr(cli, "settings", lambda: Settings())
    monkeypatch.setattr(rebuild, "take_checkpoint", busy)
    result = CliRunner().invoke(cli.app, [command])
    assert result.exit_code == 3, result.output
    assert "another checkpoint is running; try again" in result.output and "Traceback" not in result.output
