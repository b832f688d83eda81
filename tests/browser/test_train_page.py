"""The Train attention page in a real browser: a teacher's link, Train pressed, W learns as we watch."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.learn import training

pytestmark = pytest.mark.browser

_PROGRESS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stProgress"]')).map((e) => e.innerText)"""

_SHOWN_Z_JS = """(key) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return gd && gd._fullData && gd._fullData[0] ? gd._fullData[0].z.map((row) => Array.from(row)) : null;
}"""


def test_teacher_link_train_and_replay(app):
    app.goto("/Train_attention", task="reverse", seed="7", steps="400")
    app.wait_for_model()
    expected = training.train(training.Config(task="reverse", seed=7, steps=400))
    labels = [f"{i}:{training.VOCAB[t]}" for i, t in enumerate(expected.probe)]
    before = app.wait_for_chart("train_w", lambda c: c.x == labels, what="the probe's labels")
    np.testing.assert_allclose(before.z, expected.checkpoints[0].weights, atol=1e-9)  # the untrained layer
    app.screenshot("before")

    app.page.get_by_role("button", name="Train").click()
    # while it trains: the live heatmap and a progress line that moves
    seen: set[str] = set()

    def progress_moves():
        seen.update(app.page.evaluate(_PROGRESS_JS))
        return len(seen) >= 3, seen

    ok, _ = app.poll(progress_moves, timeout=60, interval=0.05)
    assert ok, f"progress seen while training: {sorted(seen)}"
    live = app.wait_for_chart("train_w_live", lambda c: len(c.y) == 8, what="the live W")
    np.testing.assert_allclose(live.z.sum(axis=1), 1.0, atol=1e-6)
    app.screenshot("training")

    success = app.page.locator('[data-testid="stAlertContentSuccess"]')
    success.wait_for(timeout=120_000)
    assert "mirror position" in success.inner_text()
    after = app.wait_for_chart("train_w", lambda c: c.x == labels, what="the trained W")
    np.testing.assert_allclose(after.z, expected.checkpoints[-1].weights, atol=1e-6)
    assert np.mean(np.argmax(after.z, axis=1) == np.arange(8)[::-1]) >= 0.9  # the anti-diagonal
    app.assert_no_exception()
    app.screenshot("trained")

    # replay: Play starts from step 0, the random start, and ends on the trained W
    app.page.locator(".st-key-train_w .updatemenu-button", has_text="Play").click()

    def showing(frame: np.ndarray):
        def check():
            z = app.page.evaluate(_SHOWN_Z_JS, "train_w")
            return z is not None and np.allclose(z, frame, atol=1e-6), z

        return check

    ok, _ = app.poll(showing(expected.checkpoints[0].weights), timeout=10, interval=0.02)
    assert ok, "Play did not start from the untrained W"
    ok, _ = app.poll(showing(expected.checkpoints[-1].weights), timeout=60)
    assert ok, "Play did not end on the trained W"
    assert app.dialogs == [] and not app.page_errors
