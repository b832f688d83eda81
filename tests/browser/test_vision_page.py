"""The Vision page in a real browser: choose a digit, read W from the chart, click a patch, train."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from tests.test_cli_vision import plain_attention

pytestmark = pytest.mark.browser

DIGITS = load_digits()

_PAINTED_JS = """() => {
  const gd = document.querySelector('.st-key-vision_paint .js-plotly-plot');
  return gd && gd._fullData && gd._fullData[1] ? gd._fullData[1].z.map((row) => Array.from(row)) : null;
}"""

# The image's plot area on the screen, to click a patch the way a user does.
_PLOT_AREA_JS = """() => {
  const r = document.querySelector('.st-key-vision_paint .nsewdrag').getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height};
}"""


def painted_row(image_row: np.ndarray, p: int) -> np.ndarray:
    g = 8 // p
    return np.kron(image_row.reshape(g, g), np.ones((p, p)))


def test_choose_a_digit_read_w_click_a_patch_and_train(app):
    app.goto("/Vision", i="5", p="2")
    app.wait_for_model()
    labels, _, w = plain_attention(DIGITS.images[5], 2)
    chart = app.wait_for_chart("vision_w", lambda c: c.x == labels and c.z.shape == (16, 16), what="digit 5's W")
    np.testing.assert_allclose(chart.z, w, atol=1e-9)

    # choose another digit by typing its index
    box = app.page.get_by_label("Digit (0 – 1796)")
    box.fill("300")
    box.press("Enter")
    labels, _, w = plain_attention(DIGITS.images[300], 2)
    chart = app.wait_for_chart("vision_w", lambda c: np.allclose(c.z, w, atol=1e-9), what="digit 300's W")
    assert app.params()["i"] == "300"
    ok, _ = app.poll(lambda: ((z := app.page.evaluate(_PAINTED_JS)) is not None, z), timeout=30)
    assert ok

    # click patch r2c3 (index 11) on the image: its row of W is painted, and the URL says so
    area = app.page.evaluate(_PLOT_AREA_JS)
    cx, cy = 3 * 2 + 0.5, 2 * 2 + 0.5  # the patch's centre in pixels (columns 6-7, rows 4-5)
    app.page.mouse.click(area["x"] + area["width"] * (cx + 0.5) / 8, area["y"] + area["height"] * (cy + 0.5) / 8)

    def painted_is(row):
        def check():
            z = app.page.evaluate(_PAINTED_JS)
            return z is not None and np.allclose(z, painted_row(row, 2), atol=1e-9), z

        return check

    ok, seen = app.poll(painted_is(w[11]), timeout=30)
    assert ok, f"the painted row after clicking r2c3: {seen}"
    assert app.params()["q"] == "11"
    app.assert_no_exception()
    app.screenshot("clicked")

    # train: a progress bar, then the test accuracy
    app.page.get_by_role("button", name="Train").click()
    metric = app.page.locator('[data-testid="stMetricValue"]').first
    metric.wait_for(timeout=120_000)
    value = float(metric.inner_text().rstrip("%")) / 100
    assert value >= 0.90
    app.assert_no_exception()
    app.screenshot("trained")
    assert app.dialogs == [] and not app.page_errors
