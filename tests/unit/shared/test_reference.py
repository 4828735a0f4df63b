"""The street's reference data: one loader, one rule for relative paths, honour names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.reference import LANGUAGES, ROOT, load_reference


def test_a_relative_directory_is_read_from_the_repository_root_whatever_the_working_directory(tmp_path: Path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ref = load_reference("reference/pinghu")
    finally:
        os.chdir(cwd)
    assert ref == load_reference(ROOT / "reference" / "pinghu")
    assert ref.street.id == "pinghu" and ref.street.population == 506_400
    assert len(ref.communities) == 12 and ref.communities["xinnan"].name_zh == "新南"
    assert ref.themes["safety"].name_en == "Safety"


@pytest.mark.parametrize("language", LANGUAGES)
def test_honour_names_fall_back_to_the_kind_family_then_to_words(language):
    ref = load_reference()
    assert ref.honour_name("knowledge_competition:quiz-7", language) == ref.honour_name(
        "knowledge_competition", language
    )
    assert ref.honour_name("new_kind", language) == "new kind"
