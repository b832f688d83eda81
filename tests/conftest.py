"""Shared fixtures: the real model, loaded once for the whole test session.

`minilm` is the model of record, sentence-transformers (torch): what the tests compare against.
`served` is what the app, the CLI and the Python API use: the same files read by NumPy, no torch.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def minilm():
    from attnviz.model.minilm import load_reference

    return load_reference()


@pytest.fixture(scope="session")
def served():
    from attnviz.model.minilm import load

    return load()


@pytest.fixture(scope="session")
def model_ready(minilm):
    """Await the app's own model loader (ui.model_future) before an AppTest run, so a page that needs
    the model never silently tests its toy fallback, whichever test ran first (or none)."""
    from attnviz import ui

    loaded = ui.model_future().result(timeout=300)
    assert ui.minilm() is loaded is not None
    return loaded


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """attnviz as a user installs it: the wheel built from this checkout (hatchling, no network), installed
    without dependencies into a new venv that borrows this environment's site-packages for them (a .pth
    line), so what is tested is the wheel's own content. Returns (the venv's bin folder, a working folder
    outside the checkout, the wheel's path)."""
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
