"""Pages, links and the URL in a real browser: every page renders, links and page switches keep the sentence."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

# Where the W heatmap lives on the two pages that show one.
HOME, STEP = ("", "home_weights"), ("Step_by_step", "step_weights")
# no sentence box there (ui.setup(..., text=False)); the URL keeps it
NO_SENTENCE = {"Vision", "Train_attention", "Induction_heads"}


def check_sentence(app, sentence: str, *, box: bool = True) -> None:
    """The sentence is in the sidebar box (on a page that has one) and in the URL."""
    if box:
        assert app.sentence_box().input_value() == sentence
    else:
        assert app.sentence_box().count() == 0
    assert app.params().get("s") == sentence, f"the URL is {app.location()}"


def test_every_page_renders(app, app_pages):
    """Visit each pages/*.py through the sidebar: no uncaught exception, the sentence stays."""
    sentence = "Every page keeps my sentence"
    app.goto("/", s=sentence)
    app.wait_for_model()
    app.assert_no_exception()
    check_sentence(app, sentence)
    app.screenshot("home")

    for script, url_path in app_pages:
        app.click_nav(url_path)
        app.wait_for_model(chart=False)
        app.assert_no_exception()
        check_sentence(app, sentence, box=url_path not in NO_SENTENCE)
        app.screenshot(url_path)
        assert not app.page_errors, f"{script.name}: JavaScript errors {app.page_errors}"

    app.click_nav("")  # and back home
    app.wait_for_model()
    app.assert_no_exception()
    check_sentence(app, sentence)
    assert app.dialogs == []


@pytest.mark.parametrize(("path", "key"), [HOME, STEP], ids=["home", "step"])
def test_shared_link(app, expected, path, key):
    """Opening ?s=... shows that sentence: box, URL and the chart's tokens."""
    sentence = "A shared link keeps THE sentence, the whole sentence"
    app.goto(f"/{path}", s=sentence)
    app.wait_for_model()
    trace = expected(sentence)
    assert trace.tokens.count("sentence") == 2  # so the labels carry positions
    chart = app.assert_weights(key, trace)
    assert {"the #1", "sentence #1", "the #2", "sentence #2"} <= set(chart.x), chart.x
    check_sentence(app, sentence)
    # The other settings are written back with their defaults, ready to be shared again.
    params = app.params()
    assert (params["e"], params["special"], params["scale"], float(params["t"])) == ("static", "0", "none", 1.0)
    app.assert_no_exception()
    app.screenshot(path or "home")


def test_sentence_survives_page_switch(app, expected):
    """Type on home, switch to the step page, type there, switch back: box, URL and chart follow."""
    first = "Switching pages keeps this"
    app.goto("/")
    app.wait_for_model()
    app.type_sentence(first)
    app.assert_weights("home_weights", expected(first))
    check_sentence(app, first)
    app.screenshot("home_typed")

    app.click_nav("Step_by_step")
    app.wait_for_model()
    check_sentence(app, first)
    app.assert_weights("step_weights", expected(first))
    app.screenshot("Step_by_step_after_switch")

    second = "and the step page keeps that"
    app.type_sentence(second)
    app.assert_weights("step_weights", expected(second))

    app.click_nav("")
    app.wait_for_model()
    check_sentence(app, second)
    app.assert_weights("home_weights", expected(second))
    app.assert_no_exception()
    app.screenshot("home_after_switch")
    assert app.dialogs == []


def test_no_request_leaves_the_machine(app):
    """The app is used offline: every request the pages make goes to the app's own server."""
    app.goto("/")
    app.wait_for_model()
    app.click_nav("Step_by_step")
    app.wait_for_model()
    app.screenshot("Step_by_step")
    own = urlsplit(app.base_url).netloc
    outside = sorted(
        {u for u in app.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != own}
    )
    assert outside == [], f"requests to other hosts: {outside}"
