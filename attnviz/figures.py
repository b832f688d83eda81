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


def entropy_bars(entropies: dict[str, np.ndarray], tokens) -> go.Figure:
    """Each row's entropy (bits) for several attention patterns, side by side per token."""
    labels = token_labels(tokens)
    fig = go.Figure(
        [
            go.Bar(
                name=name, x=labels, y=np.asarray(e, dtype=np.float64), hovertemplate="%{x}: %{y:.4f} bits"
            )
            for name, e in entropies.items()
        ]
    )
    n = len(labels)
    fig.add_hline(
        y=float(np.log2(n)) if n > 1 else 0.0, line_dash="dot", annotation_text="log₂ n: spread evenly"
    )
    fig.update_layout(
        barmode="group",
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"title": "entropy (bits)"},
        xaxis={"type": "category"},
        legend={"orientation": "h", "y": 1.12},
    )
    return fig


def model_grid(attentions: np.ndarray, *, chosen: tuple[int, int] | None = None) -> go.Figure:
    """Every head of every layer as a small heatmap: rows are layers, columns are heads.

    attentions: [L, H, n, n]. Hovering a cell names its layer and head; the chosen one is outlined.
    """
    n_layers, n_heads, n, _ = attentions.shape
    step = n + max(1, n // 6)  # a gap between the small maps
    traces = [
        go.Heatmap(
            z=attentions[layer, head],
            x0=head * step,
            y0=layer * step,
            coloraxis="coloraxis",
            hovertemplate=f"layer {layer}, head {head}<br>weight %{{z:.4f}}<extra></extra>",
        )
        for layer in range(n_layers)
        for head in range(n_heads)
    ]
    fig = go.Figure(traces)
    if chosen is not None:
        layer, head = chosen
        fig.add_shape(
            type="rect",
            x0=head * step - 1,
            x1=head * step + n,
            y0=layer * step - 1,
            y1=layer * step + n,
            line={"color": "#d62728", "width": 3},
        )
    ticks = {"tickmode": "array", "showgrid": False, "zeroline": False}
    fig.update_layout(
        coloraxis={"colorscale": WEIGHTS_SCALE, "cmin": 0.0, "cmax": 1.0, "colorbar": {"title": "weight"}},
        height=120 + 75 * n_layers,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={
            **ticks,
            "tickvals": [h * step + n / 2 for h in range(n_heads)],
            "ticktext": [f"head {h}" for h in range(n_heads)],
            "side": "top",
        },
        yaxis={
            **ticks,
            "tickvals": [layer * step + n / 2 for layer in range(n_layers)],
            "ticktext": [f"layer {layer}" for layer in range(n_layers)],
            "autorange": "reversed",
            "scaleanchor": "x",
        },
    )
    return fig


HEAD_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def head_view(weights: dict[str, np.ndarray], tokens, *, focus: int | None = None) -> go.Figure:
    """bertviz's head view: tokens in two columns, a line from each query (left) to each key (right)
    whose opacity is the weight; one colour per head. focus: show only that query's lines.

    weights: {head name: [n, n]}
    """
    labels = token_labels(tokens)
    n = len(labels)
    queries = range(n) if focus is None else [focus]
    levels = np.linspace(0.1, 1.0, 10)  # lines are drawn in 10 opacity steps; below 0.02 not at all
    traces = []
    for c, (name, w) in enumerate(weights.items()):
        colour = HEAD_COLOURS[c % len(HEAD_COLOURS)]
        binned = np.clip(np.ceil(np.asarray(w) * 10) - 1, 0, 9).astype(int)  # [n, n] opacity step
        for b in range(10):
            xs, ys = [], []
            for i in queries:
                for j in np.flatnonzero((binned[i] == b) & (w[i] >= 0.02)):
                    xs += [0.0, 1.0, None]
                    ys += [i, int(j), None]
            if xs:
                traces.append(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines",
                        line={"color": colour, "width": 2},
                        opacity=float(levels[b]),
                        name=name,
                        legendgroup=name,
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
        traces.append(
            go.Scatter(x=[None], y=[None], mode="lines", line={"color": colour, "width": 3}, name=name)
        )
    hover = [
        "<br>".join(f"{name}: {labels[i]} → {labels[j]} = {w[i, j]:.4f}" for name, w in weights.items())
        for i in range(n)
        for j in [int(np.argmax(next(iter(weights.values()))[i]))]
    ]
    traces.append(
        go.Scatter(
            x=[0.0] * n,
            y=list(range(n)),
            mode="text",
            text=labels,
            textposition="middle left",
            hovertext=[f"query {lab}; strongest: {h}" for lab, h in zip(labels, hover)],
            hoverinfo="text",
            showlegend=False,
        )
    )
    traces.append(
        go.Scatter(
            x=[1.0] * n,
            y=list(range(n)),
            mode="text",
            text=labels,
            textposition="middle right",
            hovertext=[f"key {lab}" for lab in labels],
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig = go.Figure(traces)
    fig.update_layout(
        height=int(min(2400, max(300, 60 + 22 * n))),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"visible": False, "range": [-0.6, 1.6]},
        yaxis={"visible": False, "autorange": "reversed"},
        legend={"orientation": "h", "y": 1.02},
    )
    return fig


def _row_text(weights_row: np.ndarray, labels: list[str], top: int = 8) -> str:
    """A row of W as hover text: the largest weights first."""
    order = np.argsort(-weights_row)[:top]
    more = " …" if len(labels) > top else ""
    return "<br>".join(f"{labels[j]}: {weights_row[j]:.4f}" for j in order) + more


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
    rows = [_row_text(weights[i], labels) for i in range(n)]
    fig = go.Figure()
    if chosen is not None:
        for j in range(n):
            fig.add_trace(
                go.Scatter(
                    x=[after[chosen, 0], before[j, 0]],
                    y=[after[chosen, 1], before[j, 1]],
                    mode="lines",
                    line={"color": "#E69F00", "width": 0.5 + 12 * float(weights[chosen, j])},
                    opacity=0.7,
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    fig.add_trace(
        go.Scatter(
            x=before[:, 0],
            y=before[:, 1],
            mode="markers+text" if n <= 40 else "markers",
            text=labels,
            textposition="top center",
            marker={"size": 11, "symbol": "circle-open", "color": "#0072B2", "line": {"width": 2}},
            name="before: X",
            hovertemplate="%{text} before<br>(%{x:.4f}, %{y:.4f})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=after[:, 0],
            y=after[:, 1],
            mode="markers",
            text=labels,
            marker={"size": 11, "color": "#D55E00"},
            name="after: Y = W X",
            customdata=rows,
            hovertemplate="%{text} after<br>(%{x:.4f}, %{y:.4f})<br>"
            "its row of W:<br>%{customdata}<extra></extra>",
        )
    )
    for i in range(n):
        fig.add_annotation(
            x=after[i, 0],
            y=after[i, 1],
            ax=before[i, 0],
            ay=before[i, 1],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=1.2,
            arrowcolor="#555",
            text="",
        )
    fig.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": axes[0], "zeroline": True},
        yaxis={"title": axes[1], "zeroline": True, "scaleanchor": "x"},
        legend={"orientation": "h", "y": 1.05},
    )
    return fig


def animation(frames: np.ndarray, tokens, *, axes: tuple[str, str] = ("x", "y"), ms: int = 350) -> go.Figure:
    """The points after k = 0, 1, … applications of the same attention, with Play and a k slider.

    frames: [K + 1, n, 2]. Runs in the browser (Plotly frames): no rerun while it plays.
    """
    labels = token_labels(tokens)
    n = len(labels)
    mode = "markers+text" if n <= 40 else "markers"

    def points(k: int) -> go.Scatter:
        return go.Scatter(
            x=frames[k, :, 0],
            y=frames[k, :, 1],
            mode=mode,
            text=labels,
            textposition="top center",
            marker={"size": 11, "color": "#D55E00"},
            hovertemplate="%{text}<br>(%{x:.4f}, %{y:.4f})<extra></extra>",
        )

    lo, hi = frames.reshape(-1, 2).min(axis=0), frames.reshape(-1, 2).max(axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-9)
    steps = range(frames.shape[0])
    fig = go.Figure(
        data=[points(0)],
        frames=[go.Frame(data=[points(k)], name=str(k)) for k in steps],
    )
    play = {
        "frame": {"duration": ms, "redraw": False},
        "transition": {"duration": ms * 0.8},
        "fromcurrent": True,
    }
    fig.update_layout(
        height=560,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": axes[0], "range": [lo[0] - pad[0], hi[0] + pad[0]]},
        yaxis={"title": axes[1], "range": [lo[1] - pad[1], hi[1] + pad[1]]},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": -0.08,
                "xanchor": "left",
                "yanchor": "top",
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.2,
                "len": 0.8,
                "y": -0.05,
                "currentvalue": {"prefix": "k = "},
                "steps": [
                    {
                        "label": str(k),
                        "method": "animate",
                        "args": [[str(k)], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}],
                    }
                    for k in steps
                ],
            }
        ],
    )
    return fig


def distance_chart(series: dict[str, np.ndarray]) -> go.Figure:
    """Distances between the tokens against the number of attention steps k."""
    fig = go.Figure(
        [
            go.Scatter(
                x=list(range(len(v))),
                y=np.asarray(v, dtype=np.float64),
                mode="lines+markers",
                name=name,
                hovertemplate="k = %{x}: %{y:.4f}<extra>" + name + "</extra>",
            )
            for name, v in series.items()
        ]
    )
    fig.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "k (times the attention was applied)", "dtick": 2},
        yaxis={"title": "distance", "rangemode": "tozero"},
        legend={"orientation": "h", "y": 1.15},
    )
    return fig
