"""The dependency locks (requirements/*.txt, written by `make lock`) are what the image and .venv
install with --require-hashes: every pin of pyproject.toml is in them at its version, every entry
carries hashes, and the runtime set holds none of the test or local-stack tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_EXTRAS = ("dev", "bench", "local", "lock")


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0]).lower()


def _pins(requirements: list[str]) -> dict[str, str]:
    return {_name(r): r.split("==", 1)[1].split(";")[0].strip() for r in requirements if "==" in r}


def lock(path: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile output."""
    entries: dict[str, tuple[str, int]] = {}
    text = (ROOT / path).read_text()
    for block in re.split(r"\n(?=\S)", text):
        first = block.strip().splitlines()[0] if block.strip() else ""
        if not first or first.startswith("#") or first.startswith("-"):
            continue
        match = re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)", first)
        assert match, f"{path}: an entry without an exact pin: {first!r}"
        entries[_name(match.group(1))] = (match.group(2), block.count("--hash=sha256:"))
    return entries


RUNTIME = lock("requirements/runtime.txt")
DEV = lock("requirements/dev.txt")


def test_every_locked_entry_is_pinned_and_hashed():
    for path, entries in (("runtime", RUNTIME), ("dev", DEV)):
        assert entries, f"{path} lock is empty"
        unhashed = [name for name, (_, hashes) in entries.items() if hashes == 0]
        assert not unhashed, f"{path} lock entries without a hash: {unhashed}"


def test_the_runtime_lock_holds_every_runtime_pin_at_its_version():
    for name, version in _pins(PYPROJECT["project"]["dependencies"]).items():
        assert RUNTIME.get(name, (None,))[0] == version, f"{name}=={version} in pyproject, lock has {RUNTIME.get(name)}"


def test_the_dev_lock_holds_every_pin_and_the_runtime_set_at_the_same_versions():
    extras = PYPROJECT["project"]["optional-dependencies"]
    pins = _pins(PYPROJECT["project"]["dependencies"] + [r for e in DEV_EXTRAS for r in extras[e]])
    for name, version in pins.items():
        assert DEV.get(name, (None,))[0] == version, f"{name}=={version} in pyproject, dev lock has {DEV.get(name)}"
    # the tests exercise what production runs: a shared package has one version in both
    differ = {n: (v, DEV[n][0]) for n, (v, _) in RUNTIME.items() if n in DEV and DEV[n][0] != v}
    assert not differ, f"runtime and dev locks disagree: {differ}"


def test_test_and_local_stack_tools_stay_out_of_the_runtime_set():
    tools = {"pytest", "ruff", "hypothesis", "schemathesis", "aiosmtpd", "pip-tools", "py-spy", "confluent-kafka"}
    assert not tools & set(RUNTIME), f"in the image's lock: {sorted(tools & set(RUNTIME))}"
    assert tools <= set(DEV)


def test_the_project_builds_from_the_locked_backend():
    # `pip install --no-build-isolation` takes setuptools from the lock, not unhashed from the index
    assert "setuptools" in RUNTIME and "setuptools" in DEV
