"""Headless Chromium turns the report page into a PDF (print-to-PDF, the page's print CSS) or a
PNG of the screen layout. Debian's `chromium` package; fonts-noto-cjk gives the Chinese glyphs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# As root in a container: no sandbox; nothing may call out (the page needs no network).
_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


class ChromiumFailed(Exception):
    pass


def _run(page: Path, extra: list[str], out: Path, timeout_s: float) -> Path:
    binary = shutil.which(CHROMIUM) or shutil.which("chromium")
    if binary is None:
        raise ChromiumFailed(f"{CHROMIUM} is not installed (Debian package chromium; `make demo` installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    # its own profile each time: a second Chromium on a shared profile waits for the first one's lock
    with tempfile.TemporaryDirectory(prefix="ls-report-chromium-") as profile:
        command = [binary, *_ARGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as error:
            raise ChromiumFailed(f"Chromium did not finish within {timeout_s:.0f} s") from error
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-2:])
        raise ChromiumFailed(f"Chromium wrote no {out.suffix} (exit {done.returncode}): {tail[:300]}")
    return out


def print_pdf(page: Path, out: Path, *, timeout_s: float = 120.0) -> Path:
    return _run(page, [f"--print-to-pdf={out}", "--no-pdf-header-footer"], out, timeout_s)


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400, timeout_s: float = 120.0) -> Path:
    return _run(page, [f"--screenshot={out}", f"--window-size={width},{height}"], out, timeout_s)
