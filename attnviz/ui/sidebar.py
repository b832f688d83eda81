"""The sidebar every page shares (page links, the sentence, embedding and attention settings),
the page's setup, and the lazy sections a page opens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import streamlit as st

from attnviz.attention import core
from attnviz.model.embeddings import (
    KIND_LABELS,
    KINDS,
)
from attnviz.ui.models import _model_status
from attnviz.ui.state import (
    DEFAULTS,
    EMBEDDING,
    FAVICON,
    PAGES,
    SCALE,
    SCALE_LABELS,
    SENTENCE,
    SENTENCE2,
    SPECIAL,
    TEMPERATURE,
    TEMPERATURE_STEP,
    TITLE,
    URL_KEYS,
    Setting,
    Settings,
    _from_url,
    _keep,
    _restore_widgets,
    _url_params,
    _widget,
    keep_in_url,
)
from attnviz.ui.widgets import CHART_FORMAT, CHART_FORMATS


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


def switch_to(page: str, values: Mapping[str, Any]) -> NoReturn:
    """Open another page with some of its settings given (by session-state key), e.g. the Heads page on one
    head: the values are set before the page's sidebar reads them, and the link keeps the shared settings."""
    for key, value in values.items():
        st.session_state[key] = value
    st.switch_page(page, query_params=_url_params())


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
