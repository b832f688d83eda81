"""Shared fixtures: the real model, loaded once for the whole test session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@pytest.fixture(scope="session")
def minilm():
    from attnviz.embeddings import load_minilm

    return load_minilm()


@pytest.fixture(scope="session")
def model_ready(minilm):
    """Await the app's own model loader (ui.model_future) before an AppTest run, so a page that needs
    the model never silently tests its toy fallback, whichever test ran first (or none)."""
    from attnviz import ui

    loaded = ui.model_future().result(timeout=300)
    assert ui.minilm() is loaded is not None
    return loaded
