"""Structured logs: one JSON object per line, so operators can filter by service and level.

Every line carries the time in UTC and, when known, the event being handled (`event_id`,
`correlation_id`, set by the dispatcher per event) or the HTTP request being served
(`request_id`, set by the HTTP middleware per request), so one event's or one request's lines
can be found across services.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar

import orjson

EVENT_ID: ContextVar[str | None] = ContextVar("learnstreet_event_id", default=None)
CORRELATION_ID: ContextVar[str | None] = ContextVar("learnstreet_correlation_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("learnstreet_request_id", default=None)
_CONTEXT = (("event_id", EVENT_ID), ("correlation_id", CORRELATION_ID), ("request_id", REQUEST_ID))


@contextlib.contextmanager
def event_context(event_id: object, correlation_id: str | None) -> Iterator[None]:
    """The log lines written while one event is handled name it (and the request it came from)."""
    event_token = EVENT_ID.set(str(event_id))
    correlation_token = CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        CORRELATION_ID.reset(correlation_token)
        EVENT_ID.reset(event_token)


def utc_timestamp(created: float) -> str:
    """RFC 3339 in UTC: the `Z` must mean UTC whatever the machine's TZ is."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in _CONTEXT:
            value = var.get()
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # faststream logs two INFO lines per message by default; at our volumes that is the
    # bottleneck (shared/notes: it halves throughput), so keep its access log to warnings.
    logging.getLogger("faststream.access.kafka").setLevel(logging.WARNING)
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs an INFO line per request: one per SMS notify sends (issue 18's broadcast). Errors
    # reach the callers, which log them with the message they concern.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
