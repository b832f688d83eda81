"""What every figure shares: the colour scales, labels made safe and unique, margins sized to
the tick labels, the number of decimals a cell needs, and `_figure`, which builds one go.Figure
from plain dicts."""

from __future__ import annotations

import html
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale


class Shared(tuple):
    """A tuple of strings (or of such tuples) that figures may share instead of copying.

    Plotly deep-copies every property of a trace when it builds a figure and again when Streamlit
    sends it, and `copy.deepcopy` walks a list item by item (~70 µs for 130 labels, 2-3 times per
    trace, a dozen label lists per page). An immutable tuple of strings can be its own copy."""

    def __deepcopy__(self, memo) -> Shared:
        return self


ANNOTATE_MAX = 30  # above this many rows or columns, numbers in cells become unreadable
# Colour scales as explicit pairs (figures are not validated, so no name is expanded for us).
WEIGHTS_SCALE = Shared(map(tuple, get_colorscale("Viridis")))  # sequential, colour-blind safe: 0 .. 1
SIGNED_SCALE = Shared(map(tuple, get_colorscale("RdBu_r")))  # diverging, colour-blind safe, white at 0: neg. blue
HEAD_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}
FLOAT32_ABOVE = 4096  # numbers in one matrix: above this, vectors are sent as float32


def _figure(data: list[dict], layout: dict, frames: list[dict] | None = None) -> go.Figure:
    """The figure, not validated again property by property: that costs more than the rest of a
    rerun. tests/test_figures.py rebuilds every figure with validation on, so a typo still fails.

    The template is an empty dict, not the name "none": unvalidated, a name stays a bare string,
    which Plotly's own to_html and the notebook renderers read as a dict (AttributeError). Empty
    or named, Streamlit's theme fills it in the browser; an empty one costs nothing to build."""
    layout = {"template": {}, "margin": MARGIN, **layout}
    return go.Figure(data=data, layout=layout, frames=frames, _validate=VALIDATE)


VALIDATE = False  # tests set it to True


def unique_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """One label per token; a repeated token gets its count so far, so each label is unique.

    ["the", "cat", "the"] -> ["the #1", "cat", "the #2"]  (a categorical axis merges equal labels)

    The count, not the position: "the #2" is the second "the" on every page and chart, whether [CLS]
    and [SEP] are shown or not, and in a list of the pieces two sentences share.
    """
    counts, seen = Counter(tokens), Counter[str]()
    labels = []
    for t in tokens:
        seen[t] += 1
        labels.append(f"{t} #{seen[t]}" if counts[t] > 1 else t)
    return labels


def token_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """unique_labels for Plotly: it reads <b>, <a href> … in text as markup, so < > & are given
    as entities: shown as typed, never parsed."""
    return list(_plotly_labels(tuple(tokens)))


@lru_cache(maxsize=64)
def _plotly_labels(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Every figure of a page labels the same tokens: compute the labels once."""
    return tuple(escape_markup(label) for label in unique_labels(tokens))


def escape_markup(text: str) -> str:
    """Text as Plotly shows it literally: &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CELL_STEPS = 20  # the colour steps a reader tells apart along a colour scale, about


def cell_decimals(lo: float, hi: float) -> int:
    """Decimals for the numbers printed in cells coloured from lo to hi: enough that two cells one colour step
    ((hi − lo) / CELL_STEPS) apart print different numbers. W on its 0–1 scale: 2 ("0.25"); a difference of
    weights within ±0.004: 4 ("-0.0031"); scores spread over 200: none ("103")."""
    span = hi - lo
    if not (np.isfinite(span) and span > 0):
        return 2  # one colour for every cell: nothing to tell apart
    return int(np.clip(np.ceil(np.log10(CELL_STEPS / span) - 1e-9), 0, 8))


def _finite_range(z: np.ndarray) -> tuple[float, float]:
    finite = z[np.isfinite(z)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _as_float(matrix: np.ndarray) -> np.ndarray:
    z = np.asarray(matrix)
    return z if z.dtype in (np.float32, np.float64) else z.astype(np.float64)


def _tilted(cols, n_cols: int) -> bool:
    """Column labels at -45°: past 8 columns, or when level labels would not fit side by side in ~360 px."""
    return n_cols > 8 or (cols is not None and n_cols * (label_px(tuple(cols)) + 10) > 360)


def _xaxis(z: np.ndarray, cols: list[str] | None) -> dict:
    return {"side": "top", "tickangle": -45 if _tilted(cols, z.shape[1]) else 0} | (
        {"type": "category"} if cols is not None else {"title": {"text": "feature"}, "tickprefix": "d"}
    )


def _height(n_rows: int, annotate: bool) -> int:
    per_row = 28 if annotate else 12 if n_rows <= 64 else 6
    return int(min(900, max(260, 110 + per_row * n_rows)))


_YAXIS = {"autorange": "reversed", "type": "category"}  # row 1 on top, like a matrix

# Margins sized to the tick labels up front, with Plotly's automargin off: automargin draws a chart,
# measures every label, widens the margins and draws it all again (at 128 tokens that doubled the
# browser's time to show W after Enter). Widths are estimated generously at Plotly's 12 px tick font.
PX_PER_CHAR = 7.0  # a typical character; the estimate below errs wide (measured in Chromium: 5-11 px)
LABEL_LINE_PX = 16  # the height of a 12 px label's box
LABEL_PX_MAX = 260  # a longer label is cut at the margin (its hover still shows it whole)
_CHAR_PX = {**dict.fromkeys("MWmw@%", 11.5), **dict.fromkeys("iljtfrI.,;:|!'` ", 4.5)}


def _char_px(ch: str) -> float:
    if unicodedata.east_asian_width(ch) in "WF":  # CJK and emoji: full width
        return 15.0
    return _CHAR_PX.get(ch, 8.5 if ch.isupper() else PX_PER_CHAR)


@lru_cache(maxsize=256)
def label_px(labels: tuple[str, ...]) -> int:
    """Estimated width in px of the widest label (as given to Plotly: &lt; &gt; &amp; count as one)."""
    widest = max((sum(map(_char_px, html.unescape(t))) for t in labels), default=0.0)
    return int(min(LABEL_PX_MAX, widest))


def _margins(rows: tuple[str, ...], cols: tuple[str, ...] | None, n_cols: int, *, title: bool) -> dict:
    """l and t (px) that hold the row labels (left) and the column labels (top; see _tilted).

    A label tilted by 45° rises by (width + height) · sin 45° and reaches as far to the right of its
    tick, so the last column's label needs room in the right margin too (a colour bar there widens it).
    Measured in Chromium (12 px labels): a label's box is 16 px high; a level one ends 14 px above the
    plot, a tilted one 18 px (so "hi" needs 31 px, and "r0c0", 26 px wide, 48 px); a row label ends 16 px
    left of the plot."""
    top = label_px(cols) if cols is not None else PX_PER_CHAR * len(f"d{n_cols}")
    tilted = _tilted(cols, n_cols)
    slant = 0.71 * (top + LABEL_LINE_PX) + 20
    axis_title = 22 if cols is None else 0  # "feature"
    t = (slant if tilted else LABEL_LINE_PX + 16) + axis_title + (32 if title else 0)
    return {"l": 18 + label_px(rows), "t": int(t)} | ({"r": int(slant)} if tilted else {})


CELL_TEXT_PAD = 4  # px of a cell left beside its number (2 on each side), so neighbours never touch


def _cell_texts(trace) -> list[str]:
    """The numbers a heatmap trace writes in its cells (its texttemplate "%{z:.2f}" or "%{z:.0f}" applied)."""
    digits = int(trace.texttemplate.split(".", 1)[1].split("f", 1)[0])
    z = np.asarray(trace.z, dtype=np.float64)
    return [f"{v:.{digits}f}" for v in z[np.isfinite(z)]]


def fit_cell_text(fig: go.Figure, width: int) -> go.Figure:
    """Leave out the numbers in heatmap cells that would not fit their cells when the figure is drawn `width`
    px wide (at its layout height): a number wider than its cell runs into the next one. The hover still
    shows every value. The numbers' widths are estimated as the tick labels' are (label_px, which errs wide),
    at the text's font size; a square heatmap's cells are as wide as its shorter side allows."""
    layout = fig.layout
    margin = layout.margin
    plot_w = width - (margin.l or 0) - (margin.r or 0)
    plot_h = (layout.height or 450) - (margin.t or 0) - (margin.b or 0)
    for trace in fig.data:
        if trace.type != "heatmap" or not trace.texttemplate:
            continue
        x_axis, y_axis = (layout[f"{a}axis{(getattr(trace, a + 'axis') or a)[1:]}"] for a in "xy")  # "x2" -> xaxis2
        n_rows, n_cols = np.shape(trace.z)
        x0, x1 = x_axis.domain or (0, 1)
        cell = plot_w * (x1 - x0) / n_cols
        if y_axis.scaleanchor:  # square cells: the shorter side decides
            y0, y1 = y_axis.domain or (0, 1)
            cell = min(cell, plot_h * (y1 - y0) / n_rows)
        text = label_px(tuple(_cell_texts(trace))) * (trace.textfont.size or 12) / 12
        if text + CELL_TEXT_PAD > cell - (trace.xgap or 0):
            trace.texttemplate = None
    return fig


_SQUARE_X, _SQUARE_Y = {"constrain": "domain"}, {"scaleanchor": "x", "constrain": "domain"}  # square cells
_FIXED = {"automargin": False}  # the margins are sized to the labels (see _margins)
