"""The street's reference data, and the one place for the names shown to people.

A street replaces the folder with its own (`LS_REFERENCE_DIR`, default `reference/pinghu`):
- `communities.yaml`: the street (id, names, population), its communities (id, names,
  population) and the learning themes (id, names);
- `honours.yaml`: the name of every honour kind in zh-CN and en.

Indicator and aspect names live in the indicator file (`services/scoring/indicators/`) and reach
the dashboard and the report through scoring's API.

The one rule for paths: a relative reference directory is resolved against the repository root
(the directory holding `shared/`, `/app` in the image), whatever the process's working directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = "reference/pinghu"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class Street:
    id: str
    name_zh: str
    name_en: str
    population: int


@dataclass(frozen=True)
class Community:
    id: str
    name_zh: str
    name_en: str
    population: int


@dataclass(frozen=True)
class Theme:
    id: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Reference:
    street: Street
    communities: Mapping[str, Community]
    themes: Mapping[str, Theme]
    honours: Mapping[str, Mapping[str, str]]  # honour kind → language → name

    def honour_name(self, kind: str, language: str) -> str:
        """The honour's name in `language` (zh-CN when that is missing). A competition honour's kind is
        `knowledge_competition:<competition id>` and takes the name of `knowledge_competition`; an
        unknown kind is shown as its words rather than not at all."""
        names = self.honours.get(kind) or self.honours.get(kind.split(":", 1)[0]) or {}
        return names.get(language) or names.get(DEFAULT_LANGUAGE) or kind.replace("_", " ")


def resolve(directory: str | Path) -> Path:
    path = Path(directory)
    return path if path.is_absolute() else ROOT / path


def load_reference(directory: str | Path = DEFAULT_DIR) -> Reference:
    path = resolve(directory)
    data = yaml.safe_load((path / "communities.yaml").read_text(encoding="utf-8"))
    street = data["street"]
    honours_file = path / "honours.yaml"
    honours = yaml.safe_load(honours_file.read_text(encoding="utf-8")) or {} if honours_file.exists() else {}
    return Reference(
        street=Street(street["id"], street["name_zh"], street["name_en"], int(street["population"])),
        communities={
            c["id"]: Community(c["id"], c["name_zh"], c["name_en"], int(c["population"])) for c in data["communities"]
        },
        themes={t["id"]: Theme(t["id"], t["name_zh"], t["name_en"]) for t in data.get("themes") or []},
        honours={str(kind): dict(names) for kind, names in honours.items()},
    )
