"""The layer contract (docs/architecture.md), checked by walking every module's imports
with ``ast``: a layer imports only its own layer and the ones below it, and no two
modules import each other, directly or round a longer circle.

    cli, web, pipeline                      (top)
    study, assess, evaluation, training
    data, store, models, vision, clinical
    core                                    (bottom)

``study`` sits above store and clinical and may call assess and evaluation; it is
below web, cli and pipeline. Imports under ``if TYPE_CHECKING:`` are for annotations
only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "pedpain"

LAYERS = {
    "cli": 4,
    "web": 4,
    "pipeline": 4,
    "study": 3,
    "assess": 3,
    "evaluation": 3,
    "training": 3,
    "data": 2,
    "store": 2,
    "models": 2,
    "vision": 2,
    "clinical": 2,
    "core": 1,
}
#: Same-layer imports that are allowed (everything else within a layer is too, except
#: where listed as forbidden below).
ALLOWED_ACROSS = {("study", "assess"), ("study", "evaluation")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """pedpain modules ``name`` imports (at any depth of the file, not for typing)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                # ``from pedpain.web import care`` imports the module care (Python loads
                # a submodule even from a package still initialising); a name defined
                # in the package's __init__ is an import of the package itself.
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


GRAPH = _graph()


def test_the_contract_names_every_package():
    areas = {_area(m) for m in GRAPH if _area(m) and (PACKAGE / _area(m)).is_dir()}  # type: ignore[operator]
    assert areas <= set(LAYERS), f"packages without a layer: {areas - set(LAYERS)}"


def test_lower_layers_never_import_upper_ones():
    wrong = []
    for module, imported in GRAPH.items():
        here = _area(module)
        if here not in LAYERS:
            continue
        for other in imported:
            there = _area(other)
            if there not in LAYERS or there == here:
                continue
            if LAYERS[there] > LAYERS[here] or (
                LAYERS[there] == LAYERS[here]
                and here == "study"
                and (here, there) not in ALLOWED_ACROSS
            ):
                wrong.append(f"{module} imports {other}")
    assert not wrong, "layer contract broken:\n" + "\n".join(sorted(wrong))


def test_same_layer_packages_do_not_depend_on_each_other_both_ways():
    edges = {
        (_area(a), _area(b))
        for a, targets in GRAPH.items()
        for b in targets
        if _area(a) != _area(b) and _area(a) in LAYERS and _area(b) in LAYERS
    }
    both = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)  # type: ignore[operator]
    assert not both, "packages importing each other: " + ", ".join(both)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                connect(w)
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

    for v in sorted(GRAPH):
        if v not in index:
            connect(v)
    return found


def test_no_import_circles():
    # A package's __init__ re-exporting its modules is not a circle of ideas; the
    # circles that matter are between modules.
    cycles = [
        [m for m in c if not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").is_file()]
        for c in _cycles()
    ]
    cycles = [c for c in cycles if len(c) > 1]
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    "module",
    ["pedpain.training.run", "pedpain.training.distill", "pedpain.training.temporal"],
)
def test_training_modules_use_no_private_names_of_each_other(module: str):
    path = _modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pedpain")
        for a in node.names
        if a.name.startswith("_")
    ]
    assert not private, private
