"""Templates a street can edit: `<dir>/<language>/<kind>.txt`. Honour names are the street's
reference data (`honours.yaml` beside `communities.yaml`, read by shared/reference.py), the same
names scoring's API, the dashboard and the report show."""

from __future__ import annotations

from pathlib import Path

from services.notify.domain.model import KINDS, template_fields
from shared.reference import DEFAULT_LANGUAGE, LANGUAGES, Reference, load_reference


class Templates:
    def __init__(self, directory: Path, reference: Reference | None = None) -> None:
        self.directory = Path(directory)
        self.texts: dict[tuple[str, str], str] = {}
        for language in LANGUAGES:
            for kind in KINDS:
                path = self.directory / language / f"{kind}.txt"
                if not path.exists():
                    raise FileNotFoundError(f"notification template {path} is missing")
                self.texts[(language, kind)] = path.read_text(encoding="utf-8")
        self.reference = reference or load_reference()

    def text(self, language: str, kind: str) -> str:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        return self.texts[(language, kind)]

    def fields(self, kind: str) -> set[str]:
        """The fields a kind's message shows in any language."""
        return set().union(*(template_fields(self.texts[(language, kind)]) for language in LANGUAGES))

    def honour_name(self, kind: str, language: str) -> str:
        return self.reference.honour_name(kind, language)

    def street_name(self, language: str) -> str:
        street = self.reference.street
        return street.name_en if language == "en" else street.name_zh
