"""The home page in a real browser: it shows W for the sentence, the same W NumPy computes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_home_shows_w(app, expected):
    app.goto("/")
    app.wait_for_model()
    assert app.sentence_box().input_value() == "hi how are you"
    app.assert_weights("home_weights", expected("hi how are you"))
    assert app.params()["s"] == "hi how are you"
    app.screenshot("home_default")

    sentence = "Every row of W adds up to one, every row!"
    app.type_sentence(sentence)
    app.assert_weights("home_weights", expected(sentence))
    assert app.params()["s"] == sentence
    app.assert_no_exception()
    app.screenshot("home_typed")
    assert app.dialogs == []
