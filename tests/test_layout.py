"""The house's shape, read from the code: the packages' import graph follows the layers
of the design (nothing imports upward, no circle between packages) and no product
module grows past the size a reader can hold.

Every import counts, including the ones inside functions (a lazy import is still a
dependency; it only moves its cost)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "corrigo"

#: Lowest first. A package may import its own layer's packages (without a circle) and
#: every layer below it, never one above.
LAYERS: list[set[str]] = [
    {"errors"},
    {"config", "records"},
    {"liveness", "checks", "models", "sandbox", "storage"},
    {"tasks"},
    {"agents"},
    {"lessons"},
    {"graphs"},
    {"lifecycle"},
    {"replay", "bench", "export", "doctor", "testing"},
    {"serve"},
    {"cli"},
]
#: The public API's facade (names resolved lazily) and ``python -m corrigo``.
ENTRY = {"__init__", "__main__"}
#: The faces that call the public API (``import corrigo``) rather than its modules.
FACES = {"serve", "cli"}
MAX_LINES = 500


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n == "corrigo" or n.startswith("corrigo.")}


def _package_graph() -> dict[str, dict[str, set[str]]]:
    """package → imported package → the modules that import it (for messages)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module, path in _modules().items():
        source = _package(module)
        for name in _imports(path):
            target = _package(name)
            if target != source:
                graph[source][target].add(module)
    return graph


def _layer(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package corrigo.{package} is in no layer of tests/test_layout.py")


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in _modules()} - ENTRY
    for package in packages:
        _layer(package)


def test_no_import_from_a_higher_layer() -> None:
    upward = []
    for source, targets in _package_graph().items():
        if source in ENTRY:
            continue
        for target, modules in targets.items():
            if target in ENTRY and source in FACES:
                continue
            if target in ENTRY or _layer(target) > _layer(source):
                upward.append(f"{source} → {target} (in {', '.join(sorted(modules))})")
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_circle_between_packages() -> None:
    graph = {s: set(t) - ENTRY for s, t in _package_graph().items() if s not in ENTRY}
    circles = []
    for start in graph:
        # Is ``start`` reachable from one of its own imports?
        seen: set[str] = set()
        stack = list(graph.get(start, ()))
        while stack:
            node = stack.pop()
            if node == start:
                circles.append(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
    assert not circles, f"packages on a circle: {sorted(circles)}"


def test_storage_imports_records_never_graphs() -> None:
    targets = set(_package_graph().get("storage", {}))
    assert targets <= {"errors", "config", "records"}, targets


def test_no_product_module_is_too_long() -> None:
    long = {
        str(path.relative_to(ROOT.parent)): n
        for path in ROOT.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
