"""The learned page's check in a real browser: press the button, wait for the numbers, recompute them."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from attnviz.model import minilm as model

pytestmark = pytest.mark.browser
SENTENCE = "The trophy didn't fit in the suitcase"


def test_check_button_loads_the_model_once_and_shows_max_delta(app, minilm):
    app.goto("/Unparameterised_vs_learned", s=SENTENCE)
    app.wait_for_model()
    page = app.page
    assert page.get_by_text("Checked against the model:").count() == 0  # nothing runs on a plain visit
    button = page.get_by_role("button", name="Check against the model")
    button.scroll_into_view_if_needed()
    result = page.get_by_text("Checked against the model:")
    busy = page.get_by_text("Loading the model through sentence-transformers")
    for _ in range(2):  # a press that lands during a rerun can be lost: press again if nothing started
        button.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (busy.count() or result.count()):
            time.sleep(0.2)
        if busy.count() or result.count():
            break
    result.wait_for(timeout=300_000)  # sentence-transformers is imported on the first press, once per server
    text = page.locator("p", has_text="Checked against the model:").inner_text()  # the whole sentence
    app.assert_no_exception()

    reference, served = minilm, model.load()  # recomputed here: the served forward against the model's own
    pieces = served.tokenize(SENTENCE)
    ours = served.trace(pieces.ids)
    theirs = reference.forward(reference.tokenize(SENTENCE).ids, attentions=True)
    want = (
        max(np.abs(ours.attentions[i] - theirs.attentions[i][0].numpy()).max() for i in range(6)),
        max(np.abs(ours.hidden[i] - theirs.hidden_states[i][0].numpy()).max() for i in range(7)),
    )
    shown = [float(x) for x in re.findall(r"at most (\d\.\de-\d\d)", text)]
    # the server sums with other BLAS threads than this process: the largest |Δ| may move by an ulp or so
    assert len(shown) == 2 and 0 < shown[0] <= 1e-5 and 0 < shown[1] <= 1e-5, text
    assert shown[0] == pytest.approx(want[0], abs=5e-7) and shown[1] == pytest.approx(want[1], abs=3e-6), (text, want)
    assert f"the same {len(pieces.ids)} word pieces and ids" in text
    app.screenshot("Unparameterised_vs_learned_check")
