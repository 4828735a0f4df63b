"""Alertmanager's webhook receiver on one host (deploy/compose): no external service.

Every alert of a notification is logged as one line (`docker compose logs alert-sink`): status,
severity, alert, service, runbook link and summary, so the person reading it knows where to start;
with ALERT_SINK_FILE set, each notification is also appended to it as one JSON line. Standard
library only: it runs in the plain Python image.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# Alertmanager's payloads are a few KiB; a larger body is not one of them
MAX_BODY = 1 << 20
_write_lock = threading.Lock()


def summary_lines(payload: dict) -> list[str]:
    lines = []
    for alert in payload.get("alerts", []):
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        lines.append(
            " ".join(
                [
                    f"[{payload.get('receiver', '-')}]",
                    alert.get("status", payload.get("status", "?")),
                    labels.get("severity", "-"),
                    labels.get("alertname", "-"),
                    f"service={labels.get('service', '-')}",
                    f"runbook={annotations.get('runbook_url', '-')}",
                    f"- {annotations.get('summary', '')}",
                ]
            )
        )
    return lines


class Handler(BaseHTTPRequestHandler):
    server_version = "learnstreet-alert-sink"
    log_file: Path | None = None

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/healthz" else 404)

    def do_POST(self) -> None:
        if self.path != "/alerts":
            return self._reply(404)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._reply(413)
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            return self._reply(400)
        if not isinstance(payload, dict):
            return self._reply(400)
        if self.log_file:
            with _write_lock, self.log_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(payload, ensure_ascii=False) + "\n")
        for line in summary_lines(payload):
            print(line, flush=True)
        self._reply(204)

    def _reply(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:
        # one line per alert is printed above; the access log would only repeat it
        pass


def serve(host: str, port: int, log_file: Path | None = None) -> ThreadingHTTPServer:
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = type("SinkHandler", (Handler,), {"log_file": log_file})
    return ThreadingHTTPServer((host, port), handler)


def main() -> int:
    log_file = Path(os.environ["ALERT_SINK_FILE"]) if os.environ.get("ALERT_SINK_FILE") else None
    server = serve(
        os.environ.get("ALERT_SINK_HOST", "127.0.0.1"), int(os.environ.get("ALERT_SINK_PORT", "9095")), log_file
    )
    print(f"alert-sink listening on {server.server_address}, payloads to {log_file or 'stdout only'}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
