"""Where the time goes when a target is missed: py-spy samples a running service for a few seconds
and the bench prints the functions that were on the stack most often."""

from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path

from bench import env


def top_frames(collapsed: str, limit: int = 10) -> dict[str, list[tuple[str, float]]]:
    """From py-spy's collapsed stacks ("f1;f2;f3 count" per line, frames as "func (file:line)"):
    `self`: where the CPU was (the innermost frame, line numbers dropped); `own`: the share of samples
    in which each function of our code (services/, shared/) is on the stack, i.e. its inclusive time."""
    total = 0
    leaf: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_without_line(f) for f in stack.split(";")]
        leaf[frames[-1]] += n
        for frame in set(frames):
            if "services/" in frame or "shared/" in frame or "deploy/local/" in frame:
                own[frame] += n
    if not total:
        return {"self": [], "own": []}
    return {
        "self": [(f, n / total) for f, n in leaf.most_common(limit)],
        "own": [(f, n / total) for f, n in own.most_common(limit)],
    }


def _without_line(frame: str) -> str:
    # "handle (services/x.py:42)" → "handle (services/x.py)": one entry per function, not per line.
    head, sep, tail = frame.rpartition(":")
    return f"{head})" if sep and tail.rstrip(")").isdigit() else frame


def record(
    service: str, seconds: int = 8, *, out_dir: Path | None = None, pid: int | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Sample the service's process (`py-spy record --format raw`), or the process `pid` (an
    auxiliary such as the local SMS gateway, named `service` in the file); returns its top frames."""
    py_spy = shutil.which("py-spy") or str(env.ROOT / ".venv" / "bin" / "py-spy")
    pids = [pid] if pid is not None else env.service_pids(service)
    if not pids or not Path(py_spy).exists():
        return {"self": [], "own": []}
    out = (out_dir or env.BENCH_DIR) / f"profile-{service}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)  # a stage run alone (BENCH_ONLY) may be the first to write
    subprocess.run(
        [py_spy, "record", "--pid", str(pids[0]), "--duration", str(seconds), "--rate", "200",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        capture_output=True, timeout=seconds + 60,
    )  # fmt: skip
    if not out.exists():
        return {"self": [], "own": []}
    return top_frames(out.read_text(errors="replace"))
