"""Retention per topic from configuration on the running Kafka (issue 17, ADR 0010 decision 5):
`stack.py provision` with `LS_RETENTION_KIOSK_CHECKINS=3d` shortens kiosk.checkins' retention.ms,
provisioning again without it restores the catalogue's week, and a finite retention on
activities.attendance, which the scoring and passport rebuilds replay from the beginning, is
refused with one line and changes nothing unless its rebuilds' checkpoints cover it. The topics are
left at their defaults."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.events import topics as catalogue
from tests.support import ROOT

pytestmark = pytest.mark.integration

WEEK_MS = "604800000"
THREE_DAYS_MS = "259200000"


def _provision(**retention: str) -> subprocess.CompletedProcess:
    """The operator's command, with the environment it would have and only these retention settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(catalogue.RETENTION_PREFIX)}
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "local" / "stack.py"), "provision"],
        cwd=ROOT,
        env={**environ, **retention},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _provision_async(**retention: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(_provision, **retention)


async def _retention_ms(admin, topic: str) -> str:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    configs = {res[3]: {e[0]: e[1] for e in res[4]} for resp in responses for res in resp.resources}
    return configs[topic]["retention.ms"]


async def test_configured_retention_is_applied_to_kiosk_checkins_and_the_default_comes_back(kafka_admin):
    admin = await kafka_admin("admin")
    assert catalogue.KIOSK_CHECKINS.config["retention.ms"] == WEEK_MS
    try:
        shortened = await _provision_async(LS_RETENTION_KIOSK_CHECKINS="3d")
        assert shortened.returncode == 0, shortened.stderr
        assert await _retention_ms(admin, "kiosk.checkins") == THREE_DAYS_MS
        assert "kiosk.checkins: configs aligned (retention 7d → 3d)" in shortened.stdout
        assert "retention: kiosk.checkins 3d (LS_RETENTION_KIOSK_CHECKINS)" in shortened.stdout
    finally:
        restored = await _provision_async()
    assert restored.returncode == 0, restored.stderr
    assert await _retention_ms(admin, "kiosk.checkins") == WEEK_MS
    assert "kiosk.checkins: configs aligned (retention 3d → 7d)" in restored.stdout
    assert "retention: every topic at the catalogue's default" in restored.stdout


async def test_attendance_keeps_what_its_rebuilds_checkpoints_need_and_no_less(kafka_admin):
    """ADR 0010: the scoring and passport rebuilds start from checkpoints their services take daily,
    so attendance may keep 400 days; 2 days (less than three checkpoint intervals) is refused with
    one line naming both rebuilds, and changes nothing. Left at its default, forever."""
    admin = await kafka_admin("admin")
    refused = await _provision_async(LS_RETENTION_ACTIVITIES_ATTENDANCE="2d")
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(
        "error: provisioning refused: LS_RETENTION_ACTIVITIES_ATTENDANCE=2d: activities.attendance is replayed by "
        f"the {catalogue.SCORING_REBUILD} and the {catalogue.PASSPORT_REBUILD}, which start from their checkpoints"
    ), line
    assert "keep at least 3 intervals (3d)" in line
    assert await _retention_ms(admin, "activities.attendance") == "-1"
    try:
        kept = await _provision_async(LS_RETENTION_ACTIVITIES_ATTENDANCE="400d")
        assert kept.returncode == 0, kept.stderr
        assert await _retention_ms(admin, "activities.attendance") == str(400 * catalogue.DAY_MS)
    finally:
        restored = await _provision_async()
    assert restored.returncode == 0, restored.stderr
    assert await _retention_ms(admin, "activities.attendance") == "-1"


async def test_the_contacts_topic_compacts_within_a_day_of_a_tombstone(kafka_admin):
    """ADR 10, amendment 2026-12-06: an erasure's tombstone supersedes the resident's contact; Kafka
    compacts only rolled segments and rolls the active one on the first append after
    max.compaction.lag.ms, which bounds how long the phone and e-mail stay readable."""
    admin = await kafka_admin("admin")
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "enrolment.contacts")])
    configs = {e[0]: e[1] for resp in responses for res in resp.resources for e in res[4]}
    assert configs["cleanup.policy"] == "compact"
    assert configs["max.compaction.lag.ms"] == str(catalogue.DAY_MS) == "86400000"
    assert configs["delete.retention.ms"] == "3600000"  # the tombstone (keyed by the card) an hour
