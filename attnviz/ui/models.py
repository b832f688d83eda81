"""The model and the computations the pages share, cached per input: MiniLM read in a background
thread once per server process, embeddings, attention, the learned heads, the check."""

from __future__ import annotations

import gc
import os
from concurrent.futures import Future, ThreadPoolExecutor, wait

import numpy as np
import streamlit as st
from threadpoolctl import ThreadpoolController

from attnviz.attention import core, geometry, linear
from attnviz.model import ablation, bert, census, embeddings, qkv
from attnviz.model import minilm as model
from attnviz.model.embeddings import (
    Embedded,
    Kind,
    ModelUnavailable,
    Pieces,
    embedder,
)
from attnviz.model.minilm import MiniLM, Reference, load_minilm
from attnviz.ui.state import Settings
from attnviz.ui.text import md_escape

# One BLAS thread per process: the matrices here are small (at most 256 x 1536), where extra BLAS
# threads cost more than they save, and on a 2-core laptop they fight torch's own threads when the
# check has loaded it (seen: a 256 x 256 eigh taking 300 ms instead of 6 ms). Measured in benchmarks/.
_BLAS = ThreadpoolController()  # finding the loaded BLAS libraries takes ~5 ms: once per process
_BLAS.limit(limits=1, user_api="blas")


def all_cores():
    """BLAS on every core, for the one large computation: MiniLM's 6-layer forward in NumPy."""
    return _BLAS.limit(limits=os.cpu_count(), user_api="blas")


# --- the model: read in a background thread, once per server process ------------------------


@st.cache_resource(show_spinner=False)
def model_future() -> Future:
    """Start loading MiniLM once per server; pages stay usable (toy embeddings) meanwhile.

    The served model is NumPy (attnviz.model.load: safetensors + tokenizers, ~0.3 s, no torch);
    ATTNVIZ_BACKEND=torch serves it through sentence-transformers instead (the old path, for benchmarks).
    """
    if os.environ.get("ATTNVIZ_BACKEND") == "torch":
        _import_pandas()
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm").submit(_load_and_freeze)


def _import_pandas() -> None:
    # sentence-transformers imports pandas, and Plotly checks every figure's data against pandas once
    # it is in sys.modules: a figure built while another thread is half-way through importing it
    # fails ("partially initialized module 'pandas'"). Import it whole first (~0.4 s, once per server).
    import pandas  # noqa: F401


def _load_and_freeze() -> MiniLM:
    loaded = load_minilm()
    # Move the loaded objects out of the garbage collector's view so that later collections only
    # walk what the pages create (with torch loaded: millions of long-lived objects).
    gc.freeze()
    return loaded


# The NumPy model is ready ~0.3 s after the load starts: a page waits that long rather than drawing
# the toy embeddings and then everything again. A slower load (a busy machine, the torch path) falls
# back to the toy embeddings and the sidebar's notice after this many seconds (the torch path, which
# takes several seconds, does not wait: it behaves as it did).
FIRST_WAIT_S = 0.0 if os.environ.get("ATTNVIZ_BACKEND") == "torch" else 2.0


def _loaded() -> Future:
    """The model's future, after waiting (at most FIRST_WAIT_S) for a load under way."""
    future = model_future()
    if not future.done():
        wait([future], timeout=FIRST_WAIT_S)
    return future


def minilm() -> MiniLM | None:
    """The loaded model, or None while it loads or if it failed (the sidebar says which)."""
    future = _loaded()
    if not future.done():
        return None
    try:
        return future.result()
    except ModelUnavailable:
        return None


def minilm_or_stop() -> MiniLM:
    """The loaded model; while it loads (or if it failed) the page says so and stops here."""
    model = minilm()
    if model is None:
        st.info(
            "This page needs the MiniLM model, which is not available yet; see the sidebar.",
            icon=":material/hourglass_top:",
        )
        st.stop()
    return model


def _model_status() -> None:
    future = _loaded()
    if not future.done():
        _wait_for_model()
    elif (error := future.exception()) is not None:
        st.sidebar.warning(md_escape(str(error)), icon=":material/warning:")


@st.fragment(run_every=0.5)
def _wait_for_model() -> None:
    """Say the model is loading; rerun the whole page the moment it is ready."""
    if model_future().done():
        st.rerun(scope="app")
    with st.sidebar:
        st.info(
            "Loading the MiniLM model… the toy 2-D embeddings are shown until it is ready.",
            icon=":material/hourglass_top:",
        )


# --- computations, cached per input ---------------------------------------------------------


@st.cache_data(max_entries=128, show_spinner=False)
def embed(text: str, kind: Kind, _model: MiniLM | None, model_ready: bool) -> Embedded:
    """X for the text; model_ready is part of the cache key (toy fallback vs the model)."""
    return embedder(kind, _model)(text)


@st.cache_data(max_entries=32, show_spinner=False)
def own_span(x: np.ndarray) -> np.ndarray:
    """geometry.in_own_span, once per X (a slider move or a new token choice keeps X)."""
    return geometry.in_own_span(x)


def seed_attention(text: str, settings: Settings, causal: bool) -> tuple[Embedded, Embedded, core.AttentionTrace]:
    """(X as embedded, X as shown, the seed's attention on it), no messages; raises AttentionError for bad text."""
    model = minilm()
    emb = embed(text, settings.embedding, model, model is not None)
    shown = emb if settings.special else emb.without_special()
    mask = core.causal_mask(len(shown.tokens)) if causal else None
    trace = core.self_attention(
        shown.vectors, shown.tokens, scale=settings.scale, temperature=settings.temperature, mask=mask
    )
    return emb, shown, trace


def attention(settings: Settings, *, causal: bool = False) -> tuple[Embedded, core.AttentionTrace]:
    """The seed's attention for the current settings (optionally GPT-style masked), or a clear
    message and stop."""
    try:
        emb, shown, trace = seed_attention(settings.sentence, settings, causal)
    except core.AttentionError as e:
        st.info(md_escape(str(e)), icon=":material/edit:")
        st.stop()
    for notice in emb.notices:
        st.warning(md_escape(notice), icon=":material/content_cut:")
    if minilm() is None and settings.embedding != "toy":
        st.caption("Showing the toy 2-D embeddings until the MiniLM model is available.")
    return shown, trace


def second(settings: Settings) -> str | None:
    """The second sentence, or None when it is off (empty or only spaces)."""
    return settings.sentence2 if settings.sentence2.strip() else None


def second_attention(settings: Settings, *, causal: bool = False) -> tuple[Embedded, core.AttentionTrace] | None:
    """The seed's attention for the second sentence; None when it is off or unusable (with a message,
    without stopping the page: the first sentence's views stay)."""
    if (text := second(settings)) is None:
        return None
    try:
        emb, shown, trace = seed_attention(text, settings, causal)
    except core.AttentionError as e:
        st.info("Second sentence: " + md_escape(str(e)), icon=":material/edit:")
        return None
    for notice in emb.notices:
        st.warning("Second sentence: " + md_escape(notice), icon=":material/content_cut:")
    return shown, trace


@st.cache_resource(show_spinner=False)
def bert_weights(_model: MiniLM | Reference) -> bert.BertWeights:
    """The model's weights as NumPy arrays, taken out once per server."""
    return embeddings.bert_weights(_model)


@st.cache_resource(max_entries=16, show_spinner=False)
def learned(
    text: str, causal: bool, _model: MiniLM | Reference, layers: int | None = None
) -> tuple[Pieces, bert.BertTrace]:
    """The NumPy forward pass (every head of every layer, or of the first `layers`) for the text;
    shared, never mutated."""
    pieces = _model.tokenize(text)
    mask = core.causal_mask(len(pieces.ids)) if causal else None
    with all_cores():
        return pieces, bert.forward(bert_weights(_model), pieces.ids, pieces.tokens, mask=mask, layers=layers)


def learned_text(
    text: str, _model: MiniLM, *, layers: int | None = None, which: str = ""
) -> tuple[Pieces, bert.BertTrace] | None:
    """`learned` for a typed text, with its notices shown; None (and a message) when the text is unusable.

    which: "" for the sentence, "Second sentence: " for the second, put before each message.
    """
    try:
        pieces, full = learned(text, False, _model, layers)
    except core.AttentionError as e:
        st.info(which + md_escape(str(e)), icon=":material/edit:")
        return None
    for notice in pieces.notices:
        st.warning(which + md_escape(notice), icon=":material/content_cut:")
    return pieces, full


@st.cache_resource(max_entries=8, show_spinner=False)
def random_layer(layer: int, seed: int, _model: MiniLM) -> bert.LayerWeights:
    """MiniLM's layer with random W_q, W_k, W_v (seeded, so a shared link re-rolls the same ones)."""
    return qkv.randomised(bert_weights(_model).layers[layer], np.random.default_rng(seed))


@st.cache_resource(show_spinner=False)
def reference() -> Reference:
    """The model through sentence-transformers (torch), loaded once per server for the check; raises
    ModelUnavailable when it cannot load (e.g. sentence-transformers or torch is not installed)."""
    _import_pandas()
    loaded = model.load_reference()
    gc.freeze()
    return loaded


def reference_missing() -> str | None:
    """Why the check cannot run on this server (without importing torch), or None."""
    return model.reference_missing()


@st.cache_data(max_entries=64, show_spinner=False)
def model_check(text: str, _model: MiniLM | Reference) -> tuple[float, float]:
    """max |Δ| between the served NumPy forward and the model itself (sentence-transformers, loaded on
    first use) for this text: (head weights, hidden states). Raises ModelUnavailable if it cannot load."""
    c = checked(text, _model)
    return c.attention, c.hidden


@st.cache_data(max_entries=64, show_spinner=False)
def checked(text: str, _model: MiniLM | Reference) -> model.Check:
    """The whole check (pieces and ids compared too); see `model_check`."""
    ref = _model if isinstance(_model, Reference) else reference()
    pieces, ours = learned(text, False, _model)
    return model.check(text, ours, pieces, ref)


@st.cache_data(max_entries=32, show_spinner=False)
def favor_errors(x, exact, ms: tuple[int, ...], factor: float, orthogonal: bool, causal: bool) -> dict:
    """linear.error_curve, cached: the same sentence and settings are not approximated again."""
    return linear.error_curve(x, exact, ms, factor=factor, orthogonal=orthogonal, causal=causal)


@st.cache_resource(max_entries=16, show_spinner=False)
def text_census(text: str, _model: MiniLM) -> census.Census:
    """The census of one typed text (its forward pass is `learned`'s, shared)."""
    pieces, full = learned(text, False, _model)
    return census.of_trace(full, pieces)


@st.cache_resource(max_entries=16, show_spinner=False)
def ablated(text: str, removed: tuple[tuple[int, int], ...], uniform: bool, _model: MiniLM) -> ablation.Ablation:
    """One typed text with some heads removed, beside the intact forward pass."""
    pieces, full = learned(text, False, _model)
    with all_cores():
        return ablation.ablate(bert_weights(_model), pieces.ids, pieces.tokens, full, removed, uniform=uniform)
