"""Every chart's tick labels fit inside it, on every page: the figures size their margins to the labels
(Plotly's automargin is off, since it draws each chart twice), so a wrong estimate would cut them off.

Short labels (level, "hi"), wide ones (CJK, emoji, W and M), long ones (tilted), for both embeddings where the
page reads the sentence; every view, section and Lesson screen; the charts that appear after Measure or Train."""

from __future__ import annotations

import attnviz_harness as testing
import pytest

from attnviz.learn import vision
from tests.browser.test_lesson_page import wait_for_screen

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
    "short": "hi how are you",
    "wide": "東京の夜は 静か 😀😀 WWWWWWWWWWWW MMMMMMMMMM mmmmmmmmmmmm",
    "long": " ".join(["antidisestablishmentarianism", "Supercalifragilistic"] * 3 + [f"w{i}" for i in range(40)]),
}
CASES = [("short", "static"), ("wide", "static"), ("wide", "toy"), ("long", "static"), ("long", "toy")]
SAME_FOR_TOY = {"/Cost", "/Query_key_space"}  # W of the same builder as elsewhere; MiniLM's own pieces
# the pages that read the sentence, and the charts each must show (open=all: every lazy section drawn)
TEXT_PAGES = (
    ("/", {"home_weights"}),
    ("/Step_by_step", {"step_x", "step_scores", "step_weights", "step_y", "step_row"}),
    ("/Unparameterised_vs_learned", {"learned_left", "learned_right", "learned_diff", "learned_entropy"}),
    ("/Geometry", {"geo_picture"}),
    ("/Query_key_value", {"qkv_qkv", "qkv_scores", "qkv_follow"}),
    ("/Cost", {"cost_exact", "cost_approx", "cost_delta", "cost_errors"}),
    ("/Query_key_space", {"qks_plane"}),
)
LEARNED_VIEWS = ("Model view: all 72 heads", "Head view", "Neuron view")
REVEAL = {6, 9}  # the Lesson's predict-then-reveal screens


def check(app, where: str, keys: set[str] = frozenset(), *, wait: bool = True) -> None:
    """Every chart on the page drawn; the named ones among them with tick labels; none cut off."""
    if wait:
        app.wait_for_model()
    charts = {c["key"]: c for c in app.page.evaluate(TICKS_JS)}
    assert charts and keys <= set(charts), (where, sorted(charts))
    for key in keys:
        assert charts[key]["ticks"] > 0, (where, key, charts[key])
    cut = {key: c["cut"] for key, c in charts.items() if c["cut"]}
    if cut:
        app.screenshot(f"cut_{where}")
    assert cut == {}, (where, cut)
    app.assert_no_exception()


@pytest.mark.parametrize(("name", "embedding"), CASES, ids=[f"{n}-{e}" for n, e in CASES])
def test_no_tick_label_is_cut_off_on_the_sentence_pages(app, name, embedding):
    """Toy words are whole words, not pieces (the widest labels); the Lesson's screens and the learned views
    are walked for the static pieces, the Lesson for the short and the long sentence (its builders are the
    other pages', on fewer loads)."""
    link = {"s": SENTENCES[name], "e": embedding}
    for path, keys in TEXT_PAGES:
        if embedding == "toy" and path in SAME_FOR_TOY:
            continue
        if embedding == "toy" and path == "/Unparameterised_vs_learned":  # toy words are not the head's pieces:
            keys = {"learned_left", "learned_right"}  # no difference, no entropy bars
        app.goto(path, **link, open="all")
        check(app, f"{path.strip('/') or 'home'}_{name}_{embedding}", keys)
        if path == "/Unparameterised_vs_learned" and embedding == "static":
            for view in LEARNED_VIEWS:
                app.page.get_by_role("radio", name=view, exact=True).click()  # a segmented control
                app.page.wait_for_timeout(300)  # the rerun starts
                check(app, f"learned_{view.split(':')[0]}_{name}_{embedding}")
    if embedding == "toy" or name == "wide":
        return
    app.goto("/Lesson", **link, screen="2")
    for k in range(2, 12):  # the screens with a chart
        wait_for_screen(app, k)
        if k in REVEAL:
            app.wait_for_model(chart=False)
            app.page.get_by_role("combobox", name="Guess first").click()
            app.page.get_by_role("option").first.click()
            app.page.get_by_role("button", name="Reveal").click()
            app.page.wait_for_timeout(300)
        check(app, f"lesson_{k}_{name}_{embedding}", {"lesson_chart"})
        app.page.get_by_role("button", name="Next").click()


def test_no_tick_label_is_cut_off_after_measure_and_train(app):
    """The charts that wait for a button: Cost's measurements, the trained layer, the induction heads, the digit
    classifier; and
    Vision's W for every patch size."""
    app.goto("/Cost", max_n="256")
    app.wait_for_model()
    app.page.get_by_role("button", name="Measure").click()
    app.wait_for_chart("cost_memory", lambda c: True, what="the memory chart", timeout=120)
    check(app, "cost_measured", {"cost_time", "cost_memory"})

    app.goto("/Train_attention", steps="60", live="0")
    app.wait_for_model(chart=False)
    app.page.get_by_role("button", name="Train").click()
    app.wait_for_chart("train_w", lambda c: True, what="W after training", timeout=120)
    check(app, "train_trained", {"train_loss", "train_w", "train_qk"})

    app.goto("/Induction_heads", steps="1000", seed="2", probe="4")  # the browser test's run: shared per server
    app.wait_for_model(chart=False)
    app.page.get_by_role("button", name="Train").click()
    app.wait_for_chart("ind_ind", lambda c: True, what="the induction head after training", timeout=600)
    check(app, "induction_trained", {"ind_loss", "ind_scores", "ind_prev", "ind_ind"})  # the grid has no ticks

    for patch in vision.PATCH_SIZES:
        app.goto("/Vision", p=str(patch))
        check(app, f"vision_p{patch}", {"vision_w"})
    app.page.get_by_role("button", name="Train").click()
    app.wait_for_chart("vision_confusion", lambda c: True, what="the confusion matrix", timeout=180)
    check(app, "vision_trained", {"vision_w", "vision_loss", "vision_confusion"})
    app.screenshot("vision_trained")
