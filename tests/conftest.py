"""Shared fixtures: the real model, loaded once for the whole test session.

`minilm` is the model of record, sentence-transformers (torch): what the tests compare against.
`served` is what the app, the CLI and the Python API use: the same files read by NumPy, no torch.
"""

import os

import pytest

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
