"""The Query, key, value page and the second sentence in a real browser: the charts hold the model's
numbers (recomputed here with its torch modules), the hover shows them, markup stays text."""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.test_untrusted_input import _INJECTED_JS, MARKUP

pytestmark = pytest.mark.browser

BIG = "The trophy didn't fit in the suitcase because it was too big"
SMALL = "The trophy didn't fit in the suitcase because it was too small"

# Hover a cell of one trace of a chart: its pixel centre from Plotly's own axes, then the real mouse.
_CELL_JS = r"""
([key, trace, i, j]) => {
  const gd = document.querySelector(`.st-key-${key} [data-testid="stPlotlyChart"] .js-plotly-plot`);
  const t = gd._fullData[trace];
  const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(j), y: box.top + ya._offset + ya.l2p(i)};
}
"""


def second_box(app):
    return app.page.get_by_role("textbox", name="Second sentence")


def hover_text(app, key: str, trace: int, i: int, j: int) -> str:
    app.page.locator(f".st-key-{key}").scroll_into_view_if_needed()
    app.page.wait_for_timeout(300)
    point = app.page.evaluate(_CELL_JS, [key, trace, i, j])
    app.page.mouse.move(point["x"], point["y"])
    label = app.page.locator(f".st-key-{key} .hoverlayer .hovertext")
    label.first.wait_for()
    return label.first.text_content()


def test_walk_a_head(app, minilm):
    from tests.test_qkv import torch_layer

    text = "The cat sat on the mat because it was tired"
    app.goto("/Query_key_value", s=text)
    app.wait_for_model()
    ref = torch_layer(minilm, text, 0)
    labels = app.labels(minilm.tokenize(text).tokens)
    scores = app.wait_for_chart("qkv_scores", lambda c: c.y == labels, what=f"rows {labels}")
    w = np.asarray(scores.traces[1]["z"], dtype=float)
    assert np.abs(w - ref["model_weights"][0]).max() <= 1e-5
    s = np.asarray(scores.traces[0]["z"], dtype=float)
    assert np.abs(s - ref["q"][0] @ ref["k"][0].T / np.sqrt(32)).max() <= 1e-5
    h = app.wait_for_tokens_rows("qkv_h", labels)
    assert np.abs(h.z - ref["h"]).max() <= 1e-5
    # the hover shows the exact number: the weight of "it" on "cat", as the formula gives it
    i, j = labels.index("it"), labels.index("cat")
    shown = hover_text(app, "qkv_scores", 1, i, j)
    assert "query: it" in shown and "key: cat" in shown, shown
    assert f"weight = {ref['model_weights'][0][i, j]:.6g}" in shown, shown
    app.assert_no_exception()
    app.screenshot("Query_key_value")

    # the layer around the head
    app.page.get_by_text("Its layer: Z", exact=False).first.click()
    app.wait_for_model()
    nxt = app.wait_for_tokens_rows("qkv_next", labels)
    assert np.abs(nxt.z - ref["next"]).max() <= 1e-5
    app.screenshot("Query_key_value_layer")
    assert app.dialogs == [] and not app.page_errors


def test_two_sentences_and_cross_attention(app, minilm, expected):
    from tests.test_cross import torch_cross

    app.goto("/", s=BIG)
    app.wait_for_model()
    second_box(app).fill(SMALL)
    second_box(app).press("Enter")
    ta, tb = expected(BIG), expected(SMALL)
    app.assert_weights("home_pair_a", ta)
    app.assert_weights("home_pair_b", tb)
    assert app.params()["s2"] == SMALL
    diff = app.wait_for_chart("home_pair_diff", lambda c: "big" not in c.y and "it" in c.y, what="shared pieces")
    assert diff.z.shape[0] == len(ta.tokens) - 1 and np.isfinite(diff.z).all()
    # the teacher's question: what does "it" attend to in each?
    choice = app.page.get_by_role("combobox", name="Follow one shared word")
    choice.scroll_into_view_if_needed()
    app.page.wait_for_timeout(300)
    choice.click()
    app.page.get_by_role("option", name="it", exact=True).click()
    app.wait_for_model()
    it_a, it_b = ta.tokens.index("it"), tb.tokens.index("it")
    top_a, top_b = (app.labels(tr.tokens)[int(np.argmax(tr.weights[i]))] for tr, i in ((ta, it_a), (tb, it_b)))
    line = app.page.locator('[data-testid="stMain"]').get_by_text("“it” attends most to").inner_text()
    assert line.startswith(f"“it” attends most to “{top_a}” {ta.weights[it_a].max():.3f}"), line
    assert f"and to “{top_b}” {tb.weights[it_b].max():.3f}" in line, line
    app.screenshot("home_two_sentences")

    app.click_nav("Query_key_value")
    app.wait_for_model()
    assert second_box(app).input_value() == SMALL
    _, w, _ = torch_cross(minilm, BIG, SMALL, 0, 0, special=False)
    chart = app.wait_for_chart("qkv_cross_learned", lambda c: c.x == app.labels(tb.tokens), what="B's pieces")
    assert chart.y == app.labels(ta.tokens)
    assert np.abs(chart.z - w).max() <= 1e-5
    app.assert_no_exception()
    app.screenshot("Query_key_value_two_sentences")

    second_box(app).fill("")  # empty: off, and out of the link
    second_box(app).press("Enter")
    app.poll(lambda: ("s2" not in app.params(), app.params()), timeout=30)
    app.wait_for_model()
    assert "s2" not in app.params() and "qkv_cross_learned" not in app.chart_keys()
    assert app.dialogs == []


def test_markup_in_the_second_box_is_text(app):
    app.goto("/Step_by_step", s="it was too big")
    app.wait_for_model()
    second_box(app).fill(MARKUP)
    second_box(app).press("Enter")
    chart = app.wait_for_chart("step_pair_b", lambda c: any("<" in x for x in c.x), what="the markup as labels")
    ticks = app.page.locator(".st-key-step_pair_b .xtick text").all_text_contents()
    assert "<" in ticks and ">" in ticks, ticks
    assert app.params()["s2"] == MARKUP and second_box(app).input_value() == MARKUP
    app.page.wait_for_timeout(1000)  # give a broken image's onerror time to fire
    assert app.page.evaluate(_INJECTED_JS) == {"images": 0, "handlers": 0}
    assert app.dialogs == [] and chart.z.shape[0] == len(chart.y)
    app.assert_no_exception()
    app.screenshot("Step_by_step_markup_second")
