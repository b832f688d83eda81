"""Images: the 8 × 8 digits, attention painted on their patches, and the confusion matrix."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import MARGIN, WEIGHTS_SCALE, Shared, _as_float, _figure
from attnviz.figures.heatmaps import heatmap

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
    traces: list[dict] = []
    layout: dict = {}
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
