"""The Lesson page in Chromium (arrow keys, the guess and Reveal, W against NumPy), and the handout
opened from a file with every network request blocked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from attnviz_harness import CELLS_JS, DECODE_JS, TICKS_JS

from attnviz import lesson
from attnviz.attention import core
from attnviz.lesson import handout

pytestmark = pytest.mark.browser

SENTENCE = "the cat sat on the mat"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def header(app) -> str:
    return app.page.locator('[data-testid="stMain"] h2').first.inner_text()


def wait_for_screen(app, k: int) -> None:
    ok, seen = app.poll(lambda: ((h := header(app)).startswith(f"{k} · ") and app.params().get("screen") == str(k), h),
                        timeout=30)  # fmt: skip
    assert ok, f"expected screen {k}, the page shows {seen!r} at {app.location()}"


def test_arrow_keys_move_screens_and_w_matches_numpy(app, expected):
    app.goto("/Lesson", s=SENTENCE, screen="5")
    app.wait_for_model()
    wait_for_screen(app, 5)
    app.page.locator('[data-testid="stMain"] h2').first.click()  # focus on the page, not in a text box
    app.page.keyboard.press("ArrowRight")
    wait_for_screen(app, 6)
    app.wait_for_model(chart=False)

    trace = expected(SENTENCE)
    labels = app.labels(trace.tokens)
    row = lesson.question_row(trace.weights)
    guess = app.page.get_by_role("combobox", name="Which word")  # the class's guess
    guess.click()
    app.page.get_by_role("option", name=labels[0], exact=True).click()
    app.page.get_by_role("button", name="Reveal").click()
    app.assert_weights("lesson_chart", trace)
    best = int(np.argmax(trace.weights[row]))
    said = app.page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    if trace.weights[row, 0] == trace.weights[row, best]:
        assert said.startswith(f"You guessed “{labels[0]}”: right. W gives it {trace.weights[row, best]:.2f}")
    else:
        assert f"W gives “{labels[best]}” {trace.weights[row, best]:.2f} (the largest)" in said
    app.screenshot("Lesson_revealed")

    app.page.locator('[data-testid="stMain"] h2').first.click()
    app.page.keyboard.press("ArrowLeft")
    wait_for_screen(app, 5)
    app.page.keyboard.press("ArrowLeft")
    wait_for_screen(app, 4)
    scores = app.wait_for_tokens("lesson_chart", labels)
    assert np.max(np.abs(scores.z - trace.scores)) <= 1e-6
    app.assert_no_exception()
    assert app.dialogs == [] and app.page_errors == []


FITS_JS = (
    "() => {"
    + CELLS_JS
    + """const m = document.querySelector('[data-testid="stMain"]');
  const c = document.querySelector('.st-key-lesson_chart');
  const g = c ? c.querySelector('.js-plotly-plot') : null;
  return {scroll: m.scrollHeight, client: m.clientHeight, bottom: c ? c.getBoundingClientRect().bottom : 0,
          height: g ? g.getBoundingClientRect().height : 0, cells: g ? cells(g) : null}; }"""
)


@pytest.mark.parametrize(
    "sentence",
    [SENTENCE, "the trophy didn't fit in the brown suitcase because it was too big, said the old man"],
    ids=["short", "long"],
)
def test_presenter_mode_fits_a_projector(app, sentence):
    """Every screen, and W after a reveal, within 1280 × 720 without scrolling; the sidebar closed; the chart
    enlarged to the room presenter mode has; no number in a cell runs into another."""
    app.page.set_viewport_size({"width": 1280, "height": 720})
    app.goto("/Lesson", s=sentence, screen="1", present="1")
    app.wait_for_model(chart=False)
    assert app.page.locator(".st-key-_w_lesson_present input[type=checkbox]").is_checked()
    assert app.page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"
    for k in range(1, len(lesson.SCREENS) + 1):
        if k > 1:
            app.page.keyboard.press("ArrowRight")
            wait_for_screen(app, k)
            app.wait_for_model(chart=False)
        if k == 6:  # W appears after the guess
            app.page.get_by_role("combobox", name="Which word").click()
            app.page.get_by_role("option").first.click()
            app.page.get_by_role("button", name="Reveal").click()
            app.wait_for_chart("lesson_chart", lambda c: c.z.ndim == 2, what="W")
            app.page.wait_for_timeout(300)
        fits = app.page.evaluate(FITS_JS)
        assert fits["bottom"] <= 720 and fits["scroll"] <= fits["client"] + 2, (k, fits)
        if fits["cells"] is not None:
            assert fits["cells"]["count"] == 0, (k, fits["cells"])
            assert fits["height"] >= 400, (k, fits["height"])  # enlarged to presenter mode's chart height
        if k == 6 and sentence == SENTENCE:
            SCREENSHOTS.mkdir(exist_ok=True)
            app.page.screenshot(path=str(SCREENSHOTS / "Lesson_presenter_1280x720.png"))
    app.assert_no_exception()


# Per chart: the trace types asked for, the types plotly.js drew them as (a type the bundle lacks is
# silently drawn as an empty scatter, with no console message), what each type left in the SVG, and the
# tick labels that stick out of the chart (cut off: the figures leave the margins to Streamlit's theme).
CHARTS_JS = (
    "() => {"
    + TICKS_JS
    + """return Array.from(document.querySelectorAll('.plotly-graph-div')).map((g) => ({id: g.id,
  asked: g.data.map((t) => t.type), drawn: g._fullData.map((t) => t.type),
  visible: g._fullData.every((t) => t.visible === true),
  heatmap: g.querySelectorAll('.hm image').length, bar: g.querySelectorAll('.barlayer .point path').length,
  scatter: g.querySelectorAll('.scatterlayer .trace').length, ...ticks(g)})); }"""
)


def test_handout_draws_offline_and_shows_numpys_w(browser, minilm, tmp_path):
    text = "Attention <b>is</b> all you need"
    emb = minilm.static(text).without_special()
    trace = core.self_attention(emb.vectors, emb.tokens)
    context = lesson.Context(trace, emb.source)
    page_html = handout.render(context)
    assert handout.CARTESIAN.read_text(encoding="utf-8") in page_html  # the small bundle by default
    path = tmp_path / "handout.html"
    path.write_text(page_html, encoding="utf-8")
    figures = {f"fig-{s.key}": s.figure() for s in lesson.screens(context) if s.figure is not None}

    x = np.asarray(emb.vectors, dtype=np.float64)
    s = x @ x.T
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)  # NumPy's W, not the package's

    context = browser.new_context()
    asked: list[str] = []

    def block(route):
        asked.append(route.request.url)
        return route.continue_() if route.request.url.startswith("file:") else route.abort()

    context.route("**/*", block)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.goto(path.as_uri())
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('.plotly-graph-div')).filter(g => g._fullLayout"
        f" && g.querySelector('.main-svg')).length === {len(figures)}",
        timeout=30_000,
    )
    z = page.evaluate("() => {" + DECODE_JS + "return decode(document.getElementById('fig-weights').data[0].z); }")
    np.testing.assert_allclose(np.asarray(z, dtype=np.float64), w, atol=1e-6)

    charts = page.evaluate(CHARTS_JS)
    assert [c["id"] for c in charts] == list(figures)
    for c in charts:
        types = [t.type for t in figures[c["id"]].data]
        assert c["asked"] == c["drawn"] == types and c["visible"] and c["ticks"] > 0 and c["cut"] == [], c
        bars = sum(len(t.x) for t in figures[c["id"]].data if t.type == "bar")
        assert (c["heatmap"], c["bar"], c["scatter"]) == (types.count("heatmap"), bars, types.count("scatter")), c
    assert {t for c in charts for t in c["drawn"]} == {"heatmap", "bar", "scatter"}
    assert [u for u in asked if not u.startswith("file:")] == []
    assert errors == []
    assert page.locator("img").count() == 0
    context.close()
