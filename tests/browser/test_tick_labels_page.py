"""Every heatmap's tick labels fit inside its chart: the figures size their margins to the labels
(Plotly's automargin is off, since it draws each chart twice), so a wrong estimate would cut them off."""

from __future__ import annotations

import pytest

from attnviz import testing

pytestmark = pytest.mark.browser

# per chart: its key, how many tick labels it has, and the text of those that stick out of its SVG
TICKS_JS = (
    "() => {"
    + testing.TICKS_JS
    + """return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map((el) => {
  const classes = Array.from(el.closest('[class*="st-key-"]')?.classList || []);
  const key = classes.find((c) => c.startsWith('st-key-')) || '';
  return {key: key.slice(7), ...ticks(el.querySelector('.js-plotly-plot'))};
}); }"""
)

SENTENCES = {
    "wide": "東京の夜は 静か 😀😀 WWWWWWWWWWWW MMMMMMMMMM mmmmmmmmmmmm",
    "long": " ".join(["antidisestablishmentarianism", "Supercalifragilistic"] * 3 + [f"w{i}" for i in range(40)]),
}


@pytest.mark.parametrize("name", list(SENTENCES))
def test_no_tick_label_is_cut_off(app, name):
    pages = (
        ("/", {"home_weights"}),
        ("/Step_by_step", {"step_x", "step_scores", "step_weights", "step_y"}),
        ("/Query_key_value", {"qkv_qkv", "qkv_scores", "qkv_follow"}),
        ("/Geometry", {"geo_picture"}),
    )
    for path, keys in pages:
        for embedding in ("static", "toy"):
            app.goto(path, s=SENTENCES[name], e=embedding, open="all")
            app.wait_for_model()
            drawn = "(n) => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= n"
            app.page.wait_for_function(drawn, arg=len(keys))
            charts = {c["key"]: c for c in app.page.evaluate(TICKS_JS)}
            app.screenshot(f"{path.strip('/') or 'home'}_{name}_{embedding}")
            assert keys <= set(charts), charts.keys()
            for key in keys:
                assert charts[key]["ticks"] > 0 and charts[key]["cut"] == [], (path, embedding, charts[key])
            app.assert_no_exception()
