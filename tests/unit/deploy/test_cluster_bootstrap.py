"""On a cluster KAFKA_BOOTSTRAP lists every broker (`a:1,b:2,c:3`, as the local stack with
BROKERS=3 and the Kubernetes overlay set it); the services' broker must see three hosts, not one
host named `a:1,b:2,c`."""

from __future__ import annotations

from shared.bus.broker import make_broker
from shared.settings import ServiceSettings

CLUSTER = "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def settings(bootstrap: str) -> ServiceSettings:
    return ServiceSettings(
        service="scoring",
        KAFKA_BOOTSTRAP=bootstrap,
        kafka_username="scoring",
        kafka_password="x",
        database_url="postgresql://u:p@127.0.0.1:1/db",
        http_port=8103,
        LS_JWT_SECRET="s" * 32,
    )


def test_every_broker_of_a_comma_separated_bootstrap_reaches_the_client() -> None:
    broker = make_broker(settings(CLUSTER))
    assert broker._connection_kwargs["bootstrap_servers"] == CLUSTER.split(",")


def test_a_single_broker_stays_a_single_host() -> None:
    broker = make_broker(settings("127.0.0.1:19092"))
    assert broker._connection_kwargs["bootstrap_servers"] == ["127.0.0.1:19092"]
