"""The Heads page in a real browser: two sentences typed one after the other, a click on the census grid picks
a head (Streamlit reports clicks on the grid's clear points, which AppTest cannot try), its pattern is the
model's, removing the previous-token head moves the embedding as sentence-transformers says, and the pruning
curve is computed with its progress shown; the learned page's "What is this head?" opens it on that head."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests import heads_reference as ref

pytestmark = pytest.mark.browser

FIRST = "The sailor tied a knot, and the boat drifted away."
SECOND = "Do owls really sleep during the day?"

# The pixel centre of a grid cell (layer, head), from Plotly's own axes.
_CELL_JS = r"""
([layer, head]) => {
  const gd = document.querySelector(
    '.st-key-heads_grid[data-stale="false"] [data-testid="stPlotlyChart"] .js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(head), y: box.top + ya._offset + ya.l2p(layer)};
}
"""


def click_cell(app, layer: int, head: int) -> None:
    app.wait_for_model()
    app.page.locator('.st-key-heads_grid[data-stale="false"]').scroll_into_view_if_needed()
    p = app.page.evaluate(_CELL_JS, [layer, head])
    app.page.mouse.click(p["x"], p["y"])


def heads_ready(app) -> None:
    ok, _ = app.poll(lambda: ("One head" in app.page.inner_text("body"), None), timeout=120)
    assert ok, "the census never finished"
    app.wait_for_model()


def metric(app) -> float:
    text = app.page.locator('[data-testid="stMetricValue"]').first.inner_text()
    return float(text)


def test_type_click_a_head_remove_it_and_prune(app, minilm):
    app.goto("/Heads", over="sentence", stat="previous", open="all")
    heads_ready(app)
    for text in (FIRST, SECOND):  # the second sentence typed on the same page, as a student would
        app.type_sentence(text)
        pieces = minilm.tokenize(text)
        att = ref.attentions(minilm, pieces.ids)
        want = ref.stats(att, list(pieces.tokens), [len(pieces.ids) - 1])
        app.wait_for_chart(
            "heads_grid", lambda c, w=want["previous"]: np.allclose(c.z, w, atol=1e-4), what=f"the census of {text!r}"
        )
        click_cell(app, 1, 8)
        ok, _ = app.poll(
            lambda: (app.params().get("layer") == "1" and app.params().get("head") == "8", None), timeout=30
        )
        assert ok, f"the click did not choose layer 1, head 8: {app.params()}"
        app.wait_for_chart(
            "heads_pattern", lambda c, w=att[1, 8]: np.allclose(c.z, w, atol=1e-5), what="layer 1, head 8's W"
        )
        app.wait_for_model()
        app.assert_no_exception()
        app.screenshot(f"clicked_{len(pieces.ids)}_tokens")
        click_cell(app, 0, 2)
        app.wait_for_chart(
            "heads_pattern", lambda c, w=att[0, 2]: np.allclose(c.z, w, atol=1e-5), what="layer 0, head 2's W"
        )

    app.page.get_by_role("button", name="The previous-token head").click()
    intact = ref.embedding(minilm, SECOND)
    want = ref.cosine(ref.embedding(minilm, SECOND, [(0, 2)]), intact)
    ok, seen = app.poll(lambda: (app.page.locator('[data-testid="stMetricValue"]').count() > 0, None), timeout=30)
    assert ok
    app.wait_for_model()
    assert metric(app) == pytest.approx(want, abs=2e-4) and app.params()["ablate"] == "0.2"
    app.page.get_by_text("Uniform attention instead of zero").click()
    want_u = ref.cosine(ref.embedding(minilm, SECOND, [(0, 2)], uniform=True), intact)
    ok, seen = app.poll(lambda: (abs(metric(app) - want_u) < 2e-4, metric(app)), timeout=30)
    assert ok, f"uniform: the metric shows {seen}, sentence-transformers gives {want_u:.4f}"
    app.wait_for_model()
    app.screenshot("removed")

    app.page.get_by_role("button", name="Compute the curve").click()
    seen_progress: set[str] = set()

    def done():
        seen_progress.update(app.page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-testid="stProgress"]')).map((e) => e.innerText)"""
        ))  # fmt: skip
        return "Removed least important first" in app.page.inner_text("body"), None

    ok, _ = app.poll(done, timeout=240, interval=0.2)
    assert ok, "the pruning curve never finished"
    assert any(re.search(r"Removing heads: \d+ of 11 points", p) for p in seen_progress), seen_progress
    app.wait_for_model()
    curve = app.wait_for_chart("heads_curve", lambda c: len(c.traces) == 4, what="four lines")
    assert len(curve.traces[0]["y"]) == 11
    app.assert_no_exception()
    app.screenshot("pruned")


def test_the_learned_page_opens_heads_on_its_head(app):
    app.goto("/Unparameterised_vs_learned")
    app.wait_for_model()
    layer = app.page.get_by_role("spinbutton", name="Layer")
    layer.fill("4")
    layer.press("Enter")
    app.wait_for_model()
    app.page.get_by_role("button", name="What is layer 4, head 0?").click()
    ok, _ = app.poll(lambda: (app.path().endswith("/Heads"), app.path()), timeout=60)
    assert ok
    heads_ready(app)
    assert app.params()["layer"] == "4" and app.params()["head"] == "0"
    assert "Layer 4, head 0 is" in app.page.inner_text("body")
