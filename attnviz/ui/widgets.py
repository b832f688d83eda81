"""Widgets the pages share: select boxes that survive a new sentence, two-sentence comparisons,
the W view, charts with their toolbar, CSV downloads."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import streamlit as st

from attnviz import figures
from attnviz.attention import core, cross
from attnviz.ui.state import Setting, _widget, flag, keep_in_url, widget
from attnviz.ui.text import md_escape


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


@st.cache_resource(max_entries=256, show_spinner=False)
def _built(key: tuple, _build: Callable[[], Any]) -> Any:
    return _build()


def cached_figure(key: tuple, build: Callable[[], Any]):
    """The figure build() returns, built once per server for `key` (hashable: everything the figure depends
    on) and shared; figures are never changed after they are built, so a rerun that draws the same figure
    again (a click elsewhere on the page) pays only for sending it."""
    return _built(key, build)


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
