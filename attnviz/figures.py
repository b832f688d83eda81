"""Plotly figures: functions that take arrays and tokens and return a go.Figure.

No figure is displayed here; pages decide where each goes. Each figure is built in one call from
plain dicts with the empty template: plotly validates dicts quickly, and the page (Streamlit's
theme) supplies the look, so a rerun pays for the data, not for restyling.
"""

from __future__ import annotations

import base64
import html
import unicodedata
from collections import Counter
from dataclasses import dataclass
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
    counts, seen = Counter(tokens), Counter()
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


def _heatmap_trace(
    z: np.ndarray,
    rows: list[str],
    cols: list[str] | None,
    *,
    zmin: float | None,
    zmax: float | None,
    signed: bool,
    row_name: str,
    col_name: str,
    value_name: str,
    annotate: bool,
) -> dict:
    """One heatmap trace: z [r, c] with r row labels and c column labels (None: features d1 … dc)."""
    if z.shape[0] != len(rows) or (cols is not None and z.shape[1] != len(cols)):
        raise ValueError(f"matrix {z.shape} vs {len(rows)} rows x {cols if cols is None else len(cols)} cols")
    if signed and zmin is None and zmax is None:
        m = float(np.max(np.abs(z[np.isfinite(z)]), initial=0.0)) or 1.0
        zmin, zmax = -m, m  # symmetric, so white means 0
    col_hover = "%{x}" if cols is not None else "d%{x}"
    trace = {
        "type": "heatmap",
        "z": z,
        **({"x": Shared(cols)} if cols is not None else {"x0": 1, "dx": 1}),
        "y": Shared(rows),
        "zmin": zmin,
        "zmax": zmax,
        "colorscale": SIGNED_SCALE if signed else WEIGHTS_SCALE,
        "hovertemplate": f"{row_name}: %{{y}}<br>{col_name}: {col_hover}<br>{value_name} = %{{z:.6g}}<extra></extra>",
        "xgap": 1 if annotate else 0,
        "ygap": 1 if annotate else 0,
    }
    if annotate:
        lo, hi = (zmin, zmax) if zmin is not None and zmax is not None else _finite_range(z)
        trace |= {"texttemplate": f"%{{z:.{cell_decimals(lo, hi)}f}}", "textfont": {"size": 11}}
    return trace


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


def heatmap(
    matrix: np.ndarray,
    rows: list[str],
    cols: list[str] | None,
    *,
    title: str = "",
    zmin: float | None = None,
    zmax: float | None = None,
    signed: bool = False,
    row_name: str = "query",
    col_name: str = "key",
    value_name: str = "value",
    annotate: bool | None = None,
    height: int | None = None,
    shapes: list[dict] | None = None,
    square: bool = False,
) -> go.Figure:
    """One annotated heatmap; the hover shows the pair of labels and the exact value.

    square: cells stay square at any width (the y axis anchored to the x axis).

    matrix: [r, c], rows: r labels, cols: c labels (unique; see token_labels), or None for
    numbered features d1 … dc (a numeric axis: no label list to send for 384 columns)
    """
    z = _as_float(matrix)
    if annotate is None:
        annotate = max(z.shape) <= ANNOTATE_MAX
    trace = _heatmap_trace(
        z, rows, cols, zmin=zmin, zmax=zmax, signed=signed, row_name=row_name, col_name=col_name,
        value_name=value_name, annotate=annotate,
    )  # fmt: skip
    return _figure(
        [trace],
        {
            "title": {"text": title} if title else None,
            "height": height or _height(len(rows), annotate),
            "margin": MARGIN
            | _margins(tuple(rows), None if cols is None else tuple(cols), z.shape[1], title=bool(title)),
            "xaxis": _xaxis(z, cols) | _FIXED | (_SQUARE_X if square else {}),
            "yaxis": _YAXIS | _FIXED | (_SQUARE_Y if square else {}),
            **({"shapes": shapes} if shapes else {}),
        },
    )


@dataclass(frozen=True)
class Panel:
    """One matrix of a row of heatmaps that share their rows (see `panels`)."""

    matrix: np.ndarray  # [r, c]
    cols: list[str] | None  # c labels, or None for features d1 … dc
    title: str
    signed: bool = True  # blue < 0 < red; False: weights, 0 to 1
    col_name: str = "feature"
    value_name: str = "value"


def panels(
    items: list[Panel], rows: list[str], *, row_name: str = "token", shapes: list[dict] | None = None
) -> go.Figure:
    """Several matrices with the same rows side by side in one figure (one chart, not one per matrix),
    each with its own colour scale and its title above it; the hover shows the exact value.

    A large matrix is sent as float32, as in vectors_heatmap.
    """
    weight = np.array([max(p.matrix.shape[1], 3) for p in items], dtype=float)
    gap = 0.03
    width = (1.0 - gap * (len(items) - 1)) * weight / weight.sum()
    starts = np.concatenate([[0.0], np.cumsum(width + gap)[:-1]])
    annotate = [len(rows) <= ANNOTATE_MAX and p.matrix.shape[1] <= ANNOTATE_MAX // 3 for p in items]
    traces, layout = [], {}
    for i, (p, x0, w) in enumerate(zip(items, starts, width)):
        z = _as_float(p.matrix)
        z = z.astype(np.float32) if z.size > FLOAT32_ABOVE else z  # 7 digits, more than the 6 the hover shows
        axis = "" if i == 0 else str(i + 1)
        trace = _heatmap_trace(
            z, rows, p.cols, zmin=None if p.signed else 0.0, zmax=None if p.signed else 1.0, signed=p.signed,
            row_name=row_name, col_name=p.col_name, value_name=p.value_name, annotate=annotate[i],
        )  # fmt: skip
        traces.append(trace | {"xaxis": f"x{axis}", "yaxis": "y", "showscale": False})
        layout[f"xaxis{axis}"] = (
            _xaxis(z, p.cols)
            | _FIXED
            | {
                "domain": [float(x0), float(min(1.0, x0 + w))],
                "title": {"text": p.title},
                "anchor": "y",
            }
        )
    # each panel's labels and title above it (a feature axis's own title is its panel's); the last one's
    # tilted labels reach into the right margin
    room = [_margins(tuple(rows), None if p.cols is None else tuple(p.cols), p.matrix.shape[1], title=False)
            for p in items]  # fmt: skip
    top = max(m["t"] + (0 if p.cols is None else 22) for m, p in zip(room, items))
    margin = MARGIN | {"l": room[0]["l"], "t": top, "r": room[-1].get("r", MARGIN["r"])}
    return _figure(
        traces,
        layout
        | {"height": _height(len(rows), annotate) + 30, "margin": margin, "yaxis": _YAXIS | _FIXED}
        | ({"shapes": shapes} if shapes else {}),
    )


def weights_heatmap(
    weights: np.ndarray, tokens, *, title: str = "", relative: bool = False, square: bool = False
) -> go.Figure:
    """W [n, n]: how much each query (row) takes from each key (column); rows sum to 1.

    relative: colours from 0 to the largest weight (readable when every weight is near 1/n), else
    the absolute 0 to 1; square: cells stay square at any width (the y axis anchored to the x axis).
    """
    labels = token_labels(tokens)
    w = np.asarray(weights)
    top = float(np.max(w, initial=0.0)) if relative else 1.0
    return heatmap(w, labels, labels, title=title, zmin=0.0, zmax=top or 1.0, value_name="weight", square=square)


def scores_heatmap(scores: np.ndarray, tokens, *, value_name: str = "score") -> go.Figure:
    """W* [n, n] = X Xᵀ: signed dot products, white at 0."""
    labels = token_labels(tokens)
    return heatmap(scores, labels, labels, signed=True, value_name=value_name)


def vectors_heatmap(x: np.ndarray, tokens, *, value_name: str = "x", shapes: list[dict] | None = None) -> go.Figure:
    """X or Y [n, d]: one row per token, one column per feature, white at 0.

    A large matrix (n × 384) is sent as float32, half the bytes: 7 significant digits, more than
    the 6 the hover shows (MiniLM's own vectors are float32 to begin with). Small ones, such as the
    toy vectors, keep every digit.
    """
    x = np.asarray(x)
    return heatmap(
        x.astype(np.float32) if x.size > FLOAT32_ABOVE else x,
        token_labels(tokens),
        None,
        signed=True,
        row_name="token",
        col_name="feature",
        value_name=value_name,
        shapes=shapes,
    )


def cross_heatmap(weights: np.ndarray, queries, keys, *, value_name: str = "weight") -> go.Figure:
    """Cross-attention W [nA, nB]: A's pieces ask (rows), B's answer (columns); rows sum to 1."""
    return heatmap(
        weights,
        token_labels(queries),
        token_labels(keys),
        zmin=0.0,
        zmax=1.0,
        row_name="query (A)",
        col_name="key (B)",
        value_name=value_name,
    )


def qkv(q: np.ndarray, k: np.ndarray, v: np.ndarray, tokens, *, query: int) -> go.Figure:
    """Q, K, V [n, d_head] each, side by side; the followed query's row of Q outlined."""
    dh = q.shape[1]
    outline = {"type": "rect", "xref": "x", "yref": "y", "x0": 0.5, "x1": dh + 0.5, "y0": query - 0.5,
               "y1": query + 0.5, "line": {"color": "#d62728", "width": 2}}  # fmt: skip
    return panels(
        [Panel(q, None, "Q (queries)", value_name="q"), Panel(k, None, "K (keys)", value_name="k"),
         Panel(v, None, "V (values)", value_name="v")],
        token_labels(tokens),
        shapes=[outline],
    )  # fmt: skip


def scores_and_weights(scores: np.ndarray, weights: np.ndarray, tokens, *, d_head: int) -> go.Figure:
    """S = Q Kᵀ / √d_head [n, n] (signed) beside W = softmax(S) by rows [n, n] (0 to 1)."""
    labels = token_labels(tokens)
    return panels(
        [Panel(scores, labels, f"S = Q Kᵀ / √{d_head}", col_name="key", value_name="S"),
         Panel(weights, labels, "W = softmax(S) by rows", signed=False, col_name="key", value_name="weight")],
        labels,
        row_name="query",
    )  # fmt: skip


def query_walk(
    dots: np.ndarray, scaled: np.ndarray, weights: np.ndarray, values: np.ndarray, keys, *, d_head: int
) -> go.Figure:
    """One query through a head, one row per key: q·k_j, q·k_j / √d_head, its weight w_j, and w_j v_j;
    a last row holds z = Σ_j w_j v_j (the sum of the rows above it).

    dots, scaled, weights: [m], values: [m, d_head] -> one figure of three panels sharing the rows
    """
    w = np.asarray(weights, dtype=np.float64)
    terms = w[:, None] * np.asarray(values, dtype=np.float64)  # [m, dh]
    pad = np.full((1, 1), np.nan)  # the sum row has no score or weight of its own
    rows = [*token_labels(keys), "= z (the sum)"]
    return panels(
        [Panel(np.vstack([np.stack([dots, scaled], axis=1), np.full((1, 2), np.nan)]), ["q·k", f"/ √{d_head}"],
               "score", col_name="step", value_name="score"),
         Panel(np.vstack([w[:, None], pad]), ["w"], "weight", signed=False, col_name="step", value_name="weight"),
         Panel(np.vstack([terms, terms.sum(axis=0)]), None, "w_j v_j, and their sum z", value_name="value")],
        rows,
        row_name="key",
        shapes=[{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": len(w) - 0.5,
                 "y1": len(w) - 0.5, "line": {"color": "#000", "width": 2}}],
    )  # fmt: skip


def heads_side_by_side(merged: np.ndarray, tokens, *, n_heads: int, chosen: int) -> go.Figure:
    """Every head's Z side by side [n, h * d_head], the chosen head's columns outlined."""
    d_head = merged.shape[1] // n_heads
    return vectors_heatmap(
        merged,
        tokens,
        value_name="z",
        shapes=[
            {"type": "rect", "xref": "x", "yref": "paper", "x0": chosen * d_head + 0.5,
             "x1": (chosen + 1) * d_head + 0.5, "y0": 0, "y1": 1, "line": {"color": "#d62728", "width": 3}}
        ] + [
            {"type": "line", "xref": "x", "yref": "paper", "x0": h * d_head + 0.5, "x1": h * d_head + 0.5, "y0": 0,
             "y1": 1, "line": {"color": "#555", "width": 1, "dash": "dot"}}
            for h in range(1, n_heads)
        ],
    )  # fmt: skip


def row_bars(weights_row: np.ndarray, tokens) -> go.Figure:
    """One row of W as bars: the recipe of one weighted average."""
    labels = token_labels(tokens)
    w = np.asarray(weights_row, dtype=np.float64)
    bars = {
        "type": "bar",
        "x": labels,
        "y": w,
        "marker": {"color": "#31688e"},
        "hovertemplate": "weight on %{x} = %{y:.6g}<extra></extra>",
    }
    if len(w) <= ANNOTATE_MAX:
        bars |= {"text": [f"{v:.2f}" for v in w], "textposition": "outside"}
    return _figure(
        [bars],
        {
            "height": 260,
            "yaxis": {"range": [0, 1.05], "title": {"text": "weight"}},
            "xaxis": {"type": "category", "tickangle": -45 if len(w) > 8 else 0},
        },
    )


def entropy_bars(entropies: dict[str, np.ndarray], tokens) -> go.Figure:
    """Each row's entropy (bits) for several attention patterns, side by side per token."""
    labels = token_labels(tokens)
    n = len(labels)
    even = float(np.log2(n)) if n > 1 else 0.0
    bars = [
        {"type": "bar", "name": name, "x": labels, "y": np.asarray(e, dtype=np.float64),
         "hovertemplate": "%{x}: %{y:.4f} bits"}
        for name, e in entropies.items()
    ]  # fmt: skip
    return _figure(
        bars,
        {
            "barmode": "group",
            "height": 280,
            "yaxis": {"title": {"text": "entropy (bits)"}, "range": [0, even * 1.1 or 1]},
            "xaxis": {"type": "category"},
            "legend": {"orientation": "h", "y": 1.12},
            "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": even, "y1": even,
                        "line": {"dash": "dot", "color": "#555"}}],
            "annotations": [{"xref": "paper", "x": 1, "y": even, "text": "log₂ n: spread evenly",
                             "showarrow": False, "xanchor": "right", "yanchor": "bottom"}],
        },
    )  # fmt: skip


def model_grid(attentions: np.ndarray, *, chosen: tuple[int, int] | None = None) -> go.Figure:
    """Every head of every layer as a small heatmap: rows are layers, columns are heads.

    attentions: [L, H, n, n]. Hovering a cell names its layer and head; the chosen one is outlined.
    """
    n_layers, n_heads, n, _ = attentions.shape
    step = n + max(1, n // 6)  # a gap between the small maps
    traces = [
        {"type": "heatmap", "z": attentions[layer, head], "x0": head * step, "y0": layer * step,
         "coloraxis": "coloraxis", "hovertemplate": f"layer {layer}, head {head}<br>weight %{{z:.4f}}<extra></extra>"}
        for layer in range(n_layers)
        for head in range(n_heads)
    ]  # fmt: skip
    shapes = []
    if chosen is not None:
        layer, head = chosen
        shapes.append(
            {"type": "rect", "x0": head * step - 1, "x1": head * step + n, "y0": layer * step - 1,
             "y1": layer * step + n, "line": {"color": "#d62728", "width": 3}}
        )  # fmt: skip
    ticks = {"tickmode": "array", "showgrid": False, "zeroline": False}
    return _figure(
        traces,
        {
            "coloraxis": {"colorscale": WEIGHTS_SCALE, "cmin": 0.0, "cmax": 1.0,
                          "colorbar": {"title": {"text": "weight"}}},
            "height": 120 + 75 * n_layers,
            "margin": {**MARGIN, "t": 30},
            "shapes": shapes,
            "xaxis": {**ticks, "tickvals": [h * step + n / 2 for h in range(n_heads)],
                      "ticktext": [f"head {h}" for h in range(n_heads)], "side": "top"},
            "yaxis": {**ticks, "tickvals": [layer * step + n / 2 for layer in range(n_layers)],
                      "ticktext": [f"layer {layer}" for layer in range(n_layers)], "autorange": "reversed",
                      "scaleanchor": "x"},
        },
    )  # fmt: skip


def head_view(weights: dict[str, np.ndarray], tokens, *, focus: int | None = None) -> go.Figure:
    """bertviz's head view: tokens in two columns, a line from each query (left) to each key (right)
    whose opacity is the weight; one colour per head. focus: show only that query's lines.

    weights: {head name: [n, n]}
    """
    labels = token_labels(tokens)
    n = len(labels)
    queries = range(n) if focus is None else [focus]
    traces = []
    for c, (name, w) in enumerate(weights.items()):
        colour = HEAD_COLOURS[c % len(HEAD_COLOURS)]
        level = np.clip(np.ceil(np.asarray(w) * 10), 1, 10).astype(int)  # [n, n] opacity in tenths
        for b in range(1, 11):  # one trace per opacity step; lines under 0.02 are not drawn
            xs, ys = [], []
            for i in queries:
                for j in np.flatnonzero((level[i] == b) & (w[i] >= 0.02)):
                    xs += [0.0, 1.0, None]
                    ys += [i, int(j), None]
            if xs:
                traces.append(
                    {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "line": {"color": colour, "width": 2},
                     "opacity": b / 10, "legendgroup": name, "showlegend": False, "hoverinfo": "skip"}
                )  # fmt: skip
        traces.append(
            {"type": "scatter", "x": [None], "y": [None], "mode": "lines", "name": name,
             "line": {"color": colour, "width": 3}, "legendgroup": name}
        )  # fmt: skip
    first = next(iter(weights.values()))
    strongest = [f"query {labels[i]}: strongest key {labels[int(np.argmax(first[i]))]}" for i in range(n)]
    for x, side, hover in (
        (0.0, "middle left", strongest),
        (1.0, "middle right", [f"key {t}" for t in labels]),
    ):
        traces.append(
            {"type": "scatter", "x": [x] * n, "y": list(range(n)), "mode": "text", "text": labels,
             "textposition": side, "hovertext": hover, "hoverinfo": "text", "showlegend": False}
        )  # fmt: skip
    return _figure(
        traces,
        {
            "height": int(min(2400, max(300, 60 + 22 * n))),
            "margin": {**MARGIN, "t": 30},
            "xaxis": {"visible": False, "range": [-0.6, 1.6]},
            "yaxis": {"visible": False, "autorange": "reversed"},
            "legend": {"orientation": "h", "y": 1.02},
        },
    )


# --- text labels on scatter plots that stay legible where points crowd ---------------------------

TEXT_MAX = 40  # above this many points a scatter plot's labels are left to the hover
LABEL_H, LABEL_GAP = 14.0, 6.0  # px: the line of a 12 px text label, and its gap from an 11 px marker
SAME_PX = 4.0  # points closer than this on the screen are at the same place: one label for them
LABEL_PAD = 3.0  # px kept clear around each label: room for the screen's scale differing from the estimate
MARKER_PX = 11.0
# textposition -> the label's box (x0, x1, y0, y1) in px from its point, y up, for a label w px wide;
# tried in this order, so a label sits above its point unless something is there already
_PLACES = (
    ("top center", lambda w: (-w / 2, w / 2, LABEL_GAP, LABEL_GAP + LABEL_H)),
    ("bottom center", lambda w: (-w / 2, w / 2, -LABEL_GAP - LABEL_H, -LABEL_GAP)),
    ("middle right", lambda w: (LABEL_GAP, LABEL_GAP + w, -LABEL_H / 2, LABEL_H / 2)),
    ("middle left", lambda w: (-LABEL_GAP - w, -LABEL_GAP, -LABEL_H / 2, LABEL_H / 2)),
    ("top right", lambda w: (LABEL_GAP / 2, LABEL_GAP / 2 + w, LABEL_GAP / 2, LABEL_GAP / 2 + LABEL_H)),
    ("top left", lambda w: (-LABEL_GAP / 2 - w, -LABEL_GAP / 2, LABEL_GAP / 2, LABEL_GAP / 2 + LABEL_H)),
    ("bottom right", lambda w: (LABEL_GAP / 2, LABEL_GAP / 2 + w, -LABEL_GAP / 2 - LABEL_H, -LABEL_GAP / 2)),
    ("bottom left", lambda w: (-LABEL_GAP / 2 - w, -LABEL_GAP / 2, -LABEL_GAP / 2 - LABEL_H, -LABEL_GAP / 2)),
)


@dataclass(frozen=True)
class PointLabels:
    """A scatter trace's text labels as drawn: `texttemplate` per point ("" draws none, "%{text}" the point's
    own label, else the text shared by points at one place) and `textposition` per point."""

    texttemplate: list[str]
    textposition: list[str]


def _px_scale(points: np.ndarray, width_px: float, height_px: float) -> float:
    """Screen px per data unit of a plot with equal axes (scaleanchor) showing these points [m, 2]."""
    span = np.ptp(points, axis=0) * 1.15 + 1e-12  # Plotly pads the range around markers and text
    return float(min(width_px / span[0], height_px / span[1]))


def merged_label(labels: list[str]) -> str:
    """One label for tokens at one place: "the #1, #2" for one word's repeats, "a · b" for different words."""
    bases = {label.rsplit(" #", 1)[0] for label in labels}
    if len(bases) == 1 and len(labels) > 1 and all(" #" in label for label in labels):
        base = bases.pop()
        text = base + " #" + ", #".join(label.rsplit(" #", 1)[1] for label in labels)
    else:
        text = " · ".join(labels)
    return text.replace("%{", "%\u200b{")  # literal text in a texttemplate: no "%{…}" may be read as a field


def place_labels(
    traces: list[tuple[np.ndarray, list[str]]],
    *,
    width_px: float,
    height_px: float,
    avoid: np.ndarray | None = None,
    extent: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> list[PointLabels]:
    """Text labels for the points of one or more scatter traces (points [n, 2], labels as given to Plotly),
    placed so that they stay legible: points at the same place (within SAME_PX; in every frame, if the first
    trace's `frames` [K, n, 2] are given) share one label ("the #1, #2"), and each label goes to the first
    side of its point (above, below, right, left, then the corners) where it covers no label placed before
    and no other point (nor one of `avoid` [m, 2], markers without labels); where every side is taken, to the
    side that covers least. The plot area's size on
    the screen is an estimate (width_px × height_px), as the heatmaps' margins are (label_px); `extent` [m, 2]:
    other points the axes must show (they set the scale, but labels may cover them)."""
    if not traces:
        return []
    everything = np.vstack([p for p, _ in traces] + ([] if avoid is None else [avoid]))  # [m, 2]
    scale = _px_scale(everything if extent is None else np.vstack([everything, extent]), width_px, height_px)
    markers = everything * scale
    h, pad = MARKER_PX / 2, np.array([-LABEL_PAD, LABEL_PAD, -LABEL_PAD, LABEL_PAD])
    marker_boxes = np.c_[markers[:, 0] - h, markers[:, 0] + h, markers[:, 1] - h, markers[:, 1] + h]  # [m, 4]
    out, items = [], []  # items: (trace, point, text, its boxes [8, 4], the markers it may cover [k, 4])
    for t, (points, labels) in enumerate(traces):
        px = points * scale  # [n, 2]
        where = px[None] if frames is None or t else frames * _px_scale(frames.reshape(-1, 2), width_px, height_px)
        groups: list[list[int]] = []
        for i in range(len(px)):
            same = next((g for g in groups if np.all(np.abs(where[:, i] - where[:, g[0]]) < SAME_PX)), None)
            if same is None:
                groups.append([i])
            else:
                same.append(i)
        for g in groups:
            text = "%{text}" if len(g) == 1 else merged_label([labels[i] for i in g])
            width = float(label_px((labels[g[0]] if len(g) == 1 else text,)))
            x, y = px[g[0]]
            boxes = np.array([np.add(f(width), (x, x, y, y)) for _, f in _PLACES]) + pad  # [8, 4]
            away = np.any(np.abs(markers - px[g[0]]) >= SAME_PX, axis=1)  # the points elsewhere
            items.append((t, g[0], text, boxes, marker_boxes[away]))
        out.append(PointLabels([""] * len(px), ["top center"] * len(px)))
    # Greedy, in order (each label against those before it), then twice more against all the others.
    chosen = np.full(len(items), -1)
    placed = np.zeros((len(items), 4))  # the chosen boxes
    for _ in range(3):
        for k, (_, _, _, boxes, blocked) in enumerate(items):
            others = placed[(chosen >= 0) & (np.arange(len(items)) != k)]
            cover = _overlaps(boxes, blocked) + _overlaps(boxes, others)  # [8]
            chosen[k] = int(np.argmin(cover))  # the first of equals
            placed[k] = boxes[chosen[k]]
    for (t, i, text, _, _), c in zip(items, chosen):
        out[t].texttemplate[i], out[t].textposition[i] = text, _PLACES[c][0]
    return out


def _overlaps(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The area each of boxes [b, 4] (x0, x1, y0, y1) shares with others [m, 4], summed over them -> [b]."""
    w = np.minimum(boxes[:, None, 1], others[None, :, 1]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 2], others[None, :, 2])
    return (np.clip(w, 0, None) * np.clip(h, 0, None)).sum(axis=1)


def _row_texts(weights: np.ndarray, labels: list[str], top: int = 8) -> list[str]:
    """Each row of W [n, m] as hover text: its largest weights first (one sort for all rows)."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :top]  # [n, min(top, m)]
    more = " …" if len(labels) > top else ""
    return ["<br>".join(f"{labels[j]}: {row[j]:.4f}" for j in idx) + more for row, idx in zip(weights, order)]


def geometry(
    before: np.ndarray,
    after: np.ndarray,
    weights: np.ndarray,
    tokens,
    *,
    chosen: int | None = None,
    axes: tuple[str, str] = ("x", "y"),
) -> go.Figure:
    """Word vectors in a plane before (hollow) and after attention (filled), an arrow for each
    token's move, and lines from the chosen token's new position to the points it averages
    (thickness = weight).  before, after: [n, 2], weights: [n, n]
    """
    labels = token_labels(tokens)
    n = len(labels)
    traces = []
    if chosen is not None:  # one trace per line width (whole pixels), not one per line
        widths = np.round(0.5 + 12 * np.asarray(weights[chosen], dtype=np.float64))
        for width in np.unique(widths):
            xs, ys = [], []
            for j in np.flatnonzero(widths == width):
                xs += [after[chosen, 0], before[j, 0], None]
                ys += [after[chosen, 1], before[j, 1], None]
            traces.append(
                {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "opacity": 0.7, "hoverinfo": "skip",
                 "line": {"color": "#E69F00", "width": float(width)}, "showlegend": False}
            )  # fmt: skip
    # every token's move as one trace: a segment from before to after, an arrowhead at the end
    moves_x = np.c_[before[:, 0], after[:, 0], np.full(n, np.nan)].ravel()
    moves_y = np.c_[before[:, 1], after[:, 1], np.full(n, np.nan)].ravel()
    traces.append(
        {"type": "scatter", "x": moves_x, "y": moves_y, "mode": "lines+markers", "name": "move", "hoverinfo": "skip",
         "line": {"color": "#555", "width": 1.2}, "showlegend": False,
         "marker": {"symbol": "arrow", "angleref": "previous", "color": "#555", "size": np.tile([0, 11, 0], n)}}
    )  # fmt: skip
    text = {}
    if n <= TEXT_MAX:
        (placed,) = place_labels([(before, labels)], avoid=after, width_px=560, height_px=464)
        text = {"mode": "markers+text", "texttemplate": placed.texttemplate, "textposition": placed.textposition}
    traces += [
        {"type": "scatter", "x": before[:, 0], "y": before[:, 1], "mode": "markers", "text": labels, **text,
         "name": "before: X",
         "marker": {"size": 11, "symbol": "circle-open", "color": "#0072B2", "line": {"width": 2}},
         "hovertemplate": "%{text} before<br>(%{x:.4f}, %{y:.4f})<extra></extra>"},
        {"type": "scatter", "x": after[:, 0], "y": after[:, 1], "mode": "markers", "text": labels,
         "name": "after: Y = W X", "marker": {"size": 11, "color": "#D55E00"},
         "customdata": _row_texts(weights, labels),
         "hovertemplate": "%{text} after<br>(%{x:.4f}, %{y:.4f})<br>its row of W:<br>%{customdata}<extra></extra>"},
    ]  # fmt: skip
    return _figure(
        traces,
        {
            "height": 560,
            # numeric ticks (at most ~6 characters: "−0.25", "1000") and a one-line title on each axis, the
            # legend above: margins fixed up front, as for the heatmaps (see _margins)
            "margin": MARGIN | {"l": 14 + int(7.5 * 7) + 24, "b": 12 + 20 + 24, "t": 40},
            "xaxis": {"title": {"text": axes[0]}, "zeroline": True} | _FIXED,
            "yaxis": {"title": {"text": axes[1]}, "zeroline": True, "scaleanchor": "x"} | _FIXED,
            "legend": {"orientation": "h", "y": 1.05},
        },
    )


QUERY_COLOUR, KEY_COLOUR = "#0072B2", "#D55E00"  # blue and vermilion: apart for colour-blind eyes too
_ROLES = (("queries", "query", QUERY_COLOUR, "circle"), ("keys", "key", KEY_COLOUR, "diamond"))


def _encoded(a: np.ndarray) -> dict:
    """A 1-D float array as Plotly's typed-array spec, encoded once (Plotly would inspect and encode it on
    every send; the corpus's points are sent on every rerun)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return {"dtype": "f8", "bdata": base64.b64encode(a.tobytes()).decode("ascii"), "shape": str(len(a))}


def _decoded(traces) -> np.ndarray:
    """The points [m, 2] of scatter traces whose x and y are typed arrays (_encoded)."""
    axis = lambda t, a: np.frombuffer(base64.b64decode(t[a]["bdata"]), dtype=np.float64)  # noqa: E731
    return np.vstack([np.c_[axis(t, "x"), axis(t, "y")] for t in traces]) if traces else np.zeros((0, 2))


def qk_corpus_traces(
    points: np.ndarray, is_query: np.ndarray, sentence: np.ndarray, tokens, sentences: tuple[str, ...]
) -> tuple[dict, dict]:
    """The faint clouds of the corpus's queries and keys, with the token and its sentence on hover; built
    once per head and reused.  points [P, 2], is_query [P] bool, sentence [P] int, tokens (P), sentences: texts
    """
    short = [escape_markup(s if len(s) <= 90 else s[:89] + "…") for s in sentences]
    tokens = np.asarray(tokens, dtype=object)
    traces = []
    for (plural, role, colour, symbol), sel in zip(_ROLES, (is_query, ~is_query)):
        text = Shared(f"<b>{escape_markup(t)}</b> ({role})<br>{short[i]}" for t, i in zip(tokens[sel], sentence[sel]))
        traces.append(
            {"type": "scatter", "x": _encoded(points[sel, 0]), "y": _encoded(points[sel, 1]), "mode": "markers",
             "name": f"corpus {plural}", "marker": {"size": 5, "color": colour, "symbol": symbol, "opacity": 0.35},
             "hovertext": text, "hovertemplate": "%{hovertext}<extra></extra>"}
        )  # fmt: skip
    return tuple(traces)


def qk_space(
    corpus: tuple[dict, dict],
    typed_q: np.ndarray,
    typed_k: np.ndarray,
    tokens,
    *,
    chosen: int | None = None,
    top: np.ndarray = (),
    top_weights: np.ndarray = (),
    axes: tuple[str, str] = ("PC 1", "PC 2"),
) -> go.Figure:
    """Queries and keys in one plane: the corpus's clouds (qk_corpus_traces), the typed sentence's points
    large and labelled, lines from the chosen query to its strongest keys (width = weight, weight in the legend).

    typed_q, typed_k: [n, 2]; tokens (n); chosen: a query's index; top [k]: indices of its keys, top_weights [k]
    """
    labels = token_labels(tokens)
    traces = list(corpus)
    if chosen is not None:
        for j, w in zip(top, top_weights):
            traces.append(
                {"type": "scatter", "x": [typed_q[chosen, 0], typed_k[j, 0]], "y": [typed_q[chosen, 1], typed_k[j, 1]],
                 "mode": "lines", "name": f"→ {labels[j]}: {w:.3f}", "opacity": 0.6,
                 "line": {"color": "#000000", "width": float(1 + 8 * w)},
                 "hovertemplate": f"{labels[chosen]} → {labels[j]}<br>weight = {w:.6g}<extra></extra>"}
            )  # fmt: skip
    placed = (
        place_labels([(typed_q, labels), (typed_k, labels)], extent=_decoded(corpus), width_px=760, height_px=545)
        if len(labels) <= TEXT_MAX
        else [None, None]
    )
    for (plural, role, colour, symbol), xy, at in zip(_ROLES, (typed_q, typed_k), placed):
        text = {} if at is None else {"mode": "markers+text", "texttemplate": at.texttemplate,
                                      "textposition": at.textposition}  # fmt: skip
        traces.append(
            {"type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "markers", **text,
             "name": f"your {plural}", "text": labels, "textfont": {"color": colour},
             "marker": {"size": 11, "color": colour, "symbol": symbol, "line": {"width": 1.5, "color": "#000000"}},
             "hovertemplate": f"<b>%{{text}}</b> ({role}, your sentence)<br>(%{{x:.4f}}, %{{y:.4f}})<extra></extra>"}
        )  # fmt: skip
    if chosen is not None:
        traces.append(
            {"type": "scatter", "x": typed_q[chosen : chosen + 1, 0], "y": typed_q[chosen : chosen + 1, 1],
             "mode": "markers", "name": f"the query {labels[chosen]}",
             "marker": {"size": 20, "color": QUERY_COLOUR, "symbol": "star",
                        "line": {"width": 1.5, "color": "#000000"}},
             "hovertemplate": f"<b>{labels[chosen]}</b> (the chosen query)<extra></extra>"}
        )  # fmt: skip
    return _figure(
        traces,
        {
            "height": 640,
            "margin": {**MARGIN, "t": 40},  # room for the modebar above the legend
            "xaxis": {"title": {"text": axes[0]}, "zeroline": False},
            "yaxis": {"title": {"text": axes[1]}, "zeroline": False, "scaleanchor": "x"},
            "legend": {"orientation": "v", "x": 1.01, "y": 1},
            "hovermode": "closest",
        },
    )


def animation(frames: np.ndarray, tokens, *, axes: tuple[str, str] = ("x", "y"), ms: int = 350) -> go.Figure:
    """The points after k = 0, 1, … applications of the same attention, with Play and a k slider.

    frames: [K + 1, n, 2]. Runs in the browser (Plotly frames): no rerun while it plays.
    """
    labels = token_labels(tokens)
    text = {}
    if len(labels) <= TEXT_MAX:  # placed for the first frame; points that never part share one label
        (placed,) = place_labels([(frames[0], labels)], frames=frames, width_px=560, height_px=440)
        text = {"mode": "markers+text", "texttemplate": placed.texttemplate, "textposition": placed.textposition}

    base = {"type": "scatter", "x": frames[0, :, 0], "y": frames[0, :, 1], "mode": "markers", "text": labels,
            **text, "marker": {"size": 11, "color": "#D55E00"},
            "hovertemplate": "%{text}<br>(%{x:.4f}, %{y:.4f})<extra></extra>"}  # fmt: skip

    lo, hi = frames.reshape(-1, 2).min(axis=0), frames.reshape(-1, 2).max(axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-9)
    steps = range(frames.shape[0])
    still = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    play = {
        "frame": {"duration": ms, "redraw": False},
        "transition": {"duration": ms * 0.8},
        "fromcurrent": True,
    }
    return _figure(
        [base],
        {
            "height": 560,
            "margin": {**MARGIN, "b": 90},
            "xaxis": {"title": {"text": axes[0]}, "range": [lo[0] - pad[0], hi[0] + pad[0]]},
            "yaxis": {"title": {"text": axes[1]}, "range": [lo[1] - pad[1], hi[1] + pad[1]]},
            "updatemenus": [
                {"type": "buttons", "direction": "left", "x": 0.0, "y": -0.1, "xanchor": "left", "yanchor": "top",
                 "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                             {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]}]}
            ],
            "sliders": [
                {"active": 0, "x": 0.2, "len": 0.8, "y": -0.06, "currentvalue": {"prefix": "k = "},
                 "steps": [{"label": str(k), "method": "animate", "args": [[str(k)], still]} for k in steps]}
            ],
        },
        # a frame carries only the new positions; labels and style stay those of the first trace
        frames=[{"data": [{"x": frames[k, :, 0], "y": frames[k, :, 1]}], "name": str(k)} for k in steps],
    )  # fmt: skip


def distance_chart(series: dict[str, np.ndarray]) -> go.Figure:
    """Distances between the tokens against the number of attention steps k."""
    lines = [
        {"type": "scatter", "x": list(range(len(v))), "y": np.asarray(v, dtype=np.float64), "mode": "lines+markers",
         "name": name, "hovertemplate": "k = %{x}: %{y:.4f}<extra>" + name + "</extra>"}
        for name, v in series.items()
    ]  # fmt: skip
    return _figure(
        lines,
        {
            "height": 280,
            "xaxis": {"title": {"text": "k (times the attention was applied)"}, "dtick": 2},
            "yaxis": {"title": {"text": "distance"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": 1.15},
        },
    )


def loss_curve(losses, *, steps: int | None = None, title: str = "") -> go.Figure:
    """The training loss at every step so far.  losses: [k]; steps: the run's length, so the x-axis
    stays put while the curve grows during training."""
    y = np.asarray(losses, dtype=np.float64)
    top = float(np.max(y, initial=0.0)) * 1.05 or 1.0
    line = {"type": "scatter", "x0": 1, "dx": 1, "y": y, "mode": "lines", "line": {"color": "#0072B2", "width": 2},
            "hovertemplate": "step %{x}: loss %{y:.4g}<extra></extra>"}  # fmt: skip
    return _figure(
        [line],
        {
            "title": {"text": title} if title else None,
            "height": 320,
            "margin": {**MARGIN, "t": 40 if title else 10},
            "xaxis": {"title": {"text": "step"}, "range": [0, steps or max(len(y), 1)]},
            "yaxis": {"title": {"text": "loss (cross-entropy)"}, "range": [0, top]},
        },
    )


def weights_animation(frames: np.ndarray, steps, tokens, *, ms: int = 250) -> go.Figure:
    """W at each checkpoint of a training run, with a step slider and Play (both run in the browser).

    frames: [C, n, n] rows sum to 1, steps: C step numbers. Starts on the last frame (the result).
    """
    labels = token_labels(tokens)
    n = len(labels)
    z = _as_float(frames[-1])
    annotate = n <= ANNOTATE_MAX
    trace = _heatmap_trace(
        z, labels, labels, zmin=0.0, zmax=1.0, signed=False, row_name="query", col_name="key",
        value_name="weight", annotate=annotate,
    )  # fmt: skip
    layout = {"height": _height(n, annotate), "margin": MARGIN, "xaxis": _xaxis(z, labels), "yaxis": _YAXIS}
    names = [str(s) for s in steps]
    still = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate", "transition": {"duration": 0}}
    play = {"frame": {"duration": ms, "redraw": True}, "transition": {"duration": 0}, "fromcurrent": False}
    layout |= {
        "height": layout["height"] + 90,
        "margin": {**layout["margin"], "b": 90},
        "updatemenus": [
            {"type": "buttons", "direction": "left", "x": 0.0, "y": -0.1 - 0.6 / max(n, 1), "xanchor": "left",
             "yanchor": "top", "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                                           {"label": "❚❚ Pause", "method": "animate", "args": [[None], still]}]}
        ],
        "sliders": [
            {"active": len(names) - 1, "x": 0.25, "len": 0.75, "y": -0.04 - 0.6 / max(n, 1),
             "currentvalue": {"prefix": "step "},
             "steps": [{"label": name, "method": "animate", "args": [[name], still]} for name in names]}
        ],
    }  # fmt: skip
    return _figure(
        [trace],
        layout,
        frames=[{"data": [{"type": "heatmap", "z": f}], "name": name} for f, name in zip(frames, names)],
    )


def cost_chart(n, exact_s, linear_s, *, flops_line=None, slopes: tuple[float, float] | None = None) -> go.Figure:
    """Seconds against n on log-log axes: exact softmax attention, linear (FAVOR+), and the time of
    exact's 4·n²·d flops of matrix products alone (dotted).  n, exact_s, linear_s, flops_line: [k]"""
    ex, li = ("", "") if slopes is None else (f" (slope {slopes[0]:.2f})", f" (slope {slopes[1]:.2f})")
    lines = [
        {"type": "scatter", "x": np.asarray(n), "y": np.asarray(exact_s), "mode": "lines+markers",
         "name": "exact softmax" + ex, "line": {"color": "#D55E00"},
         "hovertemplate": "n = %{x}: %{y:.3g} s<extra>exact</extra>"},
        {"type": "scatter", "x": np.asarray(n), "y": np.asarray(linear_s), "mode": "lines+markers",
         "name": "linear (FAVOR+)" + li, "line": {"color": "#0072B2"},
         "hovertemplate": "n = %{x}: %{y:.3g} s<extra>linear</extra>"},
    ]  # fmt: skip
    if flops_line is not None:
        lines.append(
            {"type": "scatter", "x": np.asarray(n), "y": np.asarray(flops_line), "mode": "lines",
             "name": "4·n²·d flops: Q Kᵀ and W V alone", "line": {"color": "#555", "dash": "dot"},
             "hovertemplate": "n = %{x}: %{y:.3g} s<extra>products alone</extra>"}
        )  # fmt: skip
    return _figure(
        lines,
        {
            "height": 420,
            "xaxis": {"title": {"text": "n (tokens)"}, "type": "log", "dtick": np.log10(2)},
            "yaxis": {"title": {"text": "seconds (median)"}, "type": "log", "exponentformat": "power"},
            "legend": {"orientation": "h", "y": 1.12},
        },
    )


def memory_chart(n, exact_bytes, linear_bytes, limits: dict[str, float]) -> go.Figure:
    """Bytes against n on log-log axes, with a horizontal line for each memory size in `limits`."""
    lines = [
        {"type": "scatter", "x": np.asarray(n), "y": np.asarray(exact_bytes, dtype=np.float64), "mode": "lines",
         "name": "exact: the n × n matrix", "line": {"color": "#D55E00"},
         "hovertemplate": "n = %{x:,}: %{y:.3s}B<extra>exact</extra>"},
        {"type": "scatter", "x": np.asarray(n), "y": np.asarray(linear_bytes, dtype=np.float64), "mode": "lines",
         "name": "linear: one block's features and the summary", "line": {"color": "#0072B2"},
         "hovertemplate": "n = %{x:,}: %{y:.3s}B<extra>linear</extra>"},
    ]  # fmt: skip
    shapes = [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": b, "y1": b, "line": {"dash": "dot", "color": "#555"}}
        for b in limits.values()
    ]
    notes = [
        {"xref": "paper", "x": 0, "y": np.log10(b), "text": name, "showarrow": False, "xanchor": "left",
         "yanchor": "bottom"}
        for name, b in limits.items()
    ]  # fmt: skip
    return _figure(
        lines,
        {
            "height": 380,
            "margin": MARGIN | {"r": 24},  # the last tick label, 10⁶, is centred on the plot's right edge
            "xaxis": {"title": {"text": "n (tokens)"}, "type": "log", "exponentformat": "power"},
            "yaxis": {"title": {"text": "bytes (float64)"}, "type": "log", "exponentformat": "SI"},
            "legend": {"orientation": "h", "y": 1.14},
            "shapes": shapes,
            "annotations": notes,
        },
    )


def error_chart(m, errors: dict[str, np.ndarray]) -> go.Figure:
    """An approximation's error against the number of random features m (log-log)."""
    lines = [
        {"type": "scatter", "x": np.asarray(m), "y": np.asarray(e, dtype=np.float64), "mode": "lines+markers",
         "name": name, "hovertemplate": "m = %{x}: %{y:.3g}<extra>" + name + "</extra>"}
        for name, e in errors.items()
    ]  # fmt: skip
    return _figure(
        lines,
        {
            "height": 340,
            "xaxis": {"title": {"text": "random features m"}, "type": "log", "dtick": np.log10(4)},
            "yaxis": {"title": {"text": "|Δ| against the exact W"}, "type": "log", "exponentformat": "power"},
            "legend": {"orientation": "h", "y": 1.15},
        },
    )


# --- images: the 8 × 8 digits and attention painted on them ---------------------------------------


def _digit_traces(
    image: np.ndarray, painted: np.ndarray, labels: list | None, axes: str = "", *, value_name: str, dot: float
) -> list:
    """`painted` [8, 8] (one value per pixel, its patch's) in viridis, and the digit over it as a dot per
    pixel, as large as the pixel is dark (`dot`: the size of a full pixel); the hover shows the pixel and
    the exact painted value.  image: [8, 8] 0 … 16 -> [the digit's pixels, the painted map, the dots]"""
    axis = {"xaxis": f"x{axes}", "yaxis": f"y{axes}"}
    image = _as_float(image)
    where = "" if labels is None else "patch %{customdata}<br>"
    digit = {"type": "heatmap", "z": image, "visible": False, **axis}  # the pixel values, for a reader of the data
    paint = {"type": "heatmap", "z": _as_float(painted), "zmin": 0.0, "zmax": float(np.max(painted)) or 1.0,
             "colorscale": WEIGHTS_SCALE, "showscale": False, "text": image,
             "hovertemplate": where + "pixel row %{y}, column %{x}: %{text:.0f} of 16<br>"
                              + value_name + " = %{z:.6g}<extra></extra>", **axis}  # fmt: skip
    if labels is not None:
        paint["customdata"] = labels
    rows, cols = np.nonzero(image)
    dots = {"type": "scatter", "x": cols, "y": rows, "mode": "markers", "hoverinfo": "skip", "showlegend": False,
            "marker": {"size": dot * np.sqrt(image[rows, cols] / 16.0), "color": "#ffffff",
                       "line": {"color": "#000000", "width": 1}}, **axis}  # fmt: skip
    return [digit, paint, dots]


def _pixel_axes(axes: str = "", domain: list[float] | None = None) -> dict:
    """An 8 × 8 image's axes: row 0 on top, square pixels, a tick per pixel."""
    x = {"range": [-0.5, 7.5], "dtick": 1, "showgrid": False, "zeroline": False, "constrain": "domain"}
    y = {
        "range": [7.5, -0.5],
        "dtick": 1,
        "showgrid": False,
        "zeroline": False,
        "scaleanchor": f"x{axes}",
        "constrain": "domain",
    }
    if domain is not None:
        x |= {"domain": domain, "anchor": f"y{axes}"}
        y |= {"anchor": f"x{axes}"}
    return {f"xaxis{axes}": x, f"yaxis{axes}": y}


def digit_attention(image: np.ndarray, patch: int, labels, *, row: np.ndarray, query: int) -> go.Figure:
    """One digit cut into P × P patches (grid lines), with a row of W painted back onto it (a dot per
    pixel shows the digit) and the query patch outlined; an invisible square marker on each patch (the
    fourth trace, in patch order) makes it clickable (selectable).

    image: [8, 8] pixel values 0 … 16; labels: k patch labels; row: [k] one query's weights; query: its index
    """
    g = 8 // patch
    painted = np.kron(np.asarray(row, dtype=np.float64).reshape(g, g), np.ones((patch, patch)))
    cells = np.array(labels, dtype=object).reshape(g, g)
    pixel_labels = np.kron(np.arange(g * g).reshape(g, g), np.ones((patch, patch), dtype=int))
    traces = _digit_traces(image, painted, cells.ravel()[pixel_labels].tolist(), value_name="weight", dot=38)
    centres = (np.arange(g) + 0.5) * patch - 0.5
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    traces.append(
        {"type": "scatter", "x": cx.ravel(), "y": cy.ravel(), "mode": "markers", "customdata": Shared(labels),
         "marker": {"symbol": "square", "size": 36 * patch, "opacity": 0.0, "color": "#000000"},
         "selected": {"marker": {"opacity": 0.0}}, "unselected": {"marker": {"opacity": 0.0}},
         "hoverinfo": "none", "showlegend": False}
    )  # fmt: skip
    lines = [
        {"type": "line", "x0": v, "x1": v, "y0": -0.5, "y1": 7.5, "line": {"color": "#E69F00", "width": 1}}
        for v in np.arange(patch, 8, patch) - 0.5
    ] + [
        {"type": "line", "y0": v, "y1": v, "x0": -0.5, "x1": 7.5, "line": {"color": "#E69F00", "width": 1}}
        for v in np.arange(patch, 8, patch) - 0.5
    ]
    r, c = divmod(int(query), g)
    lines.append({"type": "rect", "x0": c * patch - 0.5, "x1": c * patch + patch - 0.5, "y0": r * patch - 0.5,
                  "y1": r * patch + patch - 0.5, "line": {"color": "#D55E00", "width": 4}})  # fmt: skip
    return _figure(
        traces,
        {"height": 420, "shapes": lines, "dragmode": False, "hovermode": "closest", **_pixel_axes()},
    )


def digit_gallery(images: np.ndarray, painted: np.ndarray, titles: list[str], *, value_name: str) -> go.Figure:
    """A row of digits, each with a map painted over it (e.g. the attention each patch receives).

    images: [m, 8, 8] 0 … 16; painted: [m, 8, 8]; titles: m strings
    """
    m = len(images)
    gap = 0.02
    width = (1.0 - gap * (m - 1)) / m
    traces, layout = [], {}
    for i in range(m):
        axes = "" if i == 0 else str(i + 1)
        traces += _digit_traces(images[i], painted[i], None, axes, value_name=value_name, dot=9)
        x0 = i * (width + gap)
        layout |= _pixel_axes(axes, [x0, x0 + width])
        layout[f"xaxis{axes}"] |= {"title": {"text": titles[i]}, "side": "top", "showticklabels": False}
        layout[f"yaxis{axes}"] |= {"showticklabels": False}
    return _figure(traces, {"height": 200, "margin": {**MARGIN, "t": 40}, **layout})


def confusion_heatmap(counts: np.ndarray) -> go.Figure:
    """counts [10, 10]: row = the true class, column = the predicted one; whole numbers in the cells."""
    names = [str(i) for i in range(len(counts))]
    fig = heatmap(counts, names, names, row_name="true digit", col_name="predicted", value_name="test digits",
                  annotate=True)  # fmt: skip
    fig.data[0].texttemplate = "%{z:.0f}"
    fig.data[0].hovertemplate = "true digit %{y}, predicted %{x}: %{z:.0f} test digits<extra></extra>"
    return fig
