"""Templates a street can edit: `<dir>/<language>/<kind>.txt` and `<dir>/honour_names.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.notify.domain.model import KINDS

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


class Templates:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.texts: dict[tuple[str, str], str] = {}
        for language in LANGUAGES:
            for kind in KINDS:
                path = self.directory / language / f"{kind}.txt"
                if not path.exists():
                    raise FileNotFoundError(f"notification template {path} is missing")
                self.texts[(language, kind)] = path.read_text(encoding="utf-8")
        names = self.directory / "honour_names.yaml"
        self.honour_names: dict[str, dict[str, str]] = (
            yaml.safe_load(names.read_text(encoding="utf-8")) or {} if names.exists() else {}
        )

    def text(self, language: str, kind: str) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        return self.texts[(language, kind)]

    def honour_name(self, kind: str, language: str) -> str:
        names = self.honour_names.get(kind) or {}
        return names.get(language) or names.get(DEFAULT_LANGUAGE) or kind.replace("_", " ")
