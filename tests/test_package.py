"""attnviz as a package a Python user installs: the wheel built from this checkout, installed into a fresh
virtual environment, used from a folder that is not the checkout (the console script, the API, the app).

The wheel is built once (hatchling, no network) and installed without dependencies into a new venv that
borrows this environment's site-packages for them (a .pth line), so what is tested is the wheel's own
content: the package, its data, the Streamlit entry, pages and theme (attnviz/_app/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's bin folder, a working folder outside the checkout, the wheel's path)."""
    tmp = tmp_path_factory.mktemp("package")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp.glob("attnviz-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())  # fmt: skip
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")  # numpy, streamlit, … from here
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    work = tmp / "elsewhere"
    work.mkdir()
    return venv / "bin", work, wheel


def _run(bin_dir: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
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
    help_ = _run(bin_dir, work, str(bin_dir / "attnviz"), "--help")
    assert help_.returncode == 0 and "usage: attnviz" in help_.stdout
    for sub in ("train", "cost", "vision", "serve"):
        assert _run(bin_dir, work, str(bin_dir / "attnviz"), sub, "--help").returncode == 0, sub
    out = _run(bin_dir, work, str(bin_dir / "attnviz"), "hi how are you", "--json")
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
    out = _run(bin_dir, work, str(bin_dir / "python"), "-c", code)
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.split()[0])
    assert bin_dir.parent.resolve() in where.parents  # the wheel's copy in the fresh venv, not the checkout
    assert "True ('hi', 'how', 'are', 'you')" in out.stdout


@pytest.mark.browser
def test_attnviz_serve_answers_a_browser_session_with_its_sentence(installed):
    from attnviz_harness import chromium, free_port, healthy, stop, wait_for_chart
    from attnviz_harness.browser import expected_pieces

    bin_dir, work, _ = installed
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [str(bin_dir / "attnviz"), "serve", "--port", str(port), "--address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while not healthy(f"{base}/_stcore/health") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        sentence = "a package serves its own pages"
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{base}/?s={sentence.replace(' ', '+')}")
            _, why = wait_for_chart(page, "home_weights", expected_pieces()(sentence), timeout=120)
            assert why == "", why
            # the wheel's .streamlit/config.toml applies: it turns Streamlit's own page list off (the app
            # draws its own), which a server started elsewhere than the app's folder would show
            config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
            assert config["client"]["showSidebarNavigation"] is False
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0
            assert page.locator('[data-testid="stSidebar"] a').count() >= len(PAGES)  # the app's own links
    finally:
        stop(proc)
