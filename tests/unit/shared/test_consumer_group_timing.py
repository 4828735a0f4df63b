"""How soon scoring's group recovers from a member that dies or leaves: the session timeout and the
heartbeat every consumer runs with come from the service's settings and reach aiokafka. With
aiokafka's own 10 s and 3 s, a killed scoring instance's partitions stood still 10 s and every
rebalance up to 3 s (`make bench`, stage latency_rebalance)."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from shared.bus.consumer import BatchConsumer
from shared.settings import ServiceSettings

BASE = {"service": "scoring", "kafka_username": "scoring", "kafka_password": "pw", "database_url": "postgresql://x",
        "http_port": 8103, "LS_JWT_SECRET": "s" * 32}  # fmt: skip


async def _handle(batch) -> None:
    return None


def _consumer_kwargs(consumer: BatchConsumer) -> dict:
    """The arguments faststream 0.7 builds this subscriber's aiokafka consumer with."""
    return consumer.register(KafkaBroker("127.0.0.1:1"))._connection_args


def test_a_consumer_detects_a_dead_member_in_six_seconds_and_hears_of_a_rebalance_within_one() -> None:
    kwargs = _consumer_kwargs(BatchConsumer(service="scoring", topics=["t"], handle=_handle, dead_letters=None))
    assert kwargs["session_timeout_ms"] == 6_000 and kwargs["heartbeat_interval_ms"] == 1_000


def test_the_settings_set_both() -> None:
    s = ServiceSettings(**BASE, consumer_session_timeout_ms=9_000, consumer_heartbeat_interval_ms=2_000)
    consumer = BatchConsumer(
        service="scoring", topics=["t"], handle=_handle, dead_letters=None,
        session_timeout_ms=s.consumer_session_timeout_ms, heartbeat_interval_ms=s.consumer_heartbeat_interval_ms,
    )  # fmt: skip
    kwargs = _consumer_kwargs(consumer)
    assert (kwargs["session_timeout_ms"], kwargs["heartbeat_interval_ms"]) == (9_000, 2_000)


def test_a_session_below_the_brokers_minimum_is_refused() -> None:
    with pytest.raises(ValidationError, match="consumer_session_timeout_ms"):
        ServiceSettings(**BASE, consumer_session_timeout_ms=3_000)


def test_a_heartbeat_longer_than_a_third_of_the_session_is_refused_in_one_line_naming_both_variables() -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**BASE, consumer_session_timeout_ms=6_000, consumer_heartbeat_interval_ms=2_500)
    message = str(refused.value)
    assert "SCORING_CONSUMER_HEARTBEAT_INTERVAL_MS" in message and "SCORING_CONSUMER_SESSION_TIMEOUT_MS" in message
