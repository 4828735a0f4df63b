"""The container image, checked statically (no Docker engine here, and no image is built)."""

from __future__ import annotations

import json
import re

from tests.unit.ops.tooling import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str, str]]:
    """(stage, instruction, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, args = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.search(r"\bAS\s+(\S+)", args, re.IGNORECASE)
            stage = m.group(1) if m else args
        out.append((stage, word, args.strip()))
    return out


def stage_value(stage: str, word: str) -> str | None:
    """The last value of an instruction in a stage, following `FROM <stage>` inheritance."""
    parents = {s: a.split()[0] for s, w, a in instructions() if w == "FROM"}
    chain, s = [], stage
    while s in parents:
        chain.append(s)
        s = parents[s]
    for s in chain:
        values = [a for st, w, a in instructions() if st == s and w == word]
        if values:
            return values[-1]
    return None


def test_runtime_and_provision_stages_exist() -> None:
    stages = {s for s, w, _ in instructions() if w == "FROM"}
    assert {"runtime", "provision"} <= stages


def test_entrypoint_and_cmd_are_exec_form() -> None:
    # shell form would make /bin/sh PID 1, and SIGTERM would never reach uvicorn
    found = [(s, w, a) for s, w, a in instructions() if w in {"ENTRYPOINT", "CMD"}]
    assert found
    for stage, word, args in found:
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{stage} {word}: {args}"
    assert json.loads(stage_value("runtime", "ENTRYPOINT")) == ["python", "-m"]
    assert json.loads(stage_value("runtime", "CMD"))[0].startswith("services.")


def test_images_run_as_non_root() -> None:
    for stage in ("runtime", "provision"):
        user = stage_value(stage, "USER")
        assert user, f"{stage}: no USER"
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{stage}: USER {user} (numeric, so runAsNonRoot can check it)"


def test_graceful_shutdown_signal_and_every_service_listens_on_all_interfaces() -> None:
    assert stage_value("runtime", "STOPSIGNAL") == "SIGTERM"
    env = " ".join(a for s, w, a in instructions() if s == "runtime" and w == "ENV")
    for service, port in {"ACTIVITIES": 8101, "ENROLMENT": 8102, "SCORING": 8103, "NOTIFY": 8104}.items():
        assert f"{service}_HTTP_HOST=0.0.0.0" in env
        assert f"{service}_HTTP_PORT={port}" in env


def test_dependencies_are_installed_from_the_hash_locked_runtime_set() -> None:
    runs = " ".join(a for _, w, a in instructions() if w == "RUN")
    assert "--require-hashes -r requirements/runtime.txt" in runs
    assert "requirements/dev.txt" not in runs, "test and local-stack tools stay out of the image"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "**", "deny everything first, then allow what the image needs"
    assert ".local" in lines and ".venv" in lines
    allowed = {line[1:].removesuffix("/**") for line in lines if line.startswith("!")}
    for _, word, args in instructions():
        if word != "COPY" or "--from" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
            assert src in allowed, f"COPY source {src} is excluded by .dockerignore"
