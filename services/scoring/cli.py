"""`python -m services.scoring rebuild`: replay the topics into fresh tables and swap them in.

The steps are shared/rebuild.py's (shadow schema, replay by manual assignment up to the offsets the
live service stored in `consumer_offsets`, then compare and swap under the projection lock). The index
is compared by computing it on both sets of tables; the rebuilt tables are swapped in even when they
differ, since a rebuild is how an operator repairs the live index.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from typing import Any

import asyncpg
import typer
from rich.console import Console

from services.scoring.adapters import privacy, repository
from services.scoring.bootstrap import build_engine
from services.scoring.config import ScoringSettings, settings
from services.scoring.entrypoints.consumers import TOPICS, rebuild_dispatcher
from services.scoring.service_layer.attendance import check_attendance
from services.scoring.service_layer.handlers import ReplayedErasures
from shared.db.erasure import ErasedCards
from shared.events.envelope import utcnow
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

app = typer.Typer(add_completion=False, help="learnstreet scoring: operator commands.")
console = Console(stderr=True)


@app.callback()
def main() -> None:
    """Operator commands of the scoring service."""


@app.command()
def rebuild(
    swap: bool = typer.Option(True, help="Swap the rebuilt tables in (else: build and compare only)."),
    batch_size: int = typer.Option(5000, min=100, help="Records per transaction."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    from_checkpoint: bool = typer.Option(
        False, "--from-checkpoint", help="Start from the last checkpoint and replay only what came after it."
    ),
) -> None:
    """Replay the topics from the beginning (or from the checkpoint) into shadow tables, compare
    with the live index, swap."""
    try:
        result = asyncio.run(run_rebuild(settings(), swap=swap, batch_size=batch_size, progress=not quiet,
                                         from_checkpoint=from_checkpoint))  # fmt: skip
    except RebuildBusy:
        console.print("another rebuild is running; try again when it has finished")
        raise typer.Exit(3) from None
    except (HistoryMissing, NoCheckpoint) as e:  # the index would be rebuilt short, or from nothing
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(4) from None
    console.print(
        f"replayed {result.records} records in {result.seconds:.1f} s "
        f"({result.rate:.0f} records/s); index equal to live: {result.equal}; swapped: {result.swapped}"
    )
    for line in result.comparison.differences[:20]:
        console.print(f"  differs: {line}")
    print(f"REBUILD equal={result.equal} swapped={result.swapped} records={result.records}")
    sys.exit(0 if result.equal else 1)


@app.command()
def checkpoint() -> None:
    """Copy the index's projection tables with their offsets into the scoring_checkpoint schema,
    from which `rebuild --from-checkpoint` starts (ADR 0010): the rebuild then needs only the
    records after it."""
    checkpoint_command(
        repository.CHECKPOINTED, settings().database_url.get_secret_value(), console,
        busy="a rebuild or another checkpoint is running; try again when it has finished",
    )  # fmt: skip


def index_projection(s: ScoringSettings) -> Projection:
    engine = build_engine(s)
    erasures = ReplayedErasures()

    async def compare(live: asyncpg.Connection, shadow: asyncpg.Connection, _schema: str) -> Comparison:
        # the replay is complete (the rebuild holds the projection lock): its erasures now
        await privacy.erase_projected(shadow, erasures.residents)
        now = utcnow()
        return Comparison(_differences(await engine.compute(live, now), await engine.compute(shadow, now)))

    return Projection(
        name="scoring", topics=TOPICS, tables=repository.PROJECTION_TABLES, lock=repository.PROJECTION_LOCK,
        rebuild_lock=repository.REBUILD_LOCK, stored_offsets=repository.stored_offsets,
        dispatcher=functools.partial(
            rebuild_dispatcher, periods=engine.indicators.periods,
            erased_cards=ErasedCards.for_service(s.jwt_secret.get_secret_value(), "scoring"), erasures=erasures,
        ),
        check=check_attendance, compare=compare, swap_when_different=True, checkpoint_lock=repository.CHECKPOINT_LOCK,
    )  # fmt: skip


def _differences(live: dict[str, Any], rebuilt: dict[str, Any]) -> list[str]:
    out = []
    for community, view in live.items():
        other = rebuilt.get(community)
        for aspect, other_aspect in zip(view["aspects"], other["aspects"], strict=True):
            for leaf, other_leaf in zip(aspect["indicators"], other_aspect["indicators"], strict=True):
                a = (leaf.get("numerator"), leaf.get("denominator"), leaf["score"])
                b = (other_leaf.get("numerator"), other_leaf.get("denominator"), other_leaf["score"])
                if a != b:
                    out.append(f"{community} {leaf['id']}: live {a} rebuilt {b}")
    return out


async def run_rebuild(
    s: ScoringSettings, *, swap: bool, batch_size: int, progress: bool, from_checkpoint: bool = False
) -> Result:
    return await Rebuild(index_projection(s)).run(
        dsn=s.database_url.get_secret_value(), kafka_kwargs=s.kafka_client_kwargs(), swap=swap,
        batch_size=batch_size, console=console, progress=progress, from_checkpoint=from_checkpoint,
    )  # fmt: skip
