"""The tree's rules: arrows point down, nothing imports Streamlit but attnviz.ui, nothing imports torch
at import time, and no import cycle (read from the source, so a new module cannot slip past)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import attnviz

PACKAGE = Path(attnviz.__file__).resolve().parent
# What each part may import: ui/cli -> lesson -> figures/model -> learn -> attention, never back.
LAYERS = {
    "attention": set(),
    "learn": {"attention"},
    "model": {"attention", "learn"},  # qkv reads the Train page's trained layer
    "figures": {"attention"},
    "lesson": {"attention", "model", "figures"},
    "api": {"attention", "model", "figures", "lesson"},
    "cli": {"attention", "model", "learn", "figures", "lesson"},
    "ui": {"attention", "model", "learn", "figures", "lesson"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """The modules a file imports (`from x import y` counts x and x.y), leaving out `if TYPE_CHECKING:`
    blocks; with top_level_only, only those run at import time (not inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()

    def visit(node, top: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        inner = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if top_level_only and inner:
            return
        for child in ast.iter_child_nodes(node):
            visit(child, top and not inner)

    visit(tree, True)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        # a package that contains the module is imported before it anyway: not an edge
        graph[name] = {m for m in _imports(path) if m in files and m != name and m not in ancestors}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (one per back edge)."""
    found, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_the_package_has_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_arrows_point_down():
    wrong = []
    for name, deps in _graph().items():
        layer = name.split(".")[1] if "." in name else None
        if layer not in LAYERS:
            continue
        for dep in deps:
            other = dep.split(".")[1] if dep.count(".") else None
            if other and other != layer and other in LAYERS and other not in LAYERS[layer]:
                wrong.append(f"{name} -> {dep}")
    assert wrong == []


def test_only_the_ui_imports_streamlit_and_nothing_imports_torch_at_import_time():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module(path)
        top = _imports(path, top_level_only=True)
        if any(m.split(".")[0] == "streamlit" for m in _imports(path)) and not name.startswith("attnviz.ui"):
            offenders.append(f"{name} imports streamlit")
        if any(m.split(".")[0] in ("torch", "sentence_transformers", "transformers") for m in top):
            offenders.append(f"{name} imports torch at import time")
    assert offenders == []


def test_the_harness_is_not_in_the_product():
    assert not (PACKAGE / "testing.py").exists()
    assert not [p for p in PACKAGE.rglob("*.py") if "attnviz_harness" in _imports(p)]


def test_import_attnviz_does_not_import_streamlit_or_torch():
    modules = sorted(_module(p) for p in PACKAGE.rglob("*.py") if not _module(p).startswith("attnviz.ui"))
    modules.remove("attnviz.__main__")  # runs the command line
    code = (
        f"import sys; import {', '.join(modules)}; "
        "print(sorted(m for m in ('streamlit', 'torch', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_old_flat_names_still_import_for_one_release():
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "try:\n    from attnviz import core\nexcept DeprecationWarning as e:\n    print('warned:', e)\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from attnviz import core, bert, training, handout\n"
        "import attnviz.attention.core as c, attnviz.lesson.handout as h\n"
        "print(core is c, handout is h)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert "warned: attnviz.core moved to attnviz.attention.core" in out
    assert out.strip().endswith("True True")


def test_test_modules_have_unique_basenames():
    """pytest imports test files by basename (no __init__.py), so tests/x.py and tests/browser/x.py
    cannot both exist: a clean clone stops at collection ("import file mismatch")."""
    tests = Path(__file__).resolve().parent
    names = [p.name for p in tests.rglob("test_*.py") if ".venv" not in p.parts]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
