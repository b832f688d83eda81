"""The Cost of attention page in a real browser: Measure fills the time chart one n at a time, and
FAVOR+'s matrix for a typed sentence is the one NumPy computes."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz import linear

pytestmark = pytest.mark.browser


def test_measure_then_favor_on_my_sentence(app, minilm):
    app.goto("/Cost", max_n="1024", d="32", m="64")
    app.wait_for_model()
    app.page.get_by_role("button", name="Measure").click()
    chart = app.wait_for_chart("cost_time", lambda c: len(c.traces[0]["x"] or []) == 7, what="7 sizes", timeout=120)
    assert [int(v) for v in chart.traces[0]["x"]] == [16, 32, 64, 128, 256, 512, 1024]
    assert all(float(v) > 0 for v in chart.traces[0]["y"])
    app.screenshot("measured")

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
