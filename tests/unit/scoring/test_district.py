"""The district view's pure rules (services/scoring/domain/district.py, ADR 0022): which streets a
district instance reads, which of two index updates is kept, and the views it serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scoring.domain.district import (
    DistrictSettingError,
    IndexRow,
    overview,
    parse_streets,
    street_detail,
    supersedes,
)
from services.scoring.entrypoints.district import names_for

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
ASPECTS = {"organisation": 15.0, "implementation": 30.0}


def test_streets_are_read_with_their_topics_a_bare_id_being_the_prefixed_index():
    assert parse_streets("pinghu=scoring.index, nanwan ,") == {
        "pinghu": "scoring.index",
        "nanwan": "nanwan.scoring.index",
    }
    assert parse_streets("") == {} and parse_streets(None) == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("Pinghu", "'Pinghu' is not a street id"),
        ("pinghu=", "does not name a Kafka topic"),
        ("pinghu=scoring index", "does not name a Kafka topic"),
        ("nanwan,nanwan", "listed twice"),
        ("a1b=scoring.index,pinghu=scoring.index", "given to two streets"),
    ],
)
def test_a_bad_setting_is_refused_in_one_line_naming_the_variable(value, says):
    with pytest.raises(DistrictSettingError) as refused:
        parse_streets(value)
    message = str(refused.value)
    assert message.startswith("SCORING_DISTRICT_STREETS") and says in message and "\n" not in message


def test_only_a_newer_update_replaces_the_one_kept():
    assert supersedes(T0, None)
    assert supersedes(T0 + timedelta(seconds=1), T0)
    assert not supersedes(T0 - timedelta(seconds=1), T0)  # reordered: an older one arrives later
    assert not supersedes(T0, T0)  # redelivered


def _rows() -> list[IndexRow]:
    return [
        IndexRow("pinghu", "street", 61.5, ASPECTS, T0),
        IndexRow("pinghu", "xinnan", 55.0, ASPECTS, T0),
        IndexRow("pinghu", "hehua", 70.0, ASPECTS, T0),
        IndexRow("nanwan", "nanling", 40.0, ASPECTS, T0),
    ]


def test_the_overview_puts_every_configured_street_side_by_side_in_order():
    names = {"pinghu": {"street": {"name_zh": "平湖街道", "name_en": "Pinghu Street"}}}
    view = overview(["pinghu", "nanwan", "buji"], _rows(), names, [{"id": "organisation"}])
    assert [s["street"] for s in view["streets"]] == ["pinghu", "nanwan", "buji"]
    pinghu, nanwan, buji = view["streets"]
    assert pinghu["name_zh"] == "平湖街道" and pinghu["total"] == 61.5 and pinghu["communities"] == 2
    assert pinghu["aspects"] == ASPECTS and pinghu["computed_at"] == T0.isoformat()
    # no street row published yet: no total, but its communities are counted; names fall back to the id
    assert nanwan["total"] is None and nanwan["communities"] == 1 and nanwan["name_en"] == "nanwan"
    assert buji["total"] is None and buji["communities"] == 0
    assert view["aspects"] == [{"id": "organisation"}]


def test_the_drill_down_lists_a_streets_communities_highest_first_with_names():
    names = {"pinghu": {"xinnan": {"name_zh": "新南", "name_en": "Xinnan"}}}
    view = street_detail("pinghu", _rows(), names)
    assert view["total"] == 61.5
    assert [c["community_id"] for c in view["communities"]] == ["hehua", "xinnan"]
    assert view["communities"][1]["name_zh"] == "新南" and view["communities"][0]["name_zh"] == "hehua"


def test_names_come_from_the_reference_data_the_district_has():
    names = names_for({"pinghu": "scoring.index", "nanwan": "nanwan.scoring.index"}, "reference/pinghu")
    assert names["pinghu"]["street"]["name_zh"] == "平湖街道"
    assert names["pinghu"]["xinnan"]["name_en"] == "Xinnan"
    assert "nanwan" not in names  # no reference/nanwan: the page shows its ids
    assert names_for({"nanwan": "nanwan.scoring.index"}, "reference/pinghu") == {}


def test_provisioning_grants_the_district_read_on_each_street_index_it_names():
    import sys

    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import provision  # deploy/local/provision.py

    plain = provision.wanted_acls()
    district = provision.wanted_acls({"SCORING_DISTRICT_STREETS": "pinghu=scoring.index,nanwan"})
    added = district["scoring"] - plain["scoring"]
    assert added == {("TOPIC", "nanwan.scoring.index", "LITERAL", "READ"),
                     ("TOPIC", "nanwan.scoring.index", "LITERAL", "DESCRIBE")}  # fmt: skip
    assert ("TOPIC", "scoring.index", "LITERAL", "READ") in plain["scoring"]  # the catalogue's own
    assert {p: a for p, a in district.items() if p != "scoring"} == {p: a for p, a in plain.items() if p != "scoring"}
    with pytest.raises(DistrictSettingError):
        provision.wanted_acls({"SCORING_DISTRICT_STREETS": "Nope"})


def test_the_district_report_shows_every_street_and_its_communities_in_both_languages():
    from shared.report.district import render

    rows = _rows()
    names = {"pinghu": {"street": {"name_zh": "平湖街道", "name_en": "Pinghu Street"}}}
    aspects = [{"id": "organisation", "name_zh": "组织与管理", "name_en": "Organisation"}]
    data = {
        "overview": {"max": 100.0, **overview(["pinghu", "nanwan"], rows, names, aspects)},
        "details": {s: street_detail(s, rows, names) for s in ("pinghu", "nanwan")},
    }
    zh = render(data, period="2026", lang="zh-CN", generated_at=T0)
    assert "平湖街道" in zh and "组织与管理" in zh and "尚未发布" in zh and "61.5" in zh and "70.0" in zh
    assert "<script" not in zh and "http" not in zh.replace('lang="zh-CN"', "")  # self-contained
    en = render(data, period="2026", lang="en", generated_at=T0)
    assert "Pinghu Street" in en and "Organisation" in en and "not published yet" in en
    hostile = {**data, "details": {"pinghu": {"communities": [{**street_detail("pinghu", rows, names)["communities"][0],
                                                                "name_zh": "<b>x</b>"}]}}}  # fmt: skip
    assert "<b>x</b>" not in render(hostile, period="2026", lang="zh-CN", generated_at=T0)
