"""The district view's pure rules (services/scoring/domain/district.py, ADR 0022): which streets a
district instance reads, which of two index updates is kept, and the views it serves."""

from __future__ import annotations

import inspect
import uuid
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


class _Conn:
    """What the handler writes through (adapters/district.py `upsert`): the statements it ran."""

    def __init__(self) -> None:
        self.written: list[tuple] = []

    async def execute(self, _sql: str, *args) -> str:
        self.written.append(args)
        return "INSERT 0 1"


def _apply(at: datetime, **deps):
    import asyncio
    from types import SimpleNamespace

    from aiokafka.structs import ConsumerRecord

    from services.scoring.service_layer.district import DistrictDeps, on_index_updated
    from shared.events.catalogue import IndexUpdated
    from shared.events.codec import Incoming

    conn = _Conn()
    uow = SimpleNamespace(conn=conn, deps=DistrictDeps(street_of_topic={"nanwan.scoring.index": "nanwan"}, **deps))
    event = IndexUpdated(community_id="street", total=50.0, aspects=ASPECTS, computed_at=at)
    record = ConsumerRecord("nanwan.scoring.index", 0, 7, 0, 0, b"street", b"{}", None, 0, 0, [])
    meta = Incoming(uuid.uuid4(), "learnstreet.scoring.index.updated.v1", event, record)
    asyncio.run(on_index_updated(uow, event, meta))
    return conn.written


def test_an_update_dated_beyond_the_allowed_clock_skew_is_dead_lettered_not_kept():
    from shared.events.codec import DeadLetter

    clock = {"now": lambda: T0}
    assert len(_apply(T0 + timedelta(minutes=5), **clock)) == 1  # at the default skew: kept
    with pytest.raises(DeadLetter) as refused:  # a street whose clock is far ahead would pin its row
        _apply(T0 + timedelta(minutes=5, seconds=1), **clock)
    assert refused.value.code == "computed_at_in_future"
    assert "301 s ahead" in refused.value.detail and "SCORING_DISTRICT_MAX_CLOCK_SKEW_S" in refused.value.detail
    with pytest.raises(DeadLetter):
        _apply(T0 + timedelta(seconds=31), max_clock_skew=timedelta(seconds=30), **clock)
    assert len(_apply(T0 - timedelta(days=30), **clock)) == 1  # a late one is only older (supersedes)


def test_the_allowed_clock_skew_is_a_setting_the_district_consumer_gets(monkeypatch):
    from types import SimpleNamespace

    from services.scoring import bootstrap
    from services.scoring.config import settings
    from services.scoring.entrypoints import district

    for key, value in {"SCORING_KAFKA_USERNAME": "scoring", "SCORING_KAFKA_PASSWORD": "pw", "SCORING_HTTP_PORT": "1",
                       "SCORING_DATABASE_URL": "postgresql://s:p@127.0.0.1:1/scoring", "LS_JWT_SECRET": "k" * 40,
                       "SCORING_DISTRICT_STREETS": "nanwan"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SCORING_DISTRICT_MAX_CLOCK_SKEW_S", raising=False)
    assert settings().district_max_clock_skew_s == 300.0
    monkeypatch.setenv("SCORING_DISTRICT_MAX_CLOCK_SKEW_S", "45")
    assert settings().district_max_clock_skew_s == 45.0
    seen = {}
    runtime = SimpleNamespace(deps=None, consume=lambda *topics, **kw: seen.update(topics=topics, **kw))
    monkeypatch.setattr(bootstrap, "Runtime", lambda *a, **kw: runtime)
    monkeypatch.setattr(bootstrap, "create_app", lambda *a, **kw: SimpleNamespace(state=SimpleNamespace()))
    monkeypatch.setattr(bootstrap.dashboard, "configure", lambda app: None)
    bootstrap.build_app(settings())
    assert seen["topics"] == ("nanwan.scoring.index",) and runtime.deps.max_clock_skew == timedelta(seconds=45)
    assert inspect.signature(district.register).parameters["max_clock_skew"].default == timedelta(minutes=5)
    # the consumer group: the default, or SCORING_DISTRICT_GROUP for a second district deployment
    assert seen["group_id"] == "learnstreet.scoring.district"
    monkeypatch.setenv("SCORING_DISTRICT_GROUP", "learnstreet.scoring.district-2")
    bootstrap.build_app(settings())
    assert seen["group_id"] == "learnstreet.scoring.district-2"


@pytest.mark.parametrize(
    ("group", "says"),
    [
        ("learnstreet.enrolment.district", "use a group under learnstreet.scoring."),
        ("district", "use a group under learnstreet.scoring."),
        ("learnstreet.scoringx", "use a group under learnstreet.scoring."),
        ("learnstreet.scoring", "the street's own scoring group"),
    ],
)
def test_a_district_group_outside_scorings_acl_or_the_streets_own_is_refused_in_one_line(group, says):
    from services.scoring.entrypoints import district

    with pytest.raises(DistrictSettingError) as refused:
        district.group_id(group)
    assert says in str(refused.value) and "SCORING_DISTRICT_GROUP" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert district.group_id("") == district.GROUP == "learnstreet.scoring.district"


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
    streets = {"pinghu": "scoring.index", "nanwan": "nanwan.scoring.index", "dawang": "dawang.scoring.index"}
    names = names_for(streets, "reference/pinghu")
    assert names["pinghu"]["street"]["name_zh"] == "平湖街道"
    assert names["pinghu"]["xinnan"]["name_en"] == "Xinnan"
    assert names["nanwan"]["street"]["name_zh"] == "南湾街道"  # reference/nanwan beside reference/pinghu
    assert "dawang" not in names  # no reference/dawang: the page shows its ids
    assert names_for({"dawang": "dawang.scoring.index"}, "reference/pinghu") == {}


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
