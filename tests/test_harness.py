"""attnviz_harness, the browser harness: cheap to import, the one copy tests use, its judgements right."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import attnviz_harness as testing

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}


def test_importing_the_harness_pulls_in_neither_playwright_nor_streamlit():
    code = (
        "import sys, attnviz_harness; "
        "print(sorted(m for m in ('playwright', 'streamlit', 'torch') if m in sys.modules))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120
    )
    out = run.stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_test_imports_a_benchmark():
    assert "bench_sessions" in BENCHMARKS and "results" in BENCHMARKS  # the check below looks at real names
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path.resolve() == Path(__file__).resolve():  # this checker names what it looks for
            continue
        text = path.read_text()
        mods = _imports(path)
        hits = {m for m in mods if m.split(".")[0] in BENCHMARKS or m.startswith("benchmarks")}
        # sys.path tricks and importlib by path count too
        for line in text.splitlines():
            if "benchmarks" in line and any(w in line for w in ("sys.path", "spec_from_file_location", '"bench_')):
                hits.add(f"a path into benchmarks/: {line.strip()}")
        if hits:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(hits)}")
    assert not offenders, "tests must use attnviz_harness, never a benchmark:\n" + "\n".join(offenders)


def test_the_check_would_see_an_import(tmp_path):
    bad = tmp_path / "t.py"
    bad.write_text("from bench_sessions import run\nimport benchmarks.results\n")
    assert _imports(bad) == {"bench_sessions", "benchmarks.results"}


def _state(y, z, **kw):
    chart = {"how": "key", "x": y, "y": y, "z": z, "stale": False}
    base = {
        "href": "http://h/Step_by_step?s=a+b&t=0.5",
        "script": "notRunning",
        "connection": "CONNECTED",
        "loading": False,
        "toy": False,
        "exceptions": [],
        "stale": 0,
        "charts": 3,
        "box": "a b",
        "chart": chart,
    }
    return {**base, **kw}


def test_judge_accepts_a_settled_chart_of_the_expected_tokens():
    z = [[0.25, 0.75], [0.5, 0.5]]
    assert testing.judge(_state(["a", "b"], z), ["a", "b"]) == ""
    assert testing.still_there(_state(["a", "b"], z), ["a", "b"], {"s": "a b", "t": "0.5"}) == ""


def test_judge_names_what_is_wrong():
    z = [[0.25, 0.75], [0.5, 0.5]]
    assert "shows" in testing.judge(_state(["a", "c"], z), ["a", "b"])
    assert "still running" in testing.judge(_state(["a", "b"], z, script="running"), ["a", "b"])
    assert "model" in testing.judge(_state(["a", "b"], z, toy=True), ["a", "b"])
    assert testing.judge(_state(["a", "b"], z, toy=True), ["a", "b"], model=False) == ""
    assert "exception" in testing.judge(_state(["a", "b"], z, exceptions=["Boom"]), ["a", "b"])
    assert "sums to 1" in testing.judge(_state(["a", "b"], [[0.2, 0.7], [0.5, 0.5]]), ["a", "b"])
    assert "non-negative" in testing.judge(_state(["a", "b"], [[-0.5, 1.5], [0.5, 0.5]]), ["a", "b"])
    assert "no chart" in testing.judge({**_state(["a"], [[1.0]]), "chart": None}, ["a"])
    # escaped labels (plotly gets HTML-escaped text) compare as text
    assert testing.judge(_state(["&lt;b&gt;"], [[1.0]]), ["<b>"]) == ""


def test_still_there_checks_the_url_the_box_and_the_connection():
    z = [[0.25, 0.75], [0.5, 0.5]]
    assert "t=" in testing.still_there(_state(["a", "b"], z), ["a", "b"], {"t": "0.7"})
    assert "box" in testing.still_there(_state(["a", "b"], z, box="x"), ["a", "b"], {"s": "a b"})
    assert "connection" in testing.still_there(_state(["a", "b"], z, connection="DISCONNECTED"), ["a", "b"], {})


def test_rowsum_error():
    assert testing.rowsum_error([[0.5, 0.5], [1.0, 0.0]]) == 0.0
    assert abs(testing.rowsum_error([[0.5, 0.6], [1.0, 0.0]]) - 0.1) < 1e-12
    assert testing.rowsum_error([[0.5, 0.5]]) is None  # not square
    assert testing.rowsum_error([]) is None


def test_free_port_is_bindable():
    import socket

    port = testing.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_every_benchmark_script_starts():
    """Each benchmark (and make scale's driver) imports what it needs and parses its arguments: a
    harness name moved without its callers fails here, not in the next `make bench`."""
    bench = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    scripts = [*bench, ROOT / "benchmarks" / "report.py", ROOT / "deploy" / "scale.py"]
    broken = []
    for script in scripts:
        run = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        if run.returncode != 0 or "usage" not in run.stdout:
            broken.append(f"{script.name}: exit {run.returncode}: {run.stderr.strip()[-400:]}")
    assert not broken, "\n".join(broken)
