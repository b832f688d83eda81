"""The Cost of attention page in a real browser: Measure fills the time chart one n at a time, and
FAVOR+'s matrix for a typed sentence is the one NumPy computes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from attnviz.attention import linear

pytestmark = pytest.mark.browser


def caption(app, has_text: str) -> str:
    return app.page.locator('[data-testid="stCaptionContainer"]').filter(has_text=has_text).inner_text()


def captions_disagree(app) -> str | None:
    """What the time and memory captions, as the browser shows them, say that the charts it drew do not."""
    chart = app.chart("cost_time")
    ns = np.array(chart.traces[0]["x"], dtype=float)
    exact, lin, products = (np.array(t["y"], dtype=float) for t in chart.traces[:3])
    text = caption(app, "Seconds against n")
    for name, y in (("the exact line's slope is", exact), ("the linear one's is", lin)):
        said = f"{name} {np.polyfit(np.log(ns[ns >= 512]), np.log(y[ns >= 512]), 1)[0]:.2f}"
        if said not in text:
            return f"{said!r} not in {text!r}"
    times = exact / products  # the dotted line is the two products alone
    if (said := f"The whole takes {times.min():.2f}–{times.max():.2f}× as long") not in text:
        return f"{said!r} not in {text!r}"
    memory = app.chart("cost_memory")
    flat = {f"{float(y) / 1e6:.3g}" for x, y in zip(memory.traces[1]["x"], memory.traces[1]["y"]) if float(x) >= 512}
    said = f": {flat.pop()} MB at every n from 512 on" if len(flat) == 1 else f"one flat line from 512, not {flat}"
    return None if said in (text := caption(app, "Bytes held")) else f"{said!r} not in {text!r}"


def test_measure_then_favor_on_my_sentence(app, minilm):
    app.goto("/Cost", max_n="1024", d="32", m="64")
    app.wait_for_model()
    app.page.get_by_role("button", name="Measure").click()
    chart = app.wait_for_chart("cost_time", lambda c: len(c.traces[0]["x"] or []) == 7, what="7 sizes", timeout=120)
    assert [int(v) for v in chart.traces[0]["x"]] == [16, 32, 64, 128, 256, 512, 1024]
    assert all(float(v) > 0 for v in chart.traces[0]["y"])
    app.screenshot("measured")
    deadline = time.monotonic() + 20  # the last n's caption follows its chart within a rerun
    while (wrong := captions_disagree(app)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert wrong is None, wrong

    sentence = "Linear attention never builds the whole matrix"
    app.type_sentence(sentence)
    emb = minilm.static(sentence).without_special()
    labels = app.labels(emb.tokens)
    approx = app.wait_for_tokens("cost_approx", labels)
    want = linear.approximate_weights(emb.vectors, 256, 0)  # the page's defaults: m = 256, seed 0, T = 1, s = 1
    np.testing.assert_allclose(approx.z, want, atol=1e-6)
    np.testing.assert_allclose(approx.z.sum(axis=1), 1.0, atol=1e-6)
    app.assert_no_exception()
    app.screenshot("favor")
    assert app.dialogs == [] and not app.page_errors
