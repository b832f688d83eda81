"""What each head does: the census as a 6 × 12 grid, where each layer's attention goes, what removing
heads moves, and the pruning curve."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import HEAD_COLOURS, MARGIN, WEIGHTS_SCALE, _figure

CLASS_COLOURS = {  # census class -> colour (colour-blind safe, as HEAD_COLOURS)
    "previous": "#D55E00",
    "next": "#CC79A7",
    "vertical": "#0072B2",
    "diagonal": "#009E73",
    "broad": "#E69F00",
    "heterogeneous": "#BBBBBB",
}


def _outline(chosen: tuple[int, int] | None) -> list[dict]:
    if chosen is None:
        return []
    layer, head = chosen
    return [{"type": "rect", "x0": head - 0.5, "x1": head + 0.5, "y0": layer - 0.5, "y1": layer + 0.5,
             "line": {"color": "#000000", "width": 3}}]  # fmt: skip


def _grid_layout(n_layers: int, n_heads: int, chosen: tuple[int, int] | None) -> dict:
    return {
        "height": 90 + 44 * n_layers,
        "margin": MARGIN | {"l": 60, "b": 40},
        "xaxis": {"title": {"text": "head"}, "tickmode": "linear", "dtick": 1, "range": [-0.5, n_heads - 0.5],
                  "fixedrange": True},
        "yaxis": {"title": {"text": "layer"}, "tickmode": "linear", "dtick": 1, "autorange": "reversed",
                  "fixedrange": True},
        "shapes": _outline(chosen),
    }  # fmt: skip


def census_grid(
    values: np.ndarray, *, name: str, chosen: tuple[int, int] | None = None, zmax: float | None = None
) -> go.Figure:
    """One statistic of every head, a cell per head (rows: layers 0–5, columns: heads 0–11), the value in
    the cell and on hover; the chosen head outlined.  values [L, H]"""
    z = np.asarray(values, dtype=np.float64)
    top = zmax if zmax is not None else float(np.max(z, initial=0.0)) or 1.0
    trace = {
        "type": "heatmap",
        "z": z,
        "zmin": 0.0,
        "zmax": top,
        "colorscale": WEIGHTS_SCALE,
        "texttemplate": "%{z:.2f}",
        "textfont": {"size": 10},
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"thickness": 12},
        "hoverinfo": "skip",
    }
    layers, heads = np.indices(z.shape)
    cells = {  # a clear square over each cell: Streamlit reports a click on a point, not on a heatmap's cell
        "type": "scatter", "x": heads.ravel(), "y": layers.ravel(), "customdata": z.ravel(), "mode": "markers",
        "marker": {"symbol": "square", "size": 30, "color": "rgba(0,0,0,0)"}, "showlegend": False,
        "hovertemplate": f"layer %{{y}}, head %{{x}}<br>{name} = %{{customdata:.4f}}<extra></extra>",
    }  # fmt: skip
    n_layers, n_heads = z.shape
    return _figure([trace, cells], _grid_layout(n_layers, n_heads, chosen))


def class_grid(classes: np.ndarray, *, chosen: tuple[int, int] | None = None) -> go.Figure:
    """The class of every head, a colour per class (named in the legend and the cell).  classes [L, H] str"""
    n_layers, n_heads = classes.shape
    traces = []
    for cls, colour in CLASS_COLOURS.items():
        layers, heads = np.nonzero(classes == cls)
        traces.append(
            {"type": "scatter", "x": heads, "y": layers, "mode": "markers+text", "name": f"{cls} ({len(heads)})",
             "marker": {"symbol": "square", "size": 34, "color": colour},
             "text": [cls[:4]] * len(heads), "textfont": {"size": 9, "color": "#000000"},
             "hovertemplate": f"layer %{{y}}, head %{{x}}: {cls}<extra></extra>"}
        )  # fmt: skip
    layout = _grid_layout(n_layers, n_heads, chosen)
    return _figure(traces, layout | {"height": layout["height"] + 30, "legend": {"orientation": "h", "y": -0.18}})


def sink_bars(to_cls: np.ndarray, to_sep: np.ndarray, to_punct: np.ndarray) -> go.Figure:
    """Where each layer's attention goes on average: [CLS], [SEP], punctuation, the other pieces (stacked,
    as Clark et al.'s Fig. 2).  to_* [L]: the layer's mean over heads"""
    parts = {"[CLS]": to_cls, "[SEP]": to_sep, "punctuation": to_punct,
             "other pieces": 1.0 - np.asarray(to_cls) - np.asarray(to_sep) - np.asarray(to_punct)}  # fmt: skip
    layers = np.arange(len(to_cls))
    return _figure(
        [
            {"type": "bar", "x": layers, "y": np.asarray(y, dtype=np.float64), "name": name,
             "marker": {"color": HEAD_COLOURS[i] if name != "other pieces" else "#DDDDDD"},
             "hovertemplate": f"layer %{{x}}: %{{y:.1%}} on {name}<extra></extra>"}
            for i, (name, y) in enumerate(parts.items())
        ],
        {"height": 300, "barmode": "stack", "margin": MARGIN | {"t": 30},
         "xaxis": {"title": {"text": "layer"}, "tickmode": "linear", "dtick": 1},
         "yaxis": {"title": {"text": "share of attention"}, "range": [0, 1], "tickformat": ".0%"},
         "legend": {"orientation": "h", "y": 1.15}},
    )  # fmt: skip


def layer_cosine_chart(layer_cosine: np.ndarray) -> go.Figure:
    """How far each layer's hidden states moved: the mean cosine over pieces to the intact model's, from the
    embeddings (0) to the last layer's output (6).  layer_cosine [L + 1]"""
    y = np.asarray(layer_cosine, dtype=np.float64)
    names = ["embeddings", *(f"after layer {i}" for i in range(len(y) - 1))]
    return _figure(
        [{"type": "scatter", "x": names, "y": y, "mode": "lines+markers", "line": {"color": HEAD_COLOURS[0]},
          "hovertemplate": "%{x}: mean cosine to intact %{y:.5f}<extra></extra>"}],
        {"height": 280, "margin": MARGIN | {"t": 20},
         "xaxis": {"type": "category"},
         "yaxis": {"title": {"text": "mean cosine to intact"}, "range": [min(0.0, float(y.min())), 1.02]}},
    )  # fmt: skip


def pruning_chart(
    fractions, cosine: dict[str, list[float]], paraphrase: dict[str, list[float]], *, band: tuple[float, float]
) -> go.Figure:
    """The two scores against the share of heads removed, in importance order (solid) and a random order
    (dotted); band: the share Michel et al. could prune without a noticeable loss, shaded."""
    x = np.asarray(fractions, dtype=np.float64)
    traces = []
    for i, (score, series) in enumerate((("mean cosine to intact", cosine), ("paraphrase score", paraphrase))):
        for order, dash in (("importance", "solid"), ("random", "dot")):
            label = "least important first" if order == "importance" else "random order"
            traces.append(
                {"type": "scatter", "x": x, "y": np.asarray(series[order], dtype=np.float64), "mode": "lines+markers",
                 "name": f"{score}, {label}", "line": {"color": HEAD_COLOURS[i], "dash": dash, "width": 2},
                 "hovertemplate": f"%{{x:.0%}} of heads removed ({label}): {score} %{{y:.3f}}<extra></extra>"}
            )  # fmt: skip
    return _figure(
        traces,
        {"height": 360, "margin": MARGIN | {"t": 40},
         "xaxis": {"title": {"text": "share of the 72 heads removed"}, "range": [0, 1], "tickformat": ".0%"},
         "yaxis": {"title": {"text": "score (1 = intact)"}, "range": [0, 1.05]},
         "legend": {"orientation": "h", "y": 1.2},
         "shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": band[0], "x1": band[1], "y0": 0, "y1": 1,
                     "fillcolor": "#009E73", "opacity": 0.12, "line": {"width": 0}, "layer": "below"}],
         "annotations": [{"xref": "x", "yref": "paper", "x": (band[0] + band[1]) / 2, "y": 0.02, "showarrow": False,
                          "text": "Michel et al.: prunable", "font": {"size": 11}}]},
    )  # fmt: skip
