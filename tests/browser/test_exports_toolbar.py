"""Every chart's own toolbar saves it as PNG or SVG, as chosen in the sidebar: offline, in the browser."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def download_from_toolbar(app, key: str) -> tuple[str, bytes]:
    """Hover the chart, press its camera button; -> (suggested file name, the file's bytes)."""
    chart = app.page.locator(f".st-key-{key} .js-plotly-plot")
    chart.hover()
    with app.page.expect_download(timeout=30_000) as info:
        chart.locator('.modebar-btn[data-title^="Download plot"]').click()
    download = info.value
    return download.suggested_filename, open(download.path(), "rb").read()


def test_toolbar_saves_png_then_svg(app, expected):
    sentence = "bread and butter"
    app.goto("/", s=sentence)
    app.wait_for_model()
    app.assert_weights("home_weights", expected(sentence))

    name, data = download_from_toolbar(app, "home_weights")
    assert name.endswith(".png") and data[:8] == b"\x89PNG\r\n\x1a\n", name

    app.page.locator('[data-testid="stSidebar"] label').filter(has_text="SVG").click()
    app.wait_for_model()
    app.page.wait_for_function(
        "() => { const g = document.querySelector('.st-key-home_weights .js-plotly-plot');"
        " return g && g._context && g._context.toImageButtonOptions.format === 'svg'; }"
    )
    name, data = download_from_toolbar(app, "home_weights")
    svg = data.decode("utf-8")
    assert name.endswith(".svg") and svg.lstrip().startswith("<svg"), name
    for label in app.labels(expected(sentence).tokens):
        assert f">{label}<" in svg, label  # the axis labels are text in the vector file
    app.assert_no_exception()
