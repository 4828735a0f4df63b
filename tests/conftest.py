"""Shared fixtures: the local credentials and Kafka clients per principal.

`credentials` is .local/credentials.env (written by `make setup`) with every variable already
set in the environment taking precedence, the same rule the stack and the services follow.
The Kafka factories take a principal name (activities, enrolment, scoring, notify, kiosk or
admin) and close what they made at teardown.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.local_env import kafka_client_kwargs, read_credentials

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS_FILE = ROOT / ".local" / "credentials.env"
# The environment `make test` gave pytest, before any test ran: what processes a test starts to
# stand for the stack's own (the chaos run's services) get, whatever a test left behind.
SESSION_ENV = dict(os.environ)


def load_credentials(path: Path = CREDENTIALS_FILE) -> dict[str, str]:
    return read_credentials(path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `stack_faults` run after all the others: what they break in the shared stack
    (they restart Kafka, kill services) cannot fail a test that comes after them."""
    items.sort(key=lambda item: item.get_closest_marker("stack_faults") is not None)  # stable


@pytest.fixture(scope="session")
def credentials() -> dict[str, str]:
    values = load_credentials()
    if not values:
        pytest.fail(f"{CREDENTIALS_FILE} is missing: run `make setup` (and `make up`) first")
    return values


@pytest.fixture(scope="session")
def kafka_client_config(credentials: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """kafka_client_config("notify") -> kwargs for any aiokafka client (SASL/SCRAM-SHA-512)."""

    def config(principal: str, password: str | None = None) -> dict[str, Any]:
        return kafka_client_kwargs(principal, credentials, password=password)

    return config


@pytest.fixture
async def kafka_producer(kafka_client_config) -> AsyncIterator[Callable[..., Awaitable[AIOKafkaProducer]]]:
    """`producer = await kafka_producer("kiosk", **aiokafka_kwargs)`: started; stopped at teardown."""
    made: list[AIOKafkaProducer] = []

    async def make(principal: str, **kwargs: Any) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**{**kafka_client_config(principal), **kwargs})
        made.append(producer)
        await producer.start()
        return producer

    yield make
    for producer in made:
        await producer.stop()


@pytest.fixture
async def kafka_consumer(kafka_client_config) -> AsyncIterator[Callable[..., Awaitable[AIOKafkaConsumer]]]:
    """`consumer = await kafka_consumer("notify", *topics, group_id=..., **aiokafka_kwargs)`.

    Started unless `start=False`; stopped at teardown. Without topics, assign partitions yourself."""
    made: list[AIOKafkaConsumer] = []

    async def make(principal: str, *topics: str, start: bool = True, **kwargs: Any) -> AIOKafkaConsumer:
        kwargs.setdefault("auto_offset_reset", "earliest")
        kwargs.setdefault("enable_auto_commit", False)
        consumer = AIOKafkaConsumer(*topics, **{**kafka_client_config(principal), **kwargs})
        made.append(consumer)
        if start:
            await consumer.start()
        return consumer

    yield make
    for consumer in made:
        await consumer.stop()


@pytest.fixture
async def kafka_admin(kafka_client_config) -> AsyncIterator[Callable[..., Awaitable[AIOKafkaAdminClient]]]:
    """`admin = await kafka_admin("admin")`: started; closed at teardown."""
    made: list[AIOKafkaAdminClient] = []

    async def make(principal: str = "admin", **kwargs: Any) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**{**kafka_client_config(principal), **kwargs})
        made.append(admin)
        await admin.start()
        return admin

    yield make
    for admin in made:
        await admin.close()
