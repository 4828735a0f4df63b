"""The layering of the product code, read from the source (every import, module-level or inside a
function): a service imports only itself and shared/; shared/ imports no service; and no two
product modules import each other, directly or through others.

The self-tests feed the same checks synthetic modules, so a broken guard cannot pass silently."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("services", "shared")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never executed)."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }


def imported_modules(
    source: str, module: str, *, is_package: bool = False, executed_only: bool = False
) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in `source`, relative ones resolved against `module`;
    `executed_only` leaves out imports made for type checkers only."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    skipped = _type_checking_only(tree) if executed_only else set()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from pkg import name` may import the submodule pkg.name: count both.
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def product_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for top in PRODUCT for p in sorted((root / top).rglob("*.py"))}


def owner(module: str) -> str | None:
    """`services.<name>` for a service's module, `shared` for the kit, None outside the product."""
    parts = module.split(".")
    if parts[0] == "services" and len(parts) > 1:
        return f"services.{parts[1]}"
    return "shared" if parts[0] == "shared" else None


def layering_violations(modules: dict[str, str], packages: frozenset[str] = frozenset()) -> list[str]:
    """`modules`: dotted name → source. One line per import that crosses a boundary it must not."""
    out = []
    for name, source in sorted(modules.items()):
        mine = owner(name)
        reported: set[tuple[int, str]] = set()  # one line per import statement and service
        for line, target in imported_modules(source, name, is_package=name in packages):
            theirs = owner(target)
            if theirs is None or theirs in (mine, "shared") or (line, theirs) in reported:
                continue
            reported.add((line, theirs))
            if mine == "shared":
                out.append(f"{name}:{line} imports {target}: shared/ must not depend on a service")
            else:
                out.append(f"{name}:{line} imports {target}: a service must not import another service")
    return out


def import_graph(modules: dict[str, str], packages: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """Edges between the given modules only, from the imports that run. `from pkg import name`
    is an edge to pkg.name when that is a module, else to pkg (a package re-exporting its own
    modules is not a cycle)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, source in modules.items():
        by_line: dict[int, list[str]] = {}
        for line, target in imported_modules(source, name, is_package=name in packages, executed_only=True):
            by_line.setdefault(line, []).append(target)
        for targets in by_line.values():
            submodules = [t for t in targets[1:] if t in modules and t.rpartition(".")[0] == targets[0]]
            for target in submodules or targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _sources() -> tuple[dict[str, str], frozenset[str]]:
    paths = product_modules()
    packages = frozenset(name for name, path in paths.items() if path.name == "__init__.py")
    return {name: path.read_text(encoding="utf-8") for name, path in paths.items()}, packages


# --- the product ---------------------------------------------------------------------------------


def test_services_import_only_themselves_and_shared() -> None:
    sources, packages = _sources()
    assert len(sources) > 50, "the walk found too few modules: is ROOT right?"
    violations = layering_violations(sources, packages)
    assert not violations, "\n".join(violations)


def test_no_import_cycles_in_product_code() -> None:
    sources, packages = _sources()
    found = cycles(import_graph(sources, packages))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# --- the guard guards ----------------------------------------------------------------------------


def test_guard_catches_a_service_importing_another_even_inside_a_function() -> None:
    sources = {
        "services.notify.service_layer.handlers": (
            "from shared.db.uow import UnitOfWork\n"
            "def handle():\n"
            "    from services.enrolment.domain.model import Status\n"
            "    return Status\n"
        ),
        "services.notify.adapters.repository": "import services.scoring.adapters.repository as scoring\n",
        "services.notify.domain.model": "from . import rules\nfrom ..adapters import channels\n",
    }
    assert layering_violations(sources) == [
        "services.notify.adapters.repository:1 imports services.scoring.adapters.repository:"
        " a service must not import another service",
        "services.notify.service_layer.handlers:3 imports services.enrolment.domain.model:"
        " a service must not import another service",
    ]


def test_guard_catches_shared_importing_a_service() -> None:
    sources = {"shared.bus.dispatch": "import asyncio\nfrom services.activities import metrics\n"}
    assert layering_violations(sources) == [
        "shared.bus.dispatch:2 imports services.activities: shared/ must not depend on a service",
    ]


def test_relative_imports_resolve_to_their_package() -> None:
    assert imported_modules("from ..adapters import repository", "services.enrolment.domain.model") == [
        (1, "services.enrolment.adapters"),
        (1, "services.enrolment.adapters.repository"),
    ]
    assert imported_modules("from . import model", "services.enrolment.domain", is_package=True) == [
        (1, "services.enrolment.domain"),
        (1, "services.enrolment.domain.model"),
    ]


def test_guard_catches_an_import_cycle() -> None:
    sources = {
        "shared.a": "import shared.b\n",
        "shared.b": "def late():\n    from shared.c import thing\n",
        "shared.c": "from shared import a\n",
        "shared.d": "import shared.a\n",
        "shared.e": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared.f import F\n",
        "shared.f": "import shared.e\n",
    }
    assert cycles(import_graph(sources)) == [["shared.a", "shared.b", "shared.c"]]


def test_no_import_cycles_in_the_local_stack_scripts() -> None:
    # deploy/local's scripts import each other by file name (the directory is put on sys.path).
    scripts = {p.stem: p.read_text(encoding="utf-8") for p in sorted((ROOT / "deploy" / "local").glob("*.py"))}
    assert {"stack", "provision"} <= scripts.keys()
    found = cycles(import_graph(scripts))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)
