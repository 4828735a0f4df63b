"""`python -m chaos [options]`: the bounded fault test of `make chaos` (see docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json
import sys

import typer
from rich.console import Console

from chaos.runner import Config, print_figures, restore_stack, run_chaos

app = typer.Typer(add_completion=False)


@app.command()
def main(
    checkins: int = typer.Option(100_000, help="kiosk check-ins to send (5% duplicates, 2% late, 1% malformed)"),
    kills_per_service: int = typer.Option(3, help="SIGKILLs of each service"),
    sigterms_per_service: int = typer.Option(1, help="SIGTERMs (graceful stops) of each service"),
    kafka_restarts: int = typer.Option(1, help="controlled restarts of every broker"),
    broker_kills: int = typer.Option(1, help="on a cluster: SIGKILLs of the broker leading kiosk.checkins"),
    pg_terminations: int = typer.Option(1),
    pauses: int = typer.Option(1, help="SIGSTOPs of an instance past its max poll interval, per paused service"),
    pause_targets: str = typer.Option("activities,scoring", help="comma-separated services that get the pauses"),
    replicas: int = typer.Option(None, help="fail at once unless every service runs this many instances"),
    brokers: int = typer.Option(None, help="fail at once unless Kafka runs this many brokers"),
    fault_services: str = typer.Option(
        "activities,enrolment,scoring,notify", help="comma-separated services that get the SIGKILLs and SIGTERMs"
    ),
    max_poll_interval_ms: int = typer.Option(15_000, help="given to the paused service for the run"),
    load_seconds: float = typer.Option(240.0, help="the check-ins are spread over this long"),
    quiesce_timeout: float = typer.Option(900.0),
    seed: int = typer.Option(7),
    details: bool = typer.Option(True, help="print the details (run id, lags, reasons) before the figures"),
) -> None:
    """Load the local stack, inject faults, quiesce, check invariants; last line: JSON figures."""
    cfg = Config(
        checkins=checkins, kills_per_service=kills_per_service, sigterms_per_service=sigterms_per_service,
        kafka_restarts=kafka_restarts, broker_kills=broker_kills, pg_terminations=pg_terminations, pauses=pauses,
        pause_targets=tuple(s for s in pause_targets.split(",") if s), replicas=replicas, brokers=brokers,
        fault_services=tuple(s for s in fault_services.split(",") if s), max_poll_interval_ms=max_poll_interval_ms,
        load_s=load_seconds, quiesce_timeout_s=quiesce_timeout, seed=seed,
    )  # fmt: skip
    console = Console(stderr=True)
    try:
        figures, extra, ok = asyncio.run(run_chaos(cfg, console))
    except Exception as error:  # the harness itself failed: still one JSON line, and the stack back up
        console.print_exception(max_frames=8)
        asyncio.run(restore_stack())
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        sys.exit(2)
    if details:
        console.print_json(json.dumps(extra, default=str))
    print_figures(figures)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    app()
