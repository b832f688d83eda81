"""attnviz as a package a Python user installs: the wheel built from this checkout, installed into a fresh
virtual environment, used from a folder that is not the checkout (the console script, the API, the app).

The wheel is built once per run (the `installed` fixture, tests/conftest.py); `attnviz serve` from it is
tests/browser/test_package_serve.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run([*args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_carries_the_app_and_its_data_but_not_the_harness(installed):
    _, _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "attnviz/_app/app.py" in names and "attnviz/_app/.streamlit/config.toml" in names
    assert {f"attnviz/_app/pages/{p}" for p in PAGES} <= names
    assert {"attnviz/data/corpus.txt", "attnviz/data/plotly-cartesian.min.js", "attnviz/ui/favicon.png"} <= names
    assert not [n for n in names if n.startswith(("attnviz_harness", "tests/", "benchmarks/"))]
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: torch" not in meta.split("Provides-Extra: check")[0]  # serving needs no torch


def test_the_console_script_works_from_another_folder(installed):
    bin_dir, work, _ = installed
    help_ = _run(work, str(bin_dir / "attnviz"), "--help")
    assert help_.returncode == 0 and "usage: attnviz" in help_.stdout
    for sub in ("train", "cost", "vision", "serve"):
        assert _run(work, str(bin_dir / "attnviz"), sub, "--help").returncode == 0, sub
    out = _run(work, str(bin_dir / "attnviz"), "hi how are you", "--json")
    assert out.returncode == 0, out.stderr
    here = subprocess.run([sys.executable, "-m", "attnviz", "hi how are you", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    assert json.loads(out.stdout) == json.loads(here.stdout)  # the same numbers as the checkout's CLI
    assert json.loads(out.stdout)["tokens"] == ["hi", "how", "are", "you"]  # the app's default: no [CLS]/[SEP]


def test_the_api_works_from_another_folder(installed):
    bin_dir, work, _ = installed
    code = (
        "import attnviz, pathlib; ex = attnviz.explain('hi how are you'); html = ex.weights_figure().to_html(); "
        "print(pathlib.Path(attnviz.__file__).resolve(), 'Plotly.newPlot' in html, ex.tokens)"
    )
    out = _run(work, str(bin_dir / "python"), "-c", code)
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.split()[0])
    assert bin_dir.parent.resolve() in where.parents  # the wheel's copy in the fresh venv, not the checkout
    assert "True ('hi', 'how', 'are', 'you')" in out.stdout
