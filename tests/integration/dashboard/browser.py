"""A real headless Chromium driven through Debian's chromedriver, over the W3C WebDriver protocol.

WebDriver is plain JSON over HTTP, so httpx (already a dependency) is the whole client: no
Selenium, no browser download. Chromium and chromedriver come from Debian's `chromium` and
`chromium-driver` packages, which are built together and so always match.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# As root in a container: no sandbox; nothing may call out (no updates, sync, QUIC or first-run).
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,2500", "--lang=zh-CN",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class Browser:
    def __init__(self, http: httpx.AsyncClient, session: str) -> None:
        self._http = http
        self._session = session

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.request(method, f"/session/{self._session}{path}", json=body)
        payload = response.json()
        if response.status_code != 200:
            raise AssertionError(f"webdriver {method} {path}: {payload.get('value')}")
        return payload["value"]

    async def open(self, url: str) -> None:
        await self._call("POST", "/url", {"url": url})

    async def js(self, script: str, *args: Any) -> Any:
        """Runs `script` as a function body in the page (arguments as `arguments[i]`) and returns its value."""
        return await self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    async def url(self) -> str:
        return await self._call("GET", "/url")

    async def screenshot(self, path: Path) -> None:
        png = base64.b64decode(await self._call("GET", "/screenshot"))
        await asyncio.to_thread(_write, path, png)

    async def phone(self, width: int = 360, height: int = 740, scale: float = 2.0) -> None:
        """Lays the page out as a phone of `width`×`height` CSS pixels does (Chrome's device
        emulation: mobile viewport, touch, `scale` device pixels per CSS pixel in screenshots)."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": True}
        await self._call("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride", "params": metrics})
        await self._call(
            "POST", "/goog/cdp/execute", {"cmd": "Emulation.setTouchEmulationEnabled", "params": {"enabled": True}}
        )

    async def press(self, *keys: str) -> None:
        """Types keys on the keyboard into whatever has the focus (WebDriver key codes, e.g.
        "\\ue004" Tab, "\\ue007" Enter), as a user does: through the browser's focus handling."""
        actions = [a for key in keys for a in ({"type": "keyDown", "value": key}, {"type": "keyUp", "value": key})]
        await self._call("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    async def console_errors(self) -> list[str]:
        """Errors the page logged since the last call (script exceptions, CSP violations, failed loads)."""
        entries = await self._call("POST", "/se/log", {"type": "browser"})
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]

    async def wait_for(self, script: str, *args: Any, timeout_s: float = 20.0, every_s: float = 0.2) -> Any:
        """Polls a page expression until it is truthy; fails with the last value after the timeout."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            last = await self.js(script, *args)
            if last:
                return last
            await asyncio.sleep(every_s)
        raise AssertionError(f"page condition not met within {timeout_s}s: {script!r} (last value: {last!r})")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One fresh headless Chromium (its own profile directory) for the duration of the block."""
    missing = [b for b in (CHROMIUM, CHROMEDRIVER) if not shutil.which(b)]
    if missing:
        raise AssertionError(f"{missing} missing: apt-get install chromium chromium-driver")
    port = _free_port()
    profile = tempfile.mkdtemp(prefix="ls-dashboard-chromium-")
    driver = await asyncio.create_subprocess_exec(
        CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await http.get("/status")).json()["value"]["ready"]:
                        break
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("chromedriver did not become ready within 20 s")
                await asyncio.sleep(0.1)
            options = {"binary": CHROMIUM, "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"]}
            response = await http.post(
                "/session",
                json={
                    "capabilities": {
                        "alwaysMatch": {"goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}
                    }
                },
            )
            value = response.json()["value"]
            if response.status_code != 200:
                raise AssertionError(f"chromium did not start: {value}")
            session = value["sessionId"]
            try:
                yield Browser(http, session)
            finally:
                with contextlib.suppress(httpx.HTTPError):
                    await http.delete(f"/session/{session}")
    finally:
        if driver.returncode is None:
            driver.terminate()
            try:
                await asyncio.wait_for(driver.wait(), 10)
            except TimeoutError:
                driver.kill()
                await driver.wait()
        shutil.rmtree(profile, ignore_errors=True)
