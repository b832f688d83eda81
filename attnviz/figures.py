"""Plotly figures: functions that take arrays and tokens and return a go.Figure.

No figure is displayed here; pages decide where each goes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import plotly.graph_objects as go

ANNOTATE_MAX = 30  # above this many rows or columns, numbers in cells become unreadable
WEIGHTS_SCALE = "Viridis"  # sequential, colour-blind safe: 0 .. 1
SIGNED_SCALE = "RdBu_r"  # diverging, colour-blind safe, white at 0: negative blue, positive red


def token_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Axis labels, one per token; a repeated token gets its position so each label is unique.

    ["the", "cat", "the"] -> ["the #1", "cat", "the #3"]  (a categorical axis merges equal labels)
    Plotly reads <b>, <a href> … in text as markup, so < > & are given as entities: shown, never parsed.
    """
    counts = Counter(tokens)
    labels = [f"{t} #{i + 1}" if counts[t] > 1 else t for i, t in enumerate(tokens)]
    return [escape_markup(label) for label in labels]


def escape_markup(text: str) -> str:
    """Text as Plotly shows it literally: &, < and > as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dim_labels(d: int) -> list[str]:
    """Feature names for the columns of X: d1 … dD."""
    return [f"d{j + 1}" for j in range(d)]


def heatmap(
    matrix: np.ndarray,
    rows: list[str],
    cols: list[str],
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
) -> go.Figure:
    """One annotated heatmap; the hover shows the pair of labels and the exact value.

    matrix: [r, c], rows: r labels, cols: c labels (unique; see token_labels)
    """
    z = np.asarray(matrix, dtype=np.float64)
    if z.shape != (len(rows), len(cols)):
        raise ValueError(f"matrix {z.shape} vs {len(rows)} rows x {len(cols)} cols")
    if annotate is None:
        annotate = max(z.shape) <= ANNOTATE_MAX
    if signed and zmin is None and zmax is None:
        m = float(np.max(np.abs(z[np.isfinite(z)]), initial=0.0)) or 1.0
        zmin, zmax = -m, m  # symmetric, so white means 0
    trace = go.Heatmap(
        z=z,
        x=list(cols),
        y=list(rows),
        zmin=zmin,
        zmax=zmax,
        colorscale=SIGNED_SCALE if signed else WEIGHTS_SCALE,
        hovertemplate=f"{row_name}: %{{y}}<br>{col_name}: %{{x}}<br>{value_name} = %{{z:.6g}}<extra></extra>",
        texttemplate="%{z:.2f}" if annotate else None,
        textfont={"size": 11},
        xgap=1 if annotate else 0,
        ygap=1 if annotate else 0,
    )
    fig = go.Figure(trace)
    per_row = 28 if annotate else 12 if len(rows) <= 64 else 6
    fig.update_layout(
        title=title or None,
        height=height or int(min(900, max(260, 110 + per_row * len(rows)))),
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"side": "top", "tickangle": -45 if len(cols) > 8 else 0, "type": "category"},
        yaxis={"autorange": "reversed", "type": "category"},  # row 1 on top, like a matrix
    )
    return fig


def weights_heatmap(weights: np.ndarray, tokens, *, title: str = "", height: int | None = None) -> go.Figure:
    """W [n, n]: how much each query (row) takes from each key (column); rows sum to 1."""
    labels = token_labels(tokens)
    return heatmap(
        weights, labels, labels, title=title, zmin=0.0, zmax=1.0, value_name="weight", height=height
    )


def scores_heatmap(scores: np.ndarray, tokens, *, title: str = "", value_name: str = "score") -> go.Figure:
    """W* [n, n] = X Xᵀ: signed dot products, white at 0."""
    labels = token_labels(tokens)
    return heatmap(scores, labels, labels, title=title, signed=True, value_name=value_name)


def vectors_heatmap(x: np.ndarray, tokens, *, title: str = "", value_name: str = "x") -> go.Figure:
    """X or Y [n, d]: one row per token, one column per feature, white at 0."""
    return heatmap(
        x,
        token_labels(tokens),
        dim_labels(x.shape[1]),
        title=title,
        signed=True,
        row_name="token",
        col_name="feature",
        value_name=value_name,
        annotate=max(x.shape) <= ANNOTATE_MAX,
    )


def row_bars(weights_row: np.ndarray, tokens) -> go.Figure:
    """One row of W as bars: the recipe of one weighted average."""
    labels = token_labels(tokens)
    w = np.asarray(weights_row, dtype=np.float64)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=w,
            marker={"color": w, "colorscale": WEIGHTS_SCALE, "cmin": 0.0, "cmax": 1.0},
            text=[f"{v:.2f}" for v in w] if len(w) <= ANNOTATE_MAX else None,
            textposition="outside",
            hovertemplate="weight on %{x} = %{y:.6g}<extra></extra>",
        )
    )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"range": [0, 1.05], "title": "weight"},
        xaxis={"type": "category", "tickangle": -45 if len(w) > 8 else 0},
    )
    return fig
