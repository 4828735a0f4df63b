"""Fault injection for the crash tests, and nothing else.

`bootstrap` wraps the channels in `CrashAfterSend` only when NOTIFY_FAULT_CRASH_AFTER_SEND names
a resident (tests/integration/notify/test_crash.py sets it); a normal start never installs it."""

from __future__ import annotations

import logging
import os
import signal
from typing import Protocol

from services.notify.adapters.channels import Outgoing

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, channel: str, message: Outgoing) -> str: ...

    async def close(self) -> None: ...


class CrashAfterSend:
    """Channels that SIGKILL the process right after a channel accepted a message for one
    resident, before the worker records the outcome: the crash the delivery lease recovers from."""

    def __init__(self, channels: Sender, resident_id: str) -> None:
        self.channels = channels
        self.resident_id = resident_id

    async def send(self, channel: str, message: Outgoing) -> str:
        provider_id = await self.channels.send(channel, message)
        if message.resident_id == self.resident_id:
            log.warning("fault injection: killing the process after sending %s", message.notification_id)
            os.kill(os.getpid(), signal.SIGKILL)
        return provider_id

    async def close(self) -> None:
        await self.channels.close()
