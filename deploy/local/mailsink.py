"""A local SMTP server for development and tests: stores every message it accepts as one .eml
file under .local/mail/ (UTF-8, readable in any editor or mail client).

    .venv/bin/python deploy/local/mailsink.py        # NOTIFY_SMTP_HOST / NOTIFY_SMTP_PORT, default 127.0.0.1:8025

File names start with the receive time, then a hash of the Message-ID, so two deliveries of the
same message sit side by side.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
MAIL_DIR = Path(os.environ.get("NOTIFY_MAIL_DIR", ROOT / ".local" / "mail"))


class Store:
    async def handle_DATA(self, server, session, envelope) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message_id = ""
        for line in raw.split(b"\r\n\r\n", 1)[0].splitlines():
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode(errors="replace")
        tag = hashlib.sha256(message_id.encode()).hexdigest()[:12] if message_id else "no-message-id"
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{tag}-{uuid.uuid4().hex[:8]}.eml"
        envelope_lines = (
            f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        )
        tmp = MAIL_DIR / (name + ".tmp")
        tmp.write_bytes(envelope_lines + raw)
        tmp.rename(MAIL_DIR / name)  # readers never see a half-written file
        return "250 OK stored"


def main() -> None:
    MAIL_DIR.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("NOTIFY_SMTP_HOST", "127.0.0.1")
    port = int(os.environ.get("NOTIFY_SMTP_PORT", "8025"))
    controller = Controller(Store(), hostname=host, port=port, decode_data=False, enable_SMTPUTF8=True)
    controller.start()
    print(f"mailsink: listening on {host}:{port}, storing into {MAIL_DIR}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
