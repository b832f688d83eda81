"""Streamlit glue shared by every page: the sidebar, the URL, the model, cached computations.

The only module of the package that imports streamlit (and only pages import it).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from threadpoolctl import ThreadpoolController

from attnviz import bert, classifier, core, cross, embeddings, figures, geometry, linear, model, qkspace, qkv, training
from attnviz.embeddings import (
    KIND_LABELS,
    KINDS,
    Embedded,
    ModelUnavailable,
    Pieces,
    embedder,
    load_minilm,
)
from attnviz.model import MiniLM, Reference

# One BLAS thread per process: the matrices here are small (at most 256 x 1536), where extra BLAS
# threads cost more than they save, and on a 2-core laptop they fight torch's own threads when the
# check has loaded it (seen: a 256 x 256 eigh taking 300 ms instead of 6 ms). Measured in benchmarks/.
_BLAS = ThreadpoolController()  # finding the loaded BLAS libraries takes ~5 ms: once per process
_BLAS.limit(limits=1, user_api="blas")


def all_cores():
    """BLAS on every core, for the one large computation: MiniLM's 6-layer forward in NumPy."""
    return _BLAS.limit(limits=os.cpu_count(), user_api="blas")


DEFAULT_SENTENCE = "hi how are you"
FAVICON = str(Path(__file__).with_name("favicon.png"))  # a file: a material icon would be fetched online
TITLE = "attnviz"

# Session-state keys: the canonical value (survives page switches) and its widget's key.
SENTENCE, EMBEDDING, SPECIAL, SCALE, TEMPERATURE = "sentence", "embedding", "special", "scale", "temperature"
SENTENCE2 = "sentence2"  # the second sentence; empty means off
DEFAULTS = {
    SENTENCE: DEFAULT_SENTENCE,
    SENTENCE2: "",
    EMBEDDING: "static",
    SPECIAL: False,
    SCALE: "none",
    TEMPERATURE: 1.0,
}
URL_KEYS = {SENTENCE: "s", SENTENCE2: "s2", EMBEDDING: "e", SPECIAL: "special", SCALE: "scale", TEMPERATURE: "t"}
TEMPERATURE_STEP = 0.05
PAGES = (  # (file, label, icon): the sidebar's own navigation, so the home page is called "Home"
    ("app.py", "Home", ":material/home:"),
    ("pages/0_Lesson.py", "Lesson", ":material/school:"),
    ("pages/1_Step_by_step.py", "Step by step", ":material/stairs:"),
    ("pages/2_Unparameterised_vs_learned.py", "Unparameterised vs learned", ":material/compare:"),
    ("pages/3_Geometry.py", "Geometry", ":material/scatter_plot:"),
    ("pages/4_Query_key_value.py", "Query, key, value", ":material/key:"),
    ("pages/5_Train_attention.py", "Train attention", ":material/model_training:"),
    ("pages/6_Cost.py", "Cost of attention", ":material/speed:"),
    ("pages/7_Vision.py", "Vision", ":material/image:"),
    ("pages/8_Query_key_space.py", "Query/key space", ":material/bubble_chart:"),
)
SCALE_LABELS = {"none": "none (the seed)", "sqrt-d": "1/√d (Transformer)"}


@dataclass(frozen=True)
class Settings:
    sentence: str
    sentence2: str  # "" = one sentence only
    embedding: str  # one of KINDS: what the user asked for
    special: bool  # show [CLS] / [SEP]
    scale: str  # one of core.SCALES
    temperature: float


@dataclass
class TrainingRun:
    """A session's run on the Train page: trained in chunks across reruns until done or stopped."""

    trainer: training.Trainer
    running: bool = True
    error: str | None = None  # what went wrong, in words, if the run diverged


@dataclass
class ClassifierRun:
    """A session's run of the digit classifier (Vision page): trained in chunks across reruns."""

    config: classifier.Config
    trainer: classifier.Trainer | None  # None when the result came from the server's cache
    result: classifier.Result | None = None  # set when the run is done
    running: bool = True


@st.cache_resource(show_spinner=False)
def finished_classifiers() -> dict[classifier.Config, classifier.Result]:
    """Finished classifier runs by their settings, shared by every session of this server: a seed
    trained once is shown at once the next time (at most FINISHED_MAX kept, ~1 MB each)."""
    return {}


FINISHED_MAX = 16


def remember_classifier(result: classifier.Result, config: classifier.Config) -> None:
    finished = finished_classifiers()
    while len(finished) >= FINISHED_MAX:
        finished.pop(next(iter(finished)), None)  # the oldest first
    finished[config] = result


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


# --- the sidebar and the URL ----------------------------------------------------------------


def _from_url(key: str):
    """The setting as given in the URL, or the default when absent or not understood."""
    raw = st.query_params.get(URL_KEYS[key])
    default = DEFAULTS[key]
    if raw is None:
        return default
    if key in (SENTENCE, SENTENCE2):
        return raw
    if key == EMBEDDING:
        return raw if raw in KINDS else default
    if key == SCALE:
        return raw if raw in core.SCALES else default
    if key == SPECIAL:
        return raw.lower() not in ("0", "false", "no", "off")
    try:
        lo, hi = core.TEMPERATURE_RANGE
        t = float(raw)
        if t != t:  # NaN is not a temperature
            return default
        return round(round(min(max(t, lo), hi) / TEMPERATURE_STEP) * TEMPERATURE_STEP, 2)
    except ValueError:
        return default


def _to_url(key: str, value) -> str:
    if key == SPECIAL:
        return "1" if value else "0"
    return str(value)


def _keep(key: str) -> None:
    st.session_state[key] = st.session_state["_w_" + key]


def _widget(key: str) -> str:
    return "_w_" + key


def _restore_widgets(page: str, keys) -> None:
    """Give the widgets the settings' values when a session arrives on a page.

    Streamlit forgets a widget's value when the page changes (each page has its own widgets), so
    the settings live under their own keys. Only on arrival: writing them on every run would push
    an older value back to the browser and lose slider steps taken during a rerun.
    """
    if st.session_state.get("_page") != page:
        st.session_state["_page"] = page
        for key in keys:
            st.session_state[_widget(key)] = st.session_state[key]


@dataclass(frozen=True)
class Setting:
    """A page's own setting: kept in the URL under `url`, read back with `parse`.

    parse(text) -> value, raising ValueError for text it does not understand (the default is
    used then); it also snaps numbers to what the page's widget accepts.
    """

    url: str
    default: Any
    parse: Callable[[str], Any]

    def from_url(self, raw: str | None):
        if raw is None:
            return self.default
        try:
            return self.parse(raw)
        except (ValueError, TypeError, OverflowError):
            return self.default

    @staticmethod
    def to_url(value) -> str | None:
        """The value as URL text; None when there is nothing to say (the parameter is left out)."""
        if value is None or value == ():
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, tuple | list):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """Parse a whole number, clamped to [lo, hi]."""
    return lambda raw: min(max(int(raw), lo), hi)


def nearest(options: Sequence[float]) -> Callable[[str], float]:
    """Parse a number and snap it to the nearest of the options (on a log scale)."""

    def parse(raw: str) -> float:
        x = float(raw)
        if not x > 0 or x == float("inf"):
            raise ValueError(raw)
        return min(options, key=lambda o: abs(math.log(o) - math.log(x)))

    return parse


def one_of(options: Sequence[str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(raw)
        return raw

    return parse


def some_of(options: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """Parse a comma-separated list, keeping the known names ("all" means every one)."""
    return lambda raw: tuple(options) if raw == "all" else tuple(o for o in options if o in raw.split(","))


def flag(raw: str) -> bool:
    return raw.lower() not in ("0", "false", "no", "off")


def _url_params() -> dict[str, str]:
    """The settings as URL parameters; an empty second sentence is left out (off)."""
    return {URL_KEYS[k]: _to_url(k, st.session_state[k]) for k in DEFAULTS if k != SENTENCE2 or st.session_state[k]}


def _attention_controls() -> None:
    """The temperature T and the scale s (in the sidebar)."""
    st.slider(
        "Temperature T",
        min_value=core.TEMPERATURE_RANGE[0],
        max_value=core.TEMPERATURE_RANGE[1],
        step=TEMPERATURE_STEP,
        key=_widget(TEMPERATURE),
        on_change=_keep,
        args=(TEMPERATURE,),
        help="The scores are divided by T before the softmax: small T sharpens, large T flattens.",
    )
    st.radio(
        "Scale s",
        core.SCALES,
        format_func=SCALE_LABELS.get,
        key=_widget(SCALE),
        on_change=_keep,
        args=(SCALE,),
        help="Multiply the scores by 1/√d, as the Transformer does, so they do not grow with d.",
    )


def _text_controls() -> None:
    """The sentence, the second sentence, the embedding and [CLS]/[SEP] (in the sidebar)."""
    st.text_input(
        "Sentence",
        key=_widget(SENTENCE),
        on_change=_keep,
        args=(SENTENCE,),
        help="Type a sentence and press Enter. Every page uses it; the URL keeps it for sharing.",
    )
    st.text_input(
        "Second sentence",
        key=_widget(SENTENCE2),
        on_change=_keep,
        args=(SENTENCE2,),
        placeholder="optional: compare with a second sentence",
        help="Every page then shows its main view for both sentences side by side, and the difference "
        "where they share word pieces; the Query, key, value page shows cross-attention between them. "
        "Leave it empty to switch it off.",
    )
    st.radio(
        "Embedding",
        KINDS,
        format_func=KIND_LABELS.get,
        key=_widget(EMBEDDING),
        on_change=_keep,
        args=(EMBEDDING,),
        help="Where the word vectors X come from.",
    )
    st.toggle(
        "Show [CLS] and [SEP]",
        key=_widget(SPECIAL),
        on_change=_keep,
        args=(SPECIAL,),
        help="The model adds these marker tokens. Hidden means dropped before the softmax "
        "(the same as dropping them and renormalising each row).",
    )


IMAGES_NOTE = "This page works on images; the sentence and its settings are used on the other pages."


def sidebar(
    page: str, extra: Mapping[str, Setting], *, text: bool = True, attention: bool = True, note: str = IMAGES_NOTE
) -> Settings:
    """Render the shared sidebar on a page; return the settings every page reads.

    extra: the page's own settings by session-state key, initialised from the URL in the same way,
    kept across page switches and written back to the URL (but not carried to other pages' links).
    text: False on a page about something else than the sentence (images): the sentence, embedding
    and [CLS]/[SEP] controls are left out (their values stay in the links), temperature and scale stay.
    attention: False on a page whose attention does not read the shared temperature and scale (the Train
    page's layer has its own): those two are left out too (their values stay in the links).
    note: what the sidebar says instead of the controls it leaves out.
    """
    for key in DEFAULTS:  # once per session: from a shared link, or the defaults
        if key not in st.session_state:
            st.session_state[key] = _from_url(key)
    for key, setting in extra.items():
        if key not in st.session_state:
            st.session_state[key] = setting.from_url(st.query_params.get(setting.url))
    st.session_state.setdefault(CHART_FORMAT, "png")
    _restore_widgets(page, [*DEFAULTS, *extra, CHART_FORMAT])
    params = _url_params()
    with st.sidebar:
        for page, label, icon in PAGES:  # links carry the settings, so a new tab opens the same view
            st.page_link(page, label=label, icon=icon, query_params=params)
        st.divider()
        if text:
            _text_controls()
        if not (text and attention):
            st.caption(note)
        if attention:
            _attention_controls()
        st.radio(
            "Charts save as",
            tuple(CHART_FORMATS),
            format_func=CHART_FORMATS.get,
            horizontal=True,
            key=_widget(CHART_FORMAT),
            on_change=_keep,
            args=(CHART_FORMAT,),
            help="What the camera button in each chart's toolbar (top right of the chart) downloads: "
            "PNG, a picture, or SVG, vectors that stay sharp on slides and in print.",
        )
    if text:
        _model_status()
    settings = Settings(**{k: st.session_state[k] for k in DEFAULTS})
    keep_in_url({**params, **{s.url: s.to_url(st.session_state[k]) for k, s in extra.items()}})
    if URL_KEYS[SENTENCE2] not in params and URL_KEYS[SENTENCE2] in st.query_params:
        del st.query_params[URL_KEYS[SENTENCE2]]
    return settings


def keep_in_url(params: Mapping[str, str | None]) -> None:
    """Keep the URL a shareable link to this view (write only what changed; None removes)."""
    for name, value in params.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def section(label: str, name: str, *, key: str, options: Sequence[str]):
    """An expander for one part of a page whose code runs only while it is open (Streamlit's lazy
    expander: test `.open`), so a new sentence redraws only what the reader has open.

    key: the page's setting holding the open sections' names (a tuple in `options` order, e.g.
    `Setting("open", ("w",), some_of(options))`); opening or closing one updates it, and so the URL.
    """
    wkey = f"{_widget(key)}:{name}"
    if wkey not in st.session_state:  # the first run on this page: Streamlit forgot the widget
        st.session_state[wkey] = name in st.session_state[key]

    def changed() -> None:
        now = set(st.session_state[key]) - {name} | ({name} if st.session_state[wkey] else set())
        st.session_state[key] = tuple(o for o in options if o in now)

    return st.expander(label, key=wkey, on_change=changed)


def layer_and_head(left, right, prefix: str) -> tuple[int, int]:
    """A MiniLM head chosen with two number boxes (in the given columns), keyed `<prefix>_layer/_head`."""
    layer = left.number_input("Layer", 0, 5, 0, key=f"{prefix}_layer", help="0 is the first of the model's 6 layers.")
    head = right.number_input("Head", 0, 11, 0, key=f"{prefix}_head", help="Each layer has 12 heads of 32 features.")
    return int(layer), int(head)


def setup(
    title: str,
    extra: Mapping[str, Setting] | None = None,
    *,
    text: bool = True,
    attention: bool = True,
    note: str = IMAGES_NOTE,
    collapsed: bool = False,
) -> Settings:
    """Every page starts here: page config and the shared sidebar (plus the page's own settings).

    text=False leaves the sentence's controls out, attention=False the temperature and scale, and note
    says why (see `sidebar`); collapsed: start with the sidebar closed (presenter mode)."""
    st.set_page_config(
        page_title=f"{title} · {TITLE}",
        page_icon=FAVICON,
        layout="wide",
        initial_sidebar_state="collapsed" if collapsed else "auto",
    )
    return sidebar(title, extra or {}, text=text, attention=attention, note=note)


def widget(key: str, then: Callable[[], None] | None = None) -> dict:
    """The keyword arguments that bind a widget to a setting: `st.slider(..., **ui.widget(key))`.

    then: also called when the user changes it (after the setting has taken the new value).
    """

    def changed() -> None:
        _keep(key)
        if then is not None:
            then()

    return {"key": _widget(key), "on_change": changed}


def set_setting(key: str, value) -> None:
    """Change a setting and its widget, from a callback or before the widget is drawn."""
    st.session_state[key] = st.session_state[_widget(key)] = value


def pick(label: str, labels: Sequence[str], *, key: str, default: int = 0, where=None, url: str | None = None,
         **kwargs) -> int:  # fmt: skip
    """A select box over options that come from the input (one label per token, per patch …); returns the
    chosen index, always a whole number in range.

    The box is keyed by its labels, so new options make a new box. One key for all options would not do:
    Chromium keeps the box's old label when the options change and sends it back on the next rerun, which
    Streamlit then hands over as that label (a str, not an option), and the box would show one word while
    the page follows another. A new box starts on the same label if the new options have it (the word
    followed stays followed), else on the same index if it is in range, else on `default`.

    key: the setting (session state) holding the index; a page's Setting, or a plain key. A callback may
    change it (set_setting): the box follows. None means "the default". where: the container (st, a
    column …). url: also keep the index in the URL under this name (the sidebar wrote the URL before
    this box chose).
    """
    labels = tuple(labels)
    n = len(labels)
    wkey = f"{_widget(key)}:{_labels_digest(labels)}"
    memory = f"{key}:label"  # (label, index) last chosen: the same word in new options

    def valid(i) -> bool:
        return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n

    default = min(max(default, 0), n - 1)
    wanted = st.session_state.get(key)
    if wkey in st.session_state:  # the same options as the last run; a callback may have changed the setting
        start = default if wanted is None else wanted if valid(wanted) else st.session_state[wkey]
        start = start if valid(start) else default
    else:  # new options (a new sentence), or back on the page
        remembered = st.session_state.get(memory)
        if wanted is None:
            start = default
        elif remembered is not None and remembered[1] == wanted and remembered[0] in labels:
            start = labels.index(remembered[0])
        else:
            start = wanted if valid(wanted) else default
    if st.session_state.get(wkey) != start:
        st.session_state[wkey] = start

    def changed() -> None:
        if valid(value := st.session_state.get(wkey)):
            st.session_state[key] = value

    chosen = (st if where is None else where).selectbox(
        label, range(n), format_func=labels.__getitem__, key=wkey, on_change=changed, **kwargs
    )
    i = chosen if valid(chosen) else start
    st.session_state[key] = i
    st.session_state[memory] = (labels[i], i)
    if url is not None:
        keep_in_url({url: str(i)})
    return i


def _labels_digest(labels: tuple[str, ...]) -> str:
    """A short stable name for a list of labels (hashlib: Python's hash() is salted per process)."""
    return hashlib.blake2b("\x1f".join(labels).encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


# --- computations, cached per input ---------------------------------------------------------


@st.cache_data(max_entries=128, show_spinner=False)
def embed(text: str, kind: str, _model: MiniLM | None, model_ready: bool) -> Embedded:
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
def bert_weights(_model: MiniLM) -> bert.BertWeights:
    """The model's weights as NumPy arrays, taken out once per server."""
    return embeddings.bert_weights(_model)


@st.cache_resource(max_entries=16, show_spinner=False)
def learned(text: str, causal: bool, _model: MiniLM, layers: int | None = None) -> tuple[Pieces, bert.BertTrace]:
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


# --- the query/key space: the corpus and t-SNE run in the background, one job at a time ------------


@dataclass
class CorpusJob:
    """The bundled corpus through the NumPy forward pass, once per server, in the background."""

    future: Future  # -> qkspace.Corpus
    total: int  # sentences
    done: int = 0  # sentences finished so far (written by the worker)


@st.cache_resource(show_spinner=False)
def _qk_worker() -> ThreadPoolExecutor:
    """One worker thread per server for the query/key space's long jobs: they queue, never pile up on the CPU."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="qkspace")


@st.cache_resource(show_spinner=False)
def qk_corpus(_model: MiniLM) -> CorpusJob:
    """Start the corpus's forward pass (every head of every layer; ~100 sentences, a few seconds)."""
    sentences = qkspace.load_corpus()
    weights = bert_weights(_model)
    job = CorpusJob(future=Future(), total=len(sentences))

    def progress(i: int) -> None:
        job.done = i + 1

    def build() -> qkspace.Corpus:
        corpus = qkspace.build_corpus(weights, sentences, _model.tokenize, progress=progress)
        release_free_memory()  # ~100 forward passes leave ~50 MB of freed arrays in the heap
        return corpus

    job.future = _qk_worker().submit(build)
    return job


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim) after a one-off large
    computation, so a server's RSS shows what it holds rather than what it once used; a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@st.cache_resource(max_entries=24, show_spinner=False)
def qk_corpus_head(layer: int, head: int, show_special: bool, _corpus: qkspace.Corpus) -> qkspace.CorpusHead:
    """One head's normalisation and PCA plane over the corpus: fitted once per server, shared."""
    return qkspace.corpus_head(_corpus, layer, head, show_special=show_special)


@st.cache_resource(max_entries=8, show_spinner=False)
def qk_tsne(layer: int, head: int, show_special: bool, text: str, _fitted, _q, _k, _tokens) -> Future:
    """t-SNE of the typed sentence and a seeded part of the corpus, queued on the background worker.

    scikit-learn imports pandas on its first use, on the worker, while this thread goes on building figures:
    Plotly would then find a half-imported pandas (AttributeError: partially initialized module, seen in
    Chromium). Pandas is imported whole here first."""
    _import_pandas()
    subset = qkspace.tsne_subset(int(_fitted.sentence.max()) + 1)
    return _qk_worker().submit(qkspace.space, _fitted, _q, _k, _tokens, method="tsne", tsne_sentences=subset)


@st.cache_resource(max_entries=32, show_spinner=False)
def qk_corpus_traces(layer: int, head: int, show_special: bool, tsne_of: str, _space, _sentences) -> tuple[dict, dict]:
    """The corpus's two clouds as figure traces, built once per head (for t-SNE, once per typed sentence)."""
    corpus = _space.sentence != qkspace.TYPED
    tokens = tuple(t for t, c in zip(_space.tokens, corpus) if c)
    return figures.qk_corpus_traces(
        _space.points[corpus], _space.is_query[corpus], _space.sentence[corpus], tokens, _sentences
    )


@st.fragment(run_every=0.5)
def wait_for(future: Future, status: Callable[[], tuple[float | None, str]]) -> None:
    """Say what is running, status() -> (fraction done or None, text); rerun the page when it is done."""
    if future.done():
        st.rerun(scope="app")
    fraction, text = status()
    if fraction is None:
        st.info(text, icon=":material/hourglass_top:")
    else:
        st.progress(fraction, text=text)


# --- two sentences ---------------------------------------------------------------------------


def compare(key: str, a: tuple[tuple[str, ...], np.ndarray], b: tuple[tuple[str, ...], np.ndarray], *, what: str):
    """Two sentences' attention side by side, W_B − W_A where they share word pieces, and one shared
    word's favourite keys in each.  a, b: (tokens, weights [n, n]); what: the view, for the captions."""
    (ta, wa), (tb, wb) = a, b
    st.header("Two sentences side by side")
    left, right = st.columns(2)
    for box, name, tokens, w, side in (
        (left, "A, the sentence", ta, wa, "a"),
        (right, "B, the second sentence", tb, wb, "b"),
    ):
        with box:
            st.markdown(f"**{name}**")
            chart(figures.weights_heatmap(w, tokens), key=f"{key}_{side}")
    st.caption(f"{what} for each sentence, rows as queries and columns as keys; each row adds up to 1.")
    shared = cross.shared_pieces(ta, tb)
    if not len(shared):
        st.info("The two sentences share no word pieces, so there is no difference to show.", icon=":material/info:")
        return
    diff = cross.shared_difference(wa, wb, shared)  # [k, k]
    labels = figures.token_labels(shared.tokens)
    st.subheader("Where they share word pieces: B − A")
    chart(figures.heatmap(diff, labels, labels, signed=True, value_name="W_B − W_A"), key=f"{key}_diff")
    st.caption(
        f"The {len(shared)} pieces the two sentences share, paired in reading order: red where B gives the pair "
        "more weight than A, blue where less (weights on pieces only one sentence has are left out)."
    )
    plain = figures.unique_labels(shared.tokens)
    i = pick("Follow one shared word", plain, key=f"{key}_word", default=cross.most_changed(diff))
    word = md_escape(plain[i])

    def favourites(row, tokens):
        return ", ".join(f"“{md_escape(t)}” {v:.3f}" for t, v in cross.top_keys(row, figures.unique_labels(tokens)))

    st.markdown(
        f"“{word}” attends most to {favourites(wa[shared.a[i]], ta)} in A, "
        f"and to {favourites(wb[shared.b[i]], tb)} in B."
    )


# --- W views ---------------------------------------------------------------------------------

ABSOLUTE = "w_absolute"  # session key: W's colours on the absolute 0-1 scale (else 0 to its largest weight)
W_SETTINGS = {ABSOLUTE: Setting("wabs", False, flag)}  # a page's extra settings (in the URL as wabs=1)


def weights_view(weights: np.ndarray, tokens, *, key: str, title: str = "") -> None:
    """W as a heatmap with square cells, coloured 0 to its largest weight (or 0 to 1, one toggle away,
    in the URL), and a plain line when W is nearly one-hot or nearly uniform. Once per page (one toggle);
    the page passes W_SETTINGS to setup."""
    absolute = st.session_state.get(ABSOLUTE, False)
    fig = figures.weights_heatmap(weights, tokens, title=title, relative=not absolute, square=True)
    chart(fig, key=key)
    if (note := core.spread_note(weights)) is not None:
        st.info(note, icon=":material/lightbulb:")
    st.toggle(
        "Colours on the absolute 0–1 scale",
        **widget(ABSOLUTE),
        help="Off: colours run from 0 to the largest weight, which keeps a nearly uniform W readable. "
        "On: from 0 to 1, the same for every sentence.",
    )


# --- exports ---------------------------------------------------------------------------------

CHART_FORMAT = "chart_format"  # session key: what the charts' toolbars save, "png" or "svg"
CHART_FORMATS = {"png": "PNG", "svg": "SVG"}


def chart_config() -> dict:
    """The charts' toolbar: its camera button saves the chart as PNG (twice the size on screen) or SVG
    (vectors, for slides and print), as chosen in the sidebar; made in the browser, no server, no network."""
    fmt = st.session_state.get(CHART_FORMAT, "png")
    return {
        "displaylogo": False,
        "modeBarButtonsToAdd": ["toImage"],
        "toImageButtonOptions": {"format": fmt, "scale": 2 if fmt == "png" else 1},
    }


def chart(fig, **kwargs):
    """st.plotly_chart with the toolbar of `chart_config` (every chart of the app goes through here)."""
    return st.plotly_chart(fig, config=chart_config(), **kwargs)


def csv_button(matrix, *, key: str, where=st) -> None:
    """A download button for one matrix as CSV (lesson.Matrix); the file is made only when pressed."""
    from attnviz import lesson

    where.download_button(
        f"{matrix.name} as CSV",
        data=lambda: lesson.to_csv(matrix),
        file_name=f"attnviz-{re.sub(r'[^A-Za-z0-9]+', '-', matrix.name).strip('-') or 'matrix'}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key=key,
    )


# --- text that came from the user ------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def md_escape(text: str) -> str:
    """Text safe to pass to st.markdown / st.info: every markdown, math and HTML character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def latex_text(text: str) -> str:
    r"""A token as LaTeX text: \text{…} with LaTeX's special characters escaped."""
    escaped = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return r"\text{" + escaped + "}"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}
