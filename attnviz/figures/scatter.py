"""Points in the plane: the word vectors' 2-D projection, queries and keys in one space, the
repeated-attention animation and the distances between words, with labels that stay legible
where points crowd."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.base import _FIXED, MARGIN, Shared, _figure, escape_markup, label_px, token_labels

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
    return traces[0], traces[1]  # (queries, keys), one per role


def qk_space(
    corpus: tuple[dict, dict],
    typed_q: np.ndarray,
    typed_k: np.ndarray,
    tokens,
    *,
    chosen: int | None = None,
    top: np.ndarray | tuple[()] = (),
    top_weights: np.ndarray | tuple[()] = (),
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
