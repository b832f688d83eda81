"""Induction heads: the three models' curves against steps, every head's pattern on the probe, and one
generated token's attention."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import HEAD_COLOURS, MARGIN, _figure
from attnviz.figures.heatmaps import heatmap

DASH = {"dash": "dot", "color": "#555555", "width": 1.5}


def _window(window: tuple[int, int] | None) -> list[dict]:
    """A shaded band over the phase change's steps (start, end), if there was one."""
    if window is None:
        return []
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": window[0], "x1": window[1], "y0": 0, "y1": 1,
             "fillcolor": "#E69F00", "opacity": 0.18, "line": {"width": 0}, "layer": "below"}]  # fmt: skip


def _lines(series: dict[str, tuple[np.ndarray, np.ndarray]], fmt: str) -> list[dict]:
    return [
        {"type": "scatter", "x": np.asarray(x), "y": np.asarray(y, dtype=np.float64), "mode": "lines", "name": name,
         "line": {"color": HEAD_COLOURS[i % len(HEAD_COLOURS)], "width": 2},
         "hovertemplate": f"{name}, step %{{x}}: %{{y:{fmt}}}<extra></extra>"}
        for i, (name, (x, y)) in enumerate(series.items())
    ]  # fmt: skip


def repeat_loss_chart(
    series: dict[str, tuple[np.ndarray, np.ndarray]], *, chance: float, steps: int, window: tuple[int, int] | None
) -> go.Figure:
    """The loss on the repeated tokens of each model against steps.  series: name -> (steps [C], loss [C]);
    chance: ln V, drawn as a dotted line; window: the 2-layer model's phase change, shaded."""
    top = max([chance, *(float(np.max(y, initial=0.0)) for _, y in series.values())]) * 1.08
    return _figure(
        _lines(series, ".3f"),
        {
            "height": 340,
            "margin": MARGIN | {"t": 30, "r": 4 * len(f"{steps:,}") + 12},  # the last step's label centred on the edge
            "xaxis": {"title": {"text": "step"}, "range": [0, steps]},
            "yaxis": {"title": {"text": "loss on the repeated tokens (nats)"}, "range": [0, top]},
            "legend": {"orientation": "h", "y": 1.12},
            "shapes": [
                *_window(window),
                {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": chance, "y1": chance, "line": DASH},
            ],
            "annotations": [
                {
                    "xref": "paper",
                    "x": 1,
                    "y": chance,
                    "yanchor": "bottom",
                    "xanchor": "right",
                    "text": f"chance: ln {round(float(np.exp(chance)))} = {chance:.2f}",
                    "showarrow": False,
                    "font": {"size": 11},
                }
            ],
        },
    )


def scores_chart(
    series: dict[str, tuple[np.ndarray, np.ndarray]], *, steps: int, window: tuple[int, int] | None
) -> go.Figure:
    """Head scores against steps (0 to 1).  series: name -> (steps [C], score [C])."""
    return _figure(
        _lines(series, ".3f"),
        {
            "height": 340,
            "margin": MARGIN | {"t": 30, "r": 4 * len(f"{steps:,}") + 12},  # the last step's label centred on the edge
            "xaxis": {"title": {"text": "step"}, "range": [0, steps]},
            "yaxis": {"title": {"text": "score (mean attention weight)"}, "range": [0, 1.02]},
            "legend": {"orientation": "h", "y": 1.12},
            "shapes": _window(window),
        },
    )


def head_grid(weights: np.ndarray, labels: list[str]) -> go.Figure:
    """Every head's pattern on the probe, one small heatmap per head.  weights [L, H, n, n] (rows sum to 1),
    labels [n]."""
    n_layers, n_heads = weights.shape[:2]
    gap = 0.03
    w_col, h_row = (1 - gap * (n_heads - 1)) / n_heads, (1 - gap * 2 * (n_layers - 1)) / n_layers
    data, layout = [], {"height": 250 * n_layers + 40, "margin": MARGIN | {"t": 30, "l": 40}, "annotations": []}
    for layer in range(n_layers):
        for head in range(n_heads):
            i = layer * n_heads + head + 1
            ax = "" if i == 1 else str(i)
            data.append({"type": "heatmap", "z": weights[layer, head], "x": labels, "y": labels, "xaxis": f"x{ax}",
                         "yaxis": f"y{ax}", "zmin": 0, "zmax": 1, "colorscale": "Viridis", "showscale": i == 1,
                         "hovertemplate": f"layer {layer}, head {head}<br>query %{{y}}<br>key %{{x}}<br>"
                                          "weight = %{z:.4f}<extra></extra>"})  # fmt: skip
            x0 = head * (w_col + gap)
            y1 = 1 - layer * (h_row + 2 * gap)
            layout[f"xaxis{ax}"] = {"domain": [x0, x0 + w_col], "showticklabels": False, "anchor": f"y{ax}"}
            layout[f"yaxis{ax}"] = {"domain": [y1 - h_row, y1], "showticklabels": False, "autorange": "reversed",
                                    "anchor": f"x{ax}"}  # fmt: skip
            layout["annotations"].append({"xref": "paper", "yref": "paper", "x": x0 + w_col / 2, "y": y1,
                                          "yanchor": "bottom", "showarrow": False, "font": {"size": 12},
                                          "text": f"layer {layer}, head {head}"})  # fmt: skip
    return _figure(data, layout)


def stripes(weights: np.ndarray, labels: list[str], cells: list[tuple[int, int]], *, title: str) -> go.Figure:
    """One head's W [n, n] with the cells it should light up outlined (query row, key column)."""
    fig = heatmap(weights, labels, labels, title=title, zmin=0.0, zmax=1.0, value_name="weight", annotate=False)
    outline = [{"type": "rect", "x0": k - 0.5, "x1": k + 0.5, "y0": q - 0.5, "y1": q + 0.5, "xref": "x", "yref": "y",
                "line": {"color": "#D55E00", "width": 1.5}} for q, k in cells]  # fmt: skip
    fig.update_layout(shapes=outline)  # category axes: cells sit at their index
    return fig


def attention_rows(rows: np.ndarray, labels: list[str], names: list[str]) -> go.Figure:
    """The newest token's attention over the sequence so far, one row per head.  rows [k, t] -> heatmap."""
    return heatmap(rows, names, labels, zmin=0.0, zmax=1.0, row_name="head", col_name="key", value_name="weight",
                   annotate=False, height=90 + 26 * len(names))  # fmt: skip


def next_token_bars(tokens: list[str], probs: np.ndarray) -> go.Figure:
    """The most likely next tokens and their probabilities.  probs [k] (largest first)."""
    return _figure(
        [
            {
                "type": "bar",
                "x": list(tokens),
                "y": np.asarray(probs, dtype=np.float64),
                "marker": {"color": "#0072B2"},
                "hovertemplate": "token %{x}: p = %{y:.4f}<extra></extra>",
            }
        ],
        {
            "height": 260,
            "margin": MARGIN | {"t": 10},
            "xaxis": {"type": "category", "title": {"text": "next token"}},
            "yaxis": {"range": [0, 1], "title": {"text": "probability"}},
        },
    )


def knockout_bars(
    scores: np.ndarray, intact: float, *, groups: list[str], paths: tuple[str, ...], head: int
) -> go.Figure:
    """A layer-1 head's induction score when what some layer-0 heads wrote is taken out of one of its reads.
    scores [G, P]: G groups of removed heads (named by `groups`), P = len(paths) reads (of Q, K, V);
    intact: its score with nothing taken out (a dotted line)."""
    names = {"Q": "from its queries", "K": "from its keys", "V": "from its values"}
    heads = list(groups)
    return _figure(
        [
            {
                "type": "bar",
                "x": heads,
                "y": np.asarray(scores[:, p], dtype=np.float64),
                "name": names[path],
                "marker": {"color": HEAD_COLOURS[p % len(HEAD_COLOURS)]},
                "hovertemplate": f"%{{x}} taken {names[path]}: layer 1's head {head} scores %{{y:.3f}}<extra></extra>",
            }
            for p, path in enumerate(paths)
        ],
        {
            "height": 300,
            "barmode": "group",
            "margin": MARGIN | {"t": 30},
            "xaxis": {"type": "category"},
            "yaxis": {"range": [0, 1], "title": {"text": f"layer 1, head {head}: induction score"}},
            "legend": {"orientation": "h", "y": 1.12},
            "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": intact, "y1": intact, "line": DASH}],
            "annotations": [
                {
                    "xref": "paper",
                    "x": 1,
                    "y": intact,
                    "yanchor": "bottom",
                    "xanchor": "right",
                    "text": f"nothing removed: {intact:.2f}",
                    "showarrow": False,
                }
            ],
        },
    )
