"""`learnstreet` against the running broker from environment variables alone (an installation with
no credentials file beside it), as the README promises for pointing it at an existing cluster."""

from __future__ import annotations

import pytest

from tests.support import env
from tests.unit.ops.test_cli_settings import clean_env, installed, learnstreet  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def admin_env(bootstrap: str | None = None) -> dict[str, str]:
    c = env()
    return clean_env(
        KAFKA_BOOTSTRAP=bootstrap or c["KAFKA_BOOTSTRAP"],
        KAFKA_ADMIN_USERNAME=c["KAFKA_ADMIN_USERNAME"],
        KAFKA_ADMIN_PASSWORD=c["KAFKA_ADMIN_PASSWORD"],
    )


def test_dlq_list_works_from_environment_variables_alone(installed):  # noqa: F811
    res = learnstreet(installed, "dlq", "list", "scoring.honours", env=admin_env())
    assert res.returncode == 0, res.stderr[-2000:]
    words = " ".join(res.stdout.split())  # rich wraps the title to the table's width
    assert "scoring.honours.dlq:" in words and "dead letters" in words


def test_dlq_list_connects_where_kafka_bootstrap_says(installed):  # noqa: F811
    res = learnstreet(installed, "dlq", "list", "scoring.honours", env=admin_env("127.0.0.1:9"))
    assert res.returncode != 0
    assert "dead" not in res.stdout
    assert "KAFKA_ADMIN_PASSWORD" not in res.stderr, "the password was found in the environment"
    assert "error: cannot reach Kafka at 127.0.0.1:9 (KAFKA_BOOTSTRAP)" in res.stderr
