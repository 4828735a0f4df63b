"""Start-up waits that follow progress instead of a fixed limit.

A fixed limit is wrong both ways: a fresh machine's first Kafka start once stayed silent past 60 s
and failed `make test`, while the next start was ready in 3 s. So a wait goes on while the process
is alive and making progress (its log files grow or change, or it uses CPU), up to a generous
bound; it gives up early when the process exits or stays idle and silent for a long time. On
failure it shows the process's own output and the likely cause.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BOUND_S = 600.0  # no start-up of the local stack takes this long on a working machine
EXIT_CONFIRM_S = 1.0  # a process that looks gone is looked at once more after this long
QUIET_S = 120.0  # alive but no log line and no CPU used for this long: stuck, not slow
POLL_S = 0.5
REPORT_EVERY_S = 15.0


@dataclass
class Outcome:
    ready: bool
    state: str  # ready | exited | stalled | timed out
    elapsed_s: float
    quiet_s: float = 0.0
    moved: list[str] = field(default_factory=list)  # what showed progress last


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of `pid` (and its reaped children), from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the command name: state is field 3, utime..cstime are fields 14-17 (1-based)
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _log_state(paths: Sequence[Path]) -> tuple:
    state = []
    for p in paths:
        try:
            st = p.stat()
            state.append((st.st_size, st.st_mtime_ns))
        except OSError:
            state.append(None)
    return tuple(state)


def wait_for(
    what: str,
    ready: Callable[[], bool],
    *,
    alive: Callable[[], bool],
    logs: Sequence[Path] = (),
    cpu: Callable[[], float | None] = lambda: None,
    bound_s: float = BOUND_S,
    quiet_s: float = QUIET_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Wait until `ready()`; see the module docstring for when it gives up."""
    start = clock()
    last_move = start
    last_report = start
    seen_logs, seen_cpu = _log_state(logs), cpu()
    moved: list[str] = []
    while True:
        if ready():
            return Outcome(True, "ready", clock() - start, moved=moved)
        now = clock()
        if not alive():
            # it may have become ready just before exiting (a process that forks and exits)
            if ready():
                return Outcome(True, "ready", now - start, moved=moved)
            # Seen once in CI: a JVM just started read as gone for a moment (its command line not
            # yet readable), then ran: it is given up only when it still looks gone a moment later.
            sleep(EXIT_CONFIRM_S)
            if not alive():
                return Outcome(False, "exited", clock() - start, clock() - last_move, moved)
            continue
        logs_now, cpu_now = _log_state(logs), cpu()
        moved_now = []
        if logs_now != seen_logs:
            moved_now.append("log")
        if cpu_now is not None and seen_cpu is not None and cpu_now > seen_cpu:
            moved_now.append("cpu")
        if moved_now:
            last_move, moved = now, moved_now
        seen_logs, seen_cpu = logs_now, cpu_now
        if now - last_move >= quiet_s:
            return Outcome(False, "stalled", now - start, now - last_move, moved)
        if now - start >= bound_s:
            return Outcome(False, "timed out", now - start, now - last_move, moved)
        if now - last_report >= REPORT_EVERY_S:
            last_report = now
            progress = " and ".join(moved) if now - last_move < REPORT_EVERY_S and moved else "nothing new"
            say(f"still waiting for {what} ({now - start:.0f}s; {progress}; gives up after {bound_s:.0f}s)")
        sleep(POLL_S)


# What a start-up's own output says, most specific first: (pattern, likely cause).
CAUSES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"Address already in use|BindException|could not bind|errno 98", re.I),
        "its port is taken by another process (`ss -ltnp` shows which)",
    ),
    (
        re.compile(r"OutOfMemoryError|Cannot allocate memory|insufficient memory|MemoryError|Killed", re.I),
        "not enough memory: stop other processes or lower the heap (`free -m`)",
    ),
    (re.compile(r"No space left on device", re.I), "the disk is full (`df -h .local`)"),
    (
        re.compile(r"invalid value for parameter|configuration file .* contains errors|ConfigException", re.I),
        "a configuration error, named in the output above",
    ),
    (
        re.compile(r"InconsistentClusterId|Invalid cluster.id|cluster id .* doesn't match", re.I),
        "the data directory belongs to another Kafka cluster: `make down` and remove .local/kafka/data*",
    ),
    (
        re.compile(r"lock file .* already exists|another server might be running", re.I),
        "another PostgreSQL runs on this data directory, or a stale postmaster.pid remains",
    ),
    (
        re.compile(r"wrong ownership|Permission denied|permissions should be", re.I),
        "file permissions: the process cannot read or write its files",
    ),
    (
        re.compile(r"password authentication failed|SaslAuthenticationException|Authentication failed", re.I),
        "credentials differ between .local/credentials.env and what the server holds: `make setup`",
    ),
    (
        re.compile(r"ModuleNotFoundError|ImportError", re.I),
        "the Python environment is incomplete: `make setup` reinstalls it",
    ),
    (
        re.compile(r"ClassNotFoundException|NoClassDefFoundError|Could not find or load main class", re.I),
        "the Kafka jars are missing or incomplete: `make setup` fetches them",
    ),
    (
        re.compile(r"UnsupportedClassVersionError|java: (command )?not found", re.I),
        "Java 17 is missing or too old: `make setup` installs OpenJDK 17",
    ),
    (
        re.compile(r"Connection refused|ConnectionRefusedError|could not connect", re.I),
        "a service it depends on (Kafka or PostgreSQL) does not answer",
    ),
]


def tail(path: Path, n: int = 30) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def likely_cause(outcome: Outcome, output: str, load: float | None = None) -> str:
    # the latest line that says something: a log may still hold an earlier start's errors
    for line in reversed(output.splitlines()):
        for pattern, cause in CAUSES:
            if pattern.search(line):
                return cause
    if outcome.state == "exited":
        return "it exited without saying why: run its command by hand to see"
    if outcome.state == "stalled":
        busy = f" (load average {load:.1f})" if load is not None else ""
        return f"alive but silent and idle for {outcome.quiet_s:.0f}s{busy}: stuck waiting on something"
    if load is not None and load > 2 * (os.cpu_count() or 1):
        return f"the machine is overloaded (load average {load:.1f}): it was still starting"
    return "still starting when the bound was reached"


def report(what: str, outcome: Outcome, logs: Sequence[Path], *, root: Path | None = None, n: int = 30) -> str:
    """The failure's message: what was awaited, how it ended, each log's tail, the likely cause."""
    lines = [f"{what}: {outcome.state} after {outcome.elapsed_s:.0f}s"]
    output = []
    for p in logs:
        shown = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
        got = tail(p, n)
        if not p.exists():
            lines.append(f"--- {shown}: not written (the process never wrote there)")
        elif not got:
            lines.append(f"--- {shown}: empty")
        else:
            lines.append(f"--- last {len(got)} lines of {shown}")
            lines.extend(got)
            output.extend(got)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    lines.append(f"likely cause: {likely_cause(outcome, chr(10).join(output), load)}")
    return "\n".join(lines)
