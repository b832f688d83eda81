"""The geometry page in a real browser: the animation plays every frame and ends where W^20 X is."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.attention import core
from attnviz.model.embeddings import ToyEmbedder

pytestmark = pytest.mark.browser

TWENTY = " ".join(f"word{i}" for i in range(20))

_RECORD_FRAMES_JS = """(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  window.__frames = [];
  gd.on('plotly_animatingframe', (e) => window.__frames.push([e.name, performance.now()]));
  return gd._transitionData._frames.length;
}"""

_POSITIONS_JS = """(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return [Array.from(gd._fullData[0].x), Array.from(gd._fullData[0].y)];
}"""


def test_animation_plays_all_frames_to_the_collapsed_cloud(app):
    app.goto("/Geometry", s=TWENTY, e="toy", open="repeat")
    app.wait_for_model()
    emb = ToyEmbedder()(TWENTY)
    assert len(emb.tokens) == 20
    w = core.self_attention(emb.vectors).weights
    app.wait_for_chart("geo_animation", lambda c: len(c.traces[0]["x"] or []) == 20, what="20 points")
    n_frames = app.page.evaluate(_RECORD_FRAMES_JS, "geo_animation")
    assert n_frames == 21
    app.page.locator(".st-key-geo_animation .updatemenu-button", has_text="Play").click()
    ok, frames = app.poll(lambda: ((f := app.page.evaluate("() => window.__frames")) and len(f) >= 21, f), timeout=30)
    assert ok, f"the animation showed {len(frames or [])} of 21 frames"
    assert [name for name, _ in frames[:21]] == [str(k) for k in range(21)]
    gaps = np.diff([t for _, t in frames[:21]])
    print(f"animation frame gaps: median {np.median(gaps):.0f} ms, max {gaps.max():.0f} ms (350 ms per frame asked)")
    x, y = app.page.evaluate(_POSITIONS_JS, "geo_animation")
    np.testing.assert_allclose(np.c_[x, y], np.linalg.matrix_power(w, 20) @ emb.vectors, atol=1e-9)
    app.assert_no_exception()
    app.screenshot("after_play")
    assert app.dialogs == []


REPEATS = "the cat sat on the mat and the dog sat on the cat"


def test_repeated_words_have_one_legible_label(app):
    """Repeated words share one static vector, so their labels once printed on top of each other: now the
    points at one place share one label ("the #1, #2, #3, #4") and no two drawn labels overlap."""
    app.goto("/Geometry", s=REPEATS, open="repeat")
    app.wait_for_model()
    for key in ("geo_picture", "geo_animation"):
        app.page.locator(f".st-key-{key}").scroll_into_view_if_needed()
        drawn = app.drawn_labels(key)
        assert sorted(drawn["labels"]) == sorted(["the #1, #2, #3, #4", "cat #1, #2", "sat #1, #2", "on #1, #2",
                                                  "mat", "and", "dog"]), key  # fmt: skip
        assert drawn["overlaps"] == [], f"{key}: labels drawn over each other: {drawn['overlaps']}"
    app.screenshot("repeated_words")
    app.assert_no_exception()
