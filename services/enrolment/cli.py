"""`python -m services.enrolment rebuild-passports`: replay activities.attendance and
scoring.honours into fresh passport tables, compare them with the live ones, optionally swap.

The steps are shared/rebuild.py's (shadow schema, replay by manual assignment up to the offsets
the live consumer stored in `passport_offsets`, then compare and swap under the passport lock).
The passport tables are compared row by row, both ways; they are swapped in only when equal.
Prints `REBUILD-PASSPORTS equal=<bool> swapped=<bool> records=<n>`; exit 0 when equal, 1 when not,
3 when another rebuild runs, 4 (one line) when a topic no longer holds its first records.
`checkpoint-passports` copies the passport tables with their offsets into `passport_checkpoint`;
`rebuild-passports --from-checkpoint` starts from it and replays only what came after (ADR 0010).

`python -m services.enrolment rotate-credential-key` adds a signing key for verifiable honours
(docs/decisions/0012-open-badges.md) and prints `ROTATE-CREDENTIAL-KEY kid=<kid>`.
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import typer
from rich.console import Console

from services.enrolment.adapters import passport as repository
from services.enrolment.config import EnrolmentSettings, settings
from services.enrolment.entrypoints.consumers import PASSPORT_TOPICS, rebuild_dispatcher
from services.enrolment.service_layer.passport import PassportProjector, check_event
from shared.rebuild import (
    Comparison,
    HistoryMissing,
    NoCheckpoint,
    Projection,
    Rebuild,
    RebuildBusy,
    Result,
    checkpoint_command,
)

app = typer.Typer(add_completion=False, help="learnstreet enrolment: operator commands.")
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Operator commands of the enrolment service."""


@app.command("rebuild-passports")
def rebuild_passports(
    swap: bool = typer.Option(False, help="Swap the rebuilt tables in (else: build and compare only)."),
    batch_size: int = typer.Option(5000, min=100, help="Records per transaction."),
    from_checkpoint: bool = typer.Option(
        False, "--from-checkpoint", help="Start from the last checkpoint and replay only what came after it."
    ),
) -> None:
    """Replay the topics (all, or after the checkpoint) into shadow passport tables and compare
    them with the live ones."""
    try:
        result = asyncio.run(run_rebuild(settings(), swap=swap, batch_size=batch_size, from_checkpoint=from_checkpoint))
    except RebuildBusy:
        console.print("another passport rebuild is running; try again when it has finished")
        raise typer.Exit(3) from None
    except (HistoryMissing, NoCheckpoint) as e:  # the passports would be rebuilt short, or from nothing
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(4) from None
    rows = result.comparison.details
    console.print(
        f"replayed {result.records} records ({result.dead_letters} dead letters) in {result.seconds:.1f} s; "
        f"rows live {rows['live_rows']} rebuilt {rows['rebuilt_rows']}"
    )
    for line in result.comparison.differences:
        console.print(f"  {line}")
    print(f"REBUILD-PASSPORTS equal={result.equal} swapped={result.swapped} records={result.records}")
    sys.exit(0 if result.equal else 1)


# The replay's projector: its erasures are applied again after the replay (see PassportProjector).
_replay = PassportProjector()


def _replay_dispatcher(uow_factory):
    return rebuild_dispatcher(uow_factory, _replay)


async def _compare(live: asyncpg.Connection, shadow: asyncpg.Connection, schema: str) -> Comparison:
    if _replay.erased:
        await repository.erase_passports(shadow, _replay.erased)
    by_table = await repository.differences(live, "public", schema)
    rows = {
        "live_rows": await repository.row_counts(live, "public"),
        "rebuilt_rows": await repository.row_counts(live, schema),
    }
    return Comparison([f"{table} {line}" for table, lines in by_table.items() for line in lines], rows)


PASSPORTS = Projection(
    name="passport", topics=PASSPORT_TOPICS, tables=repository.PROJECTION_TABLES, lock=repository.PASSPORT_LOCK,
    rebuild_lock=repository.REBUILD_LOCK, stored_offsets=repository.stored_offsets, dispatcher=_replay_dispatcher,
    check=check_event, compare=_compare, swap_when_different=False, checkpoint_lock=repository.CHECKPOINT_LOCK,
)  # fmt: skip


async def run_rebuild(s: EnrolmentSettings, *, swap: bool, batch_size: int, from_checkpoint: bool = False) -> Result:
    return await Rebuild(PASSPORTS).run(
        dsn=s.database_url.get_secret_value(), kafka_kwargs=s.kafka_client_kwargs(), swap=swap,
        batch_size=batch_size, console=console, from_checkpoint=from_checkpoint,
    )  # fmt: skip


@app.command("checkpoint-passports")
def checkpoint_passports() -> None:
    """Copy the passport tables with their offsets into the passport_checkpoint schema, from which
    `rebuild-passports --from-checkpoint` starts (ADR 0010)."""
    checkpoint_command(
        repository.CHECKPOINTED, settings().database_url.get_secret_value(), console,
        busy="a passport rebuild or another checkpoint is running; try again when it has finished",
    )  # fmt: skip


@app.command("rotate-credential-key")
def rotate_credential_key() -> None:
    """Add a new signing key for verifiable honours: it signs from now on; the older keys stay in
    the published key set, so credentials they signed keep verifying."""
    print(f"ROTATE-CREDENTIAL-KEY kid={asyncio.run(_rotate(settings()))}")


async def _rotate(s: EnrolmentSettings) -> str:
    from services.enrolment.adapters import credentials as keys
    from services.enrolment.bootstrap import credential_deps

    conn = await asyncpg.connect(s.database_url.get_secret_value())
    try:
        return await keys.add_key(conn, credential_deps(s).key_passphrase)
    finally:
        await conn.close()
