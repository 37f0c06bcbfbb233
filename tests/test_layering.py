"""The import structure: models/ stays pure PyTorch (never Qt, never the app), and no module of models/ or
sketchpad/ imports another in a circle (napari's import-linter contracts, as a plain test)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "sketchpad")
FORBIDDEN_IN_MODELS = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "sketchpad")


def _modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name ('models.train.loop', 'sketchpad.cli' for its
    __init__)."""
    out = {}
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module, *, any_depth: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run: at module level (inside module-level if/try/with too), or anywhere when
    any_depth; never those under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
        elif any_depth or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):  # class bodies run
            stack.extend(ast.iter_child_nodes(node))


def _imported_names(module: str, path: Path, *, any_depth: bool) -> Iterator[tuple[str, int]]:
    """(absolute dotted name, line) for each name the module imports; `from X import y` gives X.y (a
    submodule or an attribute of X; the caller tells them apart)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _import_nodes(tree, any_depth=any_depth):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
            continue
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            yield f"{source}.{alias.name}", node.lineno


def _graph(*, any_depth: bool) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours: line}. An import of a.b.c also runs a and a.b; a module's own
    enclosing packages are left out (Python initialises them before the module itself)."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, {})
        own_parents = {module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)}
        for name, line in _imported_names(module, path, any_depth=any_depth):
            while name and name not in MODULES:  # `from X import attr`: the module is X
                name = name.rpartition(".")[0]
            parts = name.split(".")
            for target in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if target in MODULES and target != module and target not in own_parents:
                    edges.setdefault(target, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle per strongly connected component (Tarjan), each as a path that returns to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    def circle(comp: list[str]) -> list[str]:  # shortest way from the first member back to itself
        members, start = set(comp), comp[0]
        paths = {start: [start]}
        frontier = [start]
        while frontier:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start:
                        return paths[v] + [start]
                    if w in members and w not in paths:
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
            frontier = nxt
        raise AssertionError(f"no circle in component {comp}")

    return [circle(c) for c in components]


def _describe(cycles: list[list[str]], graph: dict[str, dict[str, int]]) -> str:
    return "\n".join(
        " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(c, c[1:], strict=False)) + f" -> {c[-1]}"
        for c in cycles
    )


def test_the_graph_sees_relative_and_absolute_imports():
    """The parser is what the circle tests rely on: it must see `from . import x` and package imports."""
    graph = _graph(any_depth=False)
    assert "models.checkpoint" in graph["models.inference"]
    assert "sketchpad.paths" in graph["sketchpad.app"]
    assert graph["sketchpad.cli.translate"].keys() >= {"models.inference", "sketchpad.paths"}
    assert "models" in graph["sketchpad.cli.translate"]  # `import models.x` runs models/__init__ too
    toy = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _cycles(toy) == [["a", "b", "c", "a"]]
    assert _describe(_cycles(toy), toy) == "a (line 1) -> b (line 2) -> c (line 3) -> a"


def test_function_level_and_type_checking_imports(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(
        "import os\nif TYPE_CHECKING:\n    import PySide6\ntry:\n    from . import sibling\nexcept ImportError:\n"
        "    pass\nclass C:\n    import json\n    def m(self):\n        from sketchpad import paths\n"
    )
    top = {n for n, _ in _imported_names("models.pkg.mod", src, any_depth=False)}
    every = {n for n, _ in _imported_names("models.pkg.mod", src, any_depth=True)}
    assert top == {"os", "models.pkg.sibling", "json"}
    assert every == top | {"sketchpad.paths"}


def test_no_import_circle_at_module_level():
    graph = _graph(any_depth=False)
    cycles = _cycles(graph)
    assert not cycles, "import circles between modules:\n" + _describe(cycles, graph)


def test_no_import_circle_even_inside_functions():
    """An import inside a function hides a circle from Python until that function runs; it is one still."""
    graph = _graph(any_depth=True)
    cycles = _cycles(graph)
    assert not cycles, "import circles, counting imports inside functions:\n" + _describe(cycles, graph)


def test_the_runtime_layer_points_down():
    """The Translator uses the fast runners, they the ONNX exporter, both the mode helpers; never back up."""
    graph = _graph(any_depth=True)

    def below(module: str) -> set[str]:
        seen, todo = set(), [module]
        while todo:
            for m in graph[todo.pop()]:
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    assert {"models.fast", "models.export", "models.modes"} <= below("models.inference")
    for lower in ("models.fast", "models.export", "models.modes"):
        assert "models.inference" not in below(lower), f"{lower} reaches models.inference"
    assert "models.fast" not in below("models.export")


def test_models_source_never_imports_qt_or_sketchpad():
    """Any import statement in models/, at any depth (a function-level import hides from the runtime check)."""
    bad = []
    for module, path in MODULES.items():
        if module.split(".")[0] != "models":
            continue
        for name, line in _imported_names(module, path, any_depth=True):
            if name.split(".")[0] in FORBIDDEN_IN_MODELS:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_models_never_imports_qt_or_sketchpad():
    code = (
        "import sys, pkgutil, importlib, models\n"
        "for m in pkgutil.walk_packages(models.__path__, 'models.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [n for n in sys.modules if n.split('.')[0] in {FORBIDDEN_IN_MODELS!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_translate_command_does_not_load_qt():
    code = "import sys; from sketchpad.cli import build_parser; build_parser(); print([n for n in sys.modules if n.startswith('PySide6')])"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
