"""Input the app must not interpret: markup stays text, no dialog fires; empty input is explained."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

MARKUP = "<img src=x onerror=alert(1)>"

# Anything the markup would have created or requested if it had been interpreted as HTML.
_INJECTED_JS = """() => ({
  images: Array.from(document.querySelectorAll('img')).filter((i) => (i.getAttribute('src') || '') === 'x').length,
  handlers: document.querySelectorAll('[onerror]').length,
})"""

# A broken image of the test's own, whose onerror must fire: proof that the page had the time and the
# means to run the markup's handler, had the markup been interpreted.
_CANARY_JS = """() => {
  window.__attnvizCanary = 0;
  const img = document.createElement('img');
  img.id = 'attnviz-canary';
  img.setAttribute('onerror', 'window.__attnvizCanary = 1');
  img.src = 'x-canary';
  document.body.appendChild(img);
}"""


def check_markup_is_text(app, key: str, tokens) -> None:
    """The markup is in the box, the URL and the chart's labels as text, and nothing ran."""
    chart_tokens = app.wait_for_tokens(key, app.labels(tokens))
    assert any("<" in label for label in chart_tokens.x) and any(">" in label for label in chart_tokens.x)
    # The tick labels the user sees are the text "<" and ">", not markup.
    ticks = app.page.locator(f".st-key-{key} .xtick text").all_text_contents()
    assert "<" in ticks and ">" in ticks, ticks
    assert app.sentence_box().input_value() == MARKUP
    assert app.params()["s"] == MARKUP
    # A positive signal before asserting that nothing happened: a broken image the test itself adds
    # does fire its onerror and is seen requesting its source, so the markup's would have too by now.
    app.page.evaluate(_CANARY_JS)
    app.page.wait_for_function("() => window.__attnvizCanary === 1", timeout=10_000)
    app.page.evaluate("() => document.getElementById('attnviz-canary').remove()")
    assert any(urlsplit(u).path.endswith("/x-canary") for u in app.requests), "the request listener saw nothing"
    assert app.page.evaluate(_INJECTED_JS) == {"images": 0, "handlers": 0}
    requested = [u for u in app.requests if urlsplit(u).path.rstrip("/").endswith("/x")]
    assert requested == [], f"the page requested {requested}"
    assert app.dialogs == [], f"a dialog fired: {app.dialogs}"
    app.assert_no_exception()


@pytest.fixture
def markup_tokens(expected) -> tuple[str, ...]:
    return expected(MARKUP).tokens


def test_typed_markup_is_text(app, markup_tokens):
    app.goto("/Step_by_step")
    app.wait_for_model()
    app.type_sentence(MARKUP)
    check_markup_is_text(app, "step_weights", markup_tokens)
    # The step page lists the tokens as plain text.
    assert " | ".join(markup_tokens) in app.page.locator('[data-testid="stMain"]').inner_text()
    app.screenshot("Step_by_step")

    app.click_nav("")
    app.wait_for_model()
    check_markup_is_text(app, "home_weights", markup_tokens)
    app.screenshot("home")


def test_linked_markup_is_text(app, markup_tokens):
    app.goto("/", s=MARKUP)
    app.wait_for_model()
    check_markup_is_text(app, "home_weights", markup_tokens)
    app.screenshot("home")


def test_empty_input_shows_info(app):
    app.goto("/Step_by_step")
    app.wait_for_model()
    for sentence, where in [("", "Step_by_step"), ("   ", "home")]:
        if where == "home":
            app.click_nav("")
        app.type_sentence(sentence)
        info = app.page.locator('[data-testid="stMain"] [data-testid="stAlertContentInfo"]').filter(
            has_text=re.compile("empty", re.I)
        )
        info.wait_for()
        assert app.sentence_box().input_value() == sentence
        app.wait_for_model(chart=False)
        app.assert_no_exception()
        assert app.chart_keys() == [], "charts are still shown for an empty sentence"
        app.screenshot(where)
    assert app.dialogs == []
