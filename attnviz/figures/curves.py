"""Curves against steps or sizes: the training loss, W while it trains, and the cost of attention
(time, memory, FAVOR+'s error)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import _YAXIS, ANNOTATE_MAX, MARGIN, _as_float, _figure, _height, _xaxis, token_labels
from attnviz.figures.heatmaps import _heatmap_trace


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
    layout: dict = {"height": _height(n, annotate), "margin": MARGIN, "xaxis": _xaxis(z, labels), "yaxis": _YAXIS}
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
