"""Guard: every service takes its auth dependencies from shared/http/auth.py and defines none of its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHARED_NAMES = {"AnyUser", "Operator", "Assessor", "Kiosk", "ResidentOrOperator", "ResidentOnly"}
# Building blocks of an auth dependency: only shared/http may call them.
AUTH_CALLS = {"require", "authenticate", "HTTPBearer"}


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        found += [f"defines {t.id}" for t in targets if isinstance(t, ast.Name) and t.id in SHARED_NAMES]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in SHARED_NAMES:
            found.append(f"defines {node.name}")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in AUTH_CALLS:
                found.append(f"calls {name}() (line {node.lineno})")
    return [f"{path.relative_to(root)}: {what}" for what in found]


def test_no_service_defines_its_own_auth_dependencies():
    offences = [o for path in sorted((ROOT / "services").rglob("*.py")) for o in _offences(path)]
    assert not offences, (
        "auth dependencies live in shared/http/auth.py (add a role set there and import it): " + "; ".join(offences)
    )


def test_the_guard_sees_a_local_definition(tmp_path: Path):
    module = tmp_path / "http.py"
    module.write_text(
        "from shared.http.auth import require\nResidentOrOperator = Annotated[P, Depends(require('resident'))]\n"
    )
    offences = {o.split(": ", 1)[1] for o in _offences(module, tmp_path)}
    assert offences == {"defines ResidentOrOperator", "calls require() (line 2)"}
