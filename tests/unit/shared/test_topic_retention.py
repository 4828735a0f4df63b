"""Retention per topic from configuration (shared/events/topics.py, ADR 0010 decision 5): the
defaults, `LS_RETENTION_<TOPIC>` parsed by one pure function, and the refusals that make the
rebuilds' dependence on full history explicit."""

from __future__ import annotations

import pytest

from services.enrolment.entrypoints.consumers import PASSPORT_TOPICS
from services.scoring.entrypoints.consumers import TOPICS as SCORING_TOPICS
from shared.events import topics
from shared.events.topics import (
    DAY_MS,
    FOREVER,
    HOUR_MS,
    MINUTE_MS,
    RetentionError,
    format_retention,
    parse_retention,
    resolve_topic_specs,
    retention_variable,
)
from shared.settings import ServiceSettings

SPECS = {s.name: s for s in topics.all_topic_specs()}


def _resolved(**environ: str) -> dict[str, topics.TopicSpec]:
    return {s.name: s for s in resolve_topic_specs(environ)}


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("7d", 7 * DAY_MS),
        ("12h", 12 * HOUR_MS),
        ("30m", 30 * MINUTE_MS),
        ("1m", MINUTE_MS),
        (" 3D ", 3 * DAY_MS),
        ("forever", FOREVER),
        ("Forever", FOREVER),
        ("999999d", 999999 * DAY_MS),
    ],
)
def test_retention_values_parse_to_milliseconds(value, ms):
    assert parse_retention(value) == ms


@pytest.mark.parametrize(
    "value", ["", "7", "d", "0d", "07d", "-1", "-1d", "7.5d", "7 d", "1w", "10s", "7days", "1000000d", "never", "∞"]
)
def test_anything_else_is_not_a_retention(value):
    with pytest.raises(ValueError, match="7d, 12h, 30m"):
        parse_retention(value)


@pytest.mark.parametrize("ms", [FOREVER, MINUTE_MS, 90 * MINUTE_MS, 12 * HOUR_MS, 7 * DAY_MS, 400 * DAY_MS])
def test_a_retention_is_shown_in_the_form_it_is_set_in(ms):
    assert parse_retention(format_retention(ms)) == ms


def test_the_variable_is_the_topic_name_upper_cased_with_dots_and_dashes_as_underscores():
    assert retention_variable("kiosk.checkins") == "LS_RETENTION_KIOSK_CHECKINS"
    assert retention_variable("enrolment.sign-in-codes.dlq") == "LS_RETENTION_ENROLMENT_SIGN_IN_CODES_DLQ"
    variables = [retention_variable(name) for name in SPECS]
    assert len(set(variables)) == len(variables), "two topics share a variable"
    assert not set(variables) & topics.DATABASE_RETENTION_SETTINGS


def test_the_database_retention_settings_are_exactly_the_services_ones():
    """They share the LS_RETENTION_ prefix and are not topics: provisioning must not refuse them."""
    aliases = {
        choice
        for f in ServiceSettings.model_fields.values()
        if f.validation_alias is not None
        for choice in getattr(f.validation_alias, "choices", [f.validation_alias])
        if isinstance(choice, str) and choice.startswith(topics.RETENTION_PREFIX)
    }
    assert aliases == topics.DATABASE_RETENTION_SETTINGS


def test_defaults_keep_check_ins_a_week_dead_letters_30_days_and_the_rest_as_before():
    assert SPECS["kiosk.checkins"].retention_ms == 7 * DAY_MS
    assert SPECS["enrolment.sign-in-codes"].config == {"retention.ms": "900000", "segment.ms": "300000"}
    # the cards are erased as the contacts are: a tombstone, compaction bounded by the same lag
    assert SPECS["enrolment.resident-cards"].config == SPECS["enrolment.contacts"].config
    for name, spec in SPECS.items():
        if name in ("enrolment.sign-in-codes.dlq", "kiosk.checkins.dlq"):  # no longer than their source
            assert spec.config == SPECS[name.removesuffix(".dlq")].config, name
        elif name.endswith(".dlq"):
            assert spec.retention_ms == 30 * DAY_MS, name
        elif name in ("enrolment.contacts", "enrolment.resident-cards", "scoring.index"):
            assert spec.compacted, name
        elif name not in ("kiosk.checkins", "enrolment.sign-in-codes"):
            assert spec.config == {"retention.ms": "-1"}, name


def test_a_finite_retention_has_segments_short_enough_for_deletion_to_follow():
    for spec in SPECS.values():
        if not spec.compacted and spec.retention_ms != FOREVER:
            assert int(spec.config["segment.ms"]) <= spec.retention_ms // 3, spec.name


def test_replayed_by_names_exactly_the_topics_each_rebuild_reads_from_the_beginning():
    """The field is what provisioning protects: it must follow the rebuilds' own topic lists."""
    wanted: dict[str, set[str]] = {}
    for rebuild, names in ((topics.SCORING_REBUILD, SCORING_TOPICS), (topics.PASSPORT_REBUILD, PASSPORT_TOPICS)):
        for name in names:
            wanted.setdefault(name, set()).add(rebuild)
    declared = {name: set(spec.replayed_by) for name, spec in SPECS.items() if spec.replayed_by}
    assert declared == wanted
    assert not SPECS["kiosk.checkins"].replayed_by  # nothing replays the raw scans: a week is safe


def test_without_settings_every_topic_keeps_its_default():
    assert resolve_topic_specs({}) == topics.all_topic_specs()
    assert resolve_topic_specs({"LS_RETENTION_KIOSK_CHECKINS": "", "PATH": "/bin"}) == topics.all_topic_specs()


def test_the_database_retention_settings_are_not_taken_for_topics():
    environ = {name: "30" for name in topics.DATABASE_RETENTION_SETTINGS}
    assert resolve_topic_specs(environ) == topics.all_topic_specs()


def test_a_configured_retention_replaces_the_default_of_that_topic_only():
    got = _resolved(LS_RETENTION_KIOSK_CHECKINS="3d", LS_RETENTION_SCORING_ASSESSMENTS="400d")
    assert got["kiosk.checkins"].config == {"retention.ms": "259200000", "segment.ms": "86400000"}
    assert got["scoring.assessments"].retention_ms == 400 * DAY_MS
    # and the check-ins' dead letters, which may not outlive the scans they copy
    assert {n for n, s in got.items() if s != SPECS[n]} == {
        "kiosk.checkins",
        "kiosk.checkins.dlq",
        "scoring.assessments",
    }


def test_forever_drops_the_segment_setting_so_the_topic_is_back_to_the_brokers_default():
    assert _resolved(LS_RETENTION_KIOSK_CHECKINS="forever")["kiosk.checkins"].config == {"retention.ms": "-1"}


def test_forever_on_a_replayed_topic_is_accepted():
    assert _resolved(LS_RETENTION_ACTIVITIES_ATTENDANCE="forever") == SPECS


def test_dead_letters_of_the_secret_sign_in_codes_follow_a_shorter_retention_of_the_codes():
    got = _resolved(LS_RETENTION_ENROLMENT_SIGN_IN_CODES="6m")
    assert got["enrolment.sign-in-codes.dlq"].retention_ms == 6 * MINUTE_MS
    assert _resolved(LS_RETENTION_ENROLMENT_SIGN_IN_CODES_DLQ="5m")["enrolment.sign-in-codes.dlq"].retention_ms == (
        5 * MINUTE_MS
    )


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"LS_RETENTION_KIOSK_CHECKINS": "3x"}, "LS_RETENTION_KIOSK_CHECKINS='3x' is not a retention: use a whole"),
        ({"LS_RETENTION_KIOSK_CHECKIN": "3d"}, "LS_RETENTION_KIOSK_CHECKIN names no topic (did you mean "),
        ({"LS_RETENTION_NOPE": "3d"}, "LS_RETENTION_NOPE names no topic: use LS_RETENTION_<TOPIC>"),
        ({"LS_RETENTION_ENROLMENT_CONTACTS": "1d"}, "enrolment.contacts is compacted"),
        (
            {"LS_RETENTION_ACTIVITIES_ATTENDANCE": "2d"},
            "activities.attendance is replayed by the scoring rebuild (python -m services.scoring rebuild) and the "
            "passport rebuild (python -m services.enrolment rebuild-passports), which start from their checkpoints: "
            "the scoring rebuild takes one every 86400 s (SCORING_CHECKPOINT_INTERVAL_SECONDS), so keep at least "
            "3 intervals (3d)",
        ),
        ({"LS_RETENTION_ACTIVITIES_NEEDS": "1d"}, "replayed by the scoring rebuild (python -m services.scoring"),
        ({"LS_RETENTION_SCORING_HONOURS": "1d"}, "the passport rebuild takes one every 86400 s"),
        (
            {"LS_RETENTION_ACTIVITIES_NEEDS": "400d", "SCORING_CHECKPOINT_INTERVAL_SECONDS": "0"},
            "the scoring rebuild takes no checkpoints (SCORING_CHECKPOINT_INTERVAL_SECONDS=0)",
        ),
        (
            {"LS_RETENTION_ACTIVITIES_NEEDS": "400d", "SCORING_CHECKPOINT_INTERVAL_SECONDS": "daily"},
            "SCORING_CHECKPOINT_INTERVAL_SECONDS='daily' is not a number of seconds",
        ),
        ({"LS_RETENTION_ENROLMENT_SIGN_IN_CODES_DLQ": "1h"}, "may not outlive them; use at most its retention, 15m"),
        ({"LS_RETENTION_ENROLMENT_SIGN_IN_CODES_DLQ": "forever"}, "dead letters of enrolment.sign-in-codes"),
    ],
)
def test_refusals_are_one_line_naming_the_variable(environ, says):
    with pytest.raises(RetentionError) as refused:
        resolve_topic_specs(environ)
    message = str(refused.value)
    assert says in message
    assert "\n" not in message
    assert next(iter(environ)) in message


def test_every_replayed_topic_takes_a_retention_its_rebuilds_checkpoints_cover_and_no_less():
    """ADR 0010: a rebuild starts from its checkpoint (a day old at most by default) and needs the
    records after it; three intervals are kept so that two missed checkpoints lose nothing."""
    for name, spec in SPECS.items():
        if not spec.replayed_by:
            continue
        variable = retention_variable(name)
        assert {s.name: s for s in resolve_topic_specs({variable: "400d"})}[name].retention_ms == 400 * DAY_MS
        assert {s.name: s for s in resolve_topic_specs({variable: "3d"})}[name].retention_ms == 3 * DAY_MS
        with pytest.raises(RetentionError, match="so keep at least 3 intervals"):
            resolve_topic_specs({variable: "71h"})
        hourly = {variable: "3h", **{setting: "3600" for setting, _ in topics.CHECKPOINT_INTERVALS.values()}}
        assert {s.name: s for s in resolve_topic_specs(hourly)}[name].retention_ms == 3 * 3600 * 1000
        for rebuild in spec.replayed_by:  # any of its rebuilds without checkpoints: everything is needed
            setting = topics.CHECKPOINT_INTERVALS[rebuild][0]
            with pytest.raises(RetentionError, match=f"takes no checkpoints \\({setting}=0\\)"):
                resolve_topic_specs({variable: "400d", setting: "0"})


def test_dead_letters_never_outlive_the_records_they_copy():
    """A dead letter keeps the record's value (a scan holds a card number, a place and a time):
    the check-ins' dead letters were kept 30 days against the scans' 7."""
    assert SPECS["kiosk.checkins.dlq"].retention_ms == 7 * DAY_MS
    shorter = _resolved(LS_RETENTION_KIOSK_CHECKINS="3d")
    assert shorter["kiosk.checkins.dlq"].retention_ms == 3 * DAY_MS
    assert _resolved(LS_RETENTION_KIOSK_CHECKINS_DLQ="2d")["kiosk.checkins.dlq"].retention_ms == 2 * DAY_MS
    with pytest.raises(topics.RetentionError, match="may not outlive"):
        _resolved(LS_RETENTION_KIOSK_CHECKINS_DLQ="30d")
    # a source kept forever: its dead letters keep the 30 days operators have to look at them
    assert SPECS["activities.attendance.dlq"].retention_ms == 30 * DAY_MS
