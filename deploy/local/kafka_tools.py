"""What stack.py and provision.py both use, so that neither imports the other: the terminal
output of the local commands (`console`, `fail`) and Kafka's own command-line tools run from the
local Kafka install (`java_tool`, with the admin client properties in `KAFKA_ADMIN_PROPS`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import credentials
import typer
from rich.console import Console

ROOT = credentials.ROOT
DEPLOY = ROOT / "deploy" / "local"
KAFKA = credentials.LOCAL / "kafka"
KAFKA_LIBS = KAFKA / "libs"
KAFKA_ADMIN_PROPS = KAFKA / "admin.properties"
JAVA_TOOL_OPTS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]

_WIDTH = None if sys.stdout.isatty() else 140
console = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def fail(msg: str, log: Path | None = None) -> None:
    err.print(f"[bold red]error:[/] {msg}")
    if log is not None:
        err.print(f"[dim]--- last 30 lines of {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log}[/]")
        err.print(tail(log), markup=False, highlight=False)
    raise typer.Exit(1)


def java_tool(main: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [
        "java",
        *JAVA_TOOL_OPTS,
        f"-Dlog4j2.configurationFile={DEPLOY / 'kafka' / 'tools-log4j2.yaml'}",
        "-cp",
        str(KAFKA_LIBS / "*"),
        main,
        *args,
    ]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and res.returncode != 0:
        fail(f"{main.rsplit('.', 1)[1]} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
