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
