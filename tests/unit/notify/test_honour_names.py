"""Every honour scoring can award has a name in zh-CN and en in the reference data, and notify's
message shows that name, never the raw kind."""

from __future__ import annotations

import pytest

from services.notify.adapters.templates import LANGUAGES, Templates
from services.notify.config import TEMPLATES
from services.notify.domain import model
from services.scoring.domain import honours
from shared.reference import load_reference

AWARDED = [*honours.RULE_KINDS, honours.competition_kind("quiz-2026"), *honours.NOMINATED_KINDS]


def test_scoring_awards_the_rule_kinds_competition_places_and_nominated_kinds():
    assert set(honours.KINDS) == {*honours.RULE_KINDS, honours.KNOWLEDGE_COMPETITION, *honours.NOMINATED_KINDS}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", honours.KINDS)
def test_every_honour_kind_is_named_in_the_reference_data(kind, language):
    assert load_reference().honours[kind][language].strip()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", AWARDED)
def test_notify_renders_the_honour_name_not_the_kind(kind, language):
    templates = Templates(TEMPLATES)
    name = templates.honour_name(kind, language)
    assert name == load_reference().honours[kind.split(":", 1)[0]][language]
    rendered = model.render(templates.text(language, "honour_awarded"), {"honour_name": name, "period": "2026"})
    assert name in rendered.subject and name in rendered.body
    assert kind.split(":", 1)[0] not in rendered.subject + rendered.body


def test_the_shipped_names_are_the_official_ones():
    names = load_reference().honours
    assert names["learning_star"] == {"zh-CN": "百姓学习之星", "en": "Learning Star of the People"}
    assert names["learning_family"] == {"zh-CN": "书香家庭", "en": "Book-Fragrant Family"}
    assert names["most_beautiful_family"]["zh-CN"] == "最美家庭"
    assert names["advanced_party_organisation"]["zh-CN"] == "先进基层党组织"
    assert names["learning_organisation"]["zh-CN"] == "学习型组织"
