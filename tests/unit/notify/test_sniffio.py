"""httpcore asks sniffio which event loop runs, on every request it makes (issue 18): without the
package installed each SMS request tried the import again through sys.path (~0.6 ms a message)."""

from __future__ import annotations

import asyncio
import importlib.util

from httpcore._synchronization import current_async_library


def test_sniffio_is_installed_so_httpcore_finds_the_event_loop_without_a_failed_import():
    assert importlib.util.find_spec("sniffio") is not None

    async def which() -> str:
        return current_async_library()

    assert asyncio.run(which()) == "asyncio"
