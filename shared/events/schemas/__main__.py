"""`python -m shared.events.schemas [--write]`: report (or, with --write, refresh) the committed
event schemas. Refuse to refresh over a breaking change: that change needs a new version."""

from __future__ import annotations

import sys

from shared.events.schemas import CONTRACTS, breaking_changes, orphans, schema_of, snapshot, write


def main(argv: list[str]) -> int:
    breaking, stale = [], []
    for type_name, model in CONTRACTS.items():
        old, new = snapshot(type_name), schema_of(model)
        if old is None or old != new:
            stale.append(type_name)
        if old is not None:
            breaking += breaking_changes(type_name, old, new)
    for line in breaking:
        print(line, file=sys.stderr)
    if breaking:
        return 1
    if "--write" in argv:
        for path in write():
            print(f"wrote {path}")
        return 0
    for type_name in stale:
        print(f"{type_name}: snapshot missing or out of date (run with --write)")
    for type_name in orphans():
        print(f"{type_name}: snapshot of a type the catalogue no longer has")
    return 1 if stale or orphans() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
