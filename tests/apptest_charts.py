"""Read the figures a page sent, from an AppTest run: the data the browser would draw."""

import base64
import json

import numpy as np


def decode(value):
    """A Plotly array as sent: a list, or {"dtype", "bdata", "shape"} (plotly >= 6)."""
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(s) for s in shape.split(",")]
        return arr.reshape(shape) if shape else arr
    return np.asarray(value)


def figure(at, key: str) -> dict:
    """The figure JSON of the chart with this key."""
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith("-" + key):
            return json.loads(chart.proto.spec)
    keys = [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]
    raise KeyError(f"no chart {key!r}; the page has {keys}")


def heatmap(at, key: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(z, row labels, column labels) of the heatmap with this key."""
    trace = figure(at, key)["data"][0]
    z = decode(trace["z"]).astype(float)
    # feature axes are numeric (x0 = 1, dx = 1), shown as d1 … dc
    cols = list(trace["x"]) if "x" in trace else [f"d{j + 1}" for j in range(z.shape[1])]
    return z, list(trace["y"]), cols


def picker(at, key: str):
    """The select box ui.pick draws for the setting `key` (its widget key ends in a digest of its options)."""
    boxes = [s for s in at.selectbox if str(s.key).startswith(f"_w_{key}:")]
    assert len(boxes) == 1, f"{len(boxes)} select boxes for {key!r}; the page has {[s.key for s in at.selectbox]}"
    return boxes[0]


def choose(at, key: str, label: str):
    """Choose the option shown as `label` in ui.pick's box for `key` (its value is the option's index); run."""
    box = picker(at, key)
    return box.set_value(box.options.index(label)).run()
