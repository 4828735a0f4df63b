"""Reference data a street replaces with its own folder (LS_REFERENCE_DIR): communities, themes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Reference:
    street_id: str
    communities: dict[str, dict]
    themes: dict[str, dict]


def load_reference(directory: str | Path) -> Reference:
    path = Path(directory)
    if not path.is_absolute():
        # Relative to the repository, so the service finds it whatever its working directory.
        path = Path(__file__).resolve().parents[3] / path
    data = yaml.safe_load((path / "communities.yaml").read_text(encoding="utf-8"))
    return Reference(
        street_id=data["street"]["id"],
        communities={c["id"]: c for c in data["communities"]},
        themes={t["id"]: t for t in data["themes"]},
    )
