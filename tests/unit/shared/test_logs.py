"""Structured log lines (shared/logs.py): the time is UTC whatever TZ says, and a line written while
an event is handled or a request served names it."""

from __future__ import annotations

import logging
import os
import time
import uuid
from calendar import timegm

import orjson
import pytest

from shared import logs
from shared.bus.dispatch import Dispatcher
from shared.db.uow import UnitOfWork
from shared.events import catalogue as ev
from tests.unit.shared.test_dispatch import FakePool, course


@pytest.fixture
def shanghai_time():
    """The machine's local time is UTC+8 for the test (as on a server set up in Shenzhen)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def line(message: str = "hello", *, created: float | None = None) -> dict:
    record = logging.LogRecord("test", logging.INFO, __file__, 1, message, None, None)
    if created is not None:
        record.created, record.msecs = created, (created % 1) * 1000
    return orjson.loads(logs.JsonFormatter("scoring").format(record))


def test_the_time_is_utc_when_the_machine_runs_on_shanghai_time(shanghai_time):
    at = timegm((2026, 12, 4, 20, 10, 0)) + 0.25  # 04:10 on 5 December in Shanghai
    assert time.localtime(at).tm_hour == 4, "the fixture did not switch the local time zone"
    assert line(created=at)["time"] == "2026-12-04T20:10:00.250Z"


def test_a_line_outside_any_event_or_request_names_neither():
    entry = line()
    assert not {"event_id", "correlation_id", "request_id"} & entry.keys()


def test_a_line_inside_an_event_names_the_event_and_its_correlation_and_is_forgotten_after():
    event_id = uuid.uuid4()
    with logs.event_context(event_id, "req-42"):
        inside = line()
    assert (inside["event_id"], inside["correlation_id"]) == (str(event_id), "req-42")
    assert "event_id" not in line()


def test_a_line_inside_a_request_names_the_request():
    token = logs.REQUEST_ID.set("abc-123")
    try:
        assert line()["request_id"] == "abc-123"
    finally:
        logs.REQUEST_ID.reset(token)


async def test_the_dispatcher_names_each_event_in_the_lines_its_handler_writes():
    seen: list[dict] = []

    async def on_course(uow, event, meta):
        seen.append(line(f"course {event.course_id}"))

    first, second = course("c1"), course("c2")
    dispatch = Dispatcher(lambda: UnitOfWork(FakePool(), deps=None), {ev.CourseCreated: on_course})
    await dispatch([first, second])
    assert [e.get("event_id") for e in seen] == [str(first.event_id), str(second.event_id)]
    assert "event_id" not in line()


def test_outgoing_http_requests_are_not_logged_one_line_each():
    """httpx writes an INFO line per request: notify's SMS client wrote one per message sent
    (issue 18's broadcast). Failures still surface as the callers' own lines."""
    root, quiet = logging.getLogger(), ("httpx", "httpcore")
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in quiet}
    try:
        logs.configure_logging("notify", "INFO")
        for name in quiet:
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
            assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
        assert logging.getLogger("services.notify").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, before in levels.items():
            logging.getLogger(name).setLevel(before)
