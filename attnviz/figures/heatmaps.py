"""Matrices as heatmaps: X, W*, W and Y, cross-attention, Q/K/V, the heads side by side, one
row as bars, the model's 72 heads, and the neuron view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import (
    _FIXED,
    _SQUARE_X,
    _SQUARE_Y,
    _YAXIS,
    ANNOTATE_MAX,
    FLOAT32_ABOVE,
    HEAD_COLOURS,
    MARGIN,
    SIGNED_SCALE,
    WEIGHTS_SCALE,
    Shared,
    _as_float,
    _figure,
    _finite_range,
    _height,
    _margins,
    _xaxis,
    cell_decimals,
    token_labels,
)


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
    trace: dict = {
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
        | {"height": _height(len(rows), bool(annotate)) + 30, "margin": margin, "yaxis": _YAXIS | _FIXED}
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
