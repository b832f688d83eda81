"""The step page in a real browser: typed sentences and the temperature slider, checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.browser

# Chosen to exercise the labels: a repeated word ("the #1", "the #2"), punctuation, word pieces,
# capitals and accents (the tokenizer lowercases and strips them).
SENTENCES = [
    "The cat sat on the mat.",
    "Transformers attend to every word",
    "Naïve café owners, unite!",
]


def test_typed_sentences_match_numpy(app, expected):
    app.goto("/Step_by_step")
    app.wait_for_model()
    assert app.sentence_box().input_value() == "hi how are you"
    app.assert_weights("step_weights", expected("hi how are you"))
    app.screenshot("Step_by_step_default")

    # Only W is open at first; a closed step draws nothing until the reader opens it (then the URL says so).
    assert app.params()["open"] == "w"
    assert app.page.locator(".st-key-step_x .js-plotly-plot").count() == 0
    for label in ("1 · Word vectors X", "2 · Raw scores", "4 · Context-aware vectors", "One word's new vector"):
        app.page.locator('[data-testid="stExpander"] summary').filter(has_text=label).click()
        app.wait_for_model()
    app.page.wait_for_function("() => new URLSearchParams(location.search).get('open') === 'x,scores,w,y,row'")

    for i, sentence in enumerate(SENTENCES, start=1):
        app.type_sentence(sentence)
        trace = expected(sentence)
        labels = app.labels(trace.tokens)

        w = app.assert_weights("step_weights", trace)
        assert len(set(labels)) == len(labels)

        # The other pictures of the same computation, from the same page.
        x = app.wait_for_tokens_rows("step_x", labels)
        assert x.z.shape == trace.x.shape == (trace.n, 384)
        assert np.max(np.abs(x.z - trace.x)) <= 1e-6
        scores = app.wait_for_tokens("step_scores", labels)
        assert np.max(np.abs(scores.z - trace.scores)) <= 1e-6
        y = app.wait_for_tokens_rows("step_y", labels)
        assert np.max(np.abs(y.z - trace.output)) <= 1e-6
        bars = app.wait_for_chart("step_row", lambda c, labels=labels: c.x == labels, what=f"bars over {labels}")
        np.testing.assert_allclose(bars.y_values, w.z[0], atol=1e-9)  # the first query's row of W

        assert app.params()["s"] == sentence
        app.assert_no_exception()
        app.screenshot(f"Step_by_step_{i}")
    assert app.dialogs == []


def test_temperature_slider_changes_w(app, expected):
    sentence = "the quick brown fox jumps over the lazy dog"
    app.goto("/Step_by_step", s=sentence)
    app.wait_for_model()
    assert float(app.params()["t"]) == 1.0
    at_one = app.assert_weights("step_weights", expected(sentence))

    def check_temperature(label: str) -> tuple[float, object]:
        """Once the page has settled, W must be the recomputation at the URL's t."""
        app.wait_for_model()
        t = float(app.params()["t"])
        assert abs(t / 0.05 - round(t / 0.05)) < 1e-6, f"t={t} is not on the slider's 0.05 grid"
        chart = app.assert_weights("step_weights", expected(sentence, temperature=t))
        assert app.temperature_slider().get_attribute("aria-valuetext") == f"{t:.2f}"
        app.assert_no_exception()
        app.screenshot(label)
        return t, chart

    slider = app.temperature_slider()
    slider.focus()
    for _ in range(4):  # up to four steps of 0.05 (see test_every_slider_step_lands for lost steps)
        slider.press("ArrowRight")
    t, warmer = check_temperature("Step_by_step_warmer")
    assert 1.0 < t <= 1.2 + 1e-9
    # A higher temperature flattens every row: its largest weight goes down.
    assert np.all(warmer.z.max(axis=1) < at_one.z.max(axis=1))

    slider.press("Home")  # the lowest temperature, 0.05: nearly one-hot rows
    t, colder = check_temperature("Step_by_step_T0.05")
    assert t == 0.05
    assert np.all(colder.z.max(axis=1) > at_one.z.max(axis=1))
    # Here every word is most similar to itself, so each row puts ~all its weight on its own
    # word (split evenly between the two copies of "the", whose vectors are equal).
    tokens = expected(sentence).tokens
    own = np.array([[a == b for b in tokens] for a in tokens])
    assert np.all((colder.z * own).sum(axis=1) > 0.99)
    assert app.dialogs == []


def test_every_slider_step_lands(app):
    """Ten quick arrow presses from T = 0.05 end at T = 0.55, however long each rerun takes."""
    # A long sentence makes each rerun take a while, so presses arrive while the page reruns.
    long_sentence = " ".join(f"word{i}" for i in range(120))
    app.goto("/Step_by_step", s=long_sentence, t="0.05")
    app.wait_for_model()
    slider = app.temperature_slider()
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
        app.page.wait_for_timeout(100)
    app.wait_for_model()
    t = float(app.params()["t"])
    app.screenshot("Step_by_step")
    assert slider.get_attribute("aria-valuetext") == f"{t:.2f}"
    assert t == pytest.approx(0.55), f"10 steps of 0.05 from 0.05 ended at T={t}"


# --- the query-token picker --------------------------------------------------------------------


def test_query_token_box_follows_the_sentence(app, expected):
    app.goto("/Step_by_step", open="all")
    app.wait_for_model()
    for sentence in ["dogs bark loudly", "one two three four five", "cats purr"]:
        app.type_sentence(sentence)
        labels = app.labels(expected(sentence).tokens)
        app.wait_for_chart("step_row", lambda c, labels=labels: c.x == labels, what=f"bars over {labels}")
        app.wait_for_model()
        shown = app.page.get_by_role("combobox", name="Query token").input_value()
        app.screenshot(f"query_token_{len(labels)}")
        assert shown == labels[0], f"the Query token box shows {shown!r} for {sentence!r} ({labels})"


def test_query_caption_shows_token_as_text(app):
    """Markdown characters in a token stay text (the toy '__init__' once rendered as bold 'init')."""
    app.goto("/Step_by_step", s="__init__ runs first", e="toy", open="row")
    app.wait_for_model()
    caption = app.page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Row 1 of W")
    app.screenshot("toy_underscores")
    assert caption.locator("strong, em").count() == 0
    assert "“__init__”" in caption.inner_text()


def test_query_token_picks_the_row(app, expected):
    """Choosing a query token shows its row of W as bars; a shorter sentence falls back to row 1."""
    sentence = "one two three four five six seven"
    app.goto("/Step_by_step", s=sentence, open="w,row")
    app.wait_for_model()
    trace = expected(sentence)
    labels = app.labels(trace.tokens)
    picker = app.page.get_by_role("combobox", name="Query token")
    picker.focus()
    picker.press("ArrowDown")  # opens the list
    app.page.get_by_role("option", name="six", exact=True).click()
    app.wait_for_chart(
        "step_row",
        lambda c: c.x == labels and np.allclose(c.y_values, trace.weights[5], atol=1e-9),
        what="row 6 of W (six)",
    )
    assert picker.input_value() == "six"
    app.screenshot("Step_by_step_six")

    short = "a b c"
    app.type_sentence(short)
    small = expected(short)
    app.wait_for_chart(
        "step_row",
        lambda c: c.x == app.labels(small.tokens) and np.allclose(c.y_values, small.weights[0], atol=1e-9),
        what="row 1 of the shorter sentence's W",
    )
    app.wait_for_model()
    app.assert_no_exception()
    app.screenshot("Step_by_step_shorter")
