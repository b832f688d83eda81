"""The Induction heads page in a real browser: a teacher's link, Train pressed, the three models' curves
grow while the progress moves, the run ends with the phase change said, the probe replayed at a step,
and a sequence continued token by token."""

from __future__ import annotations

import re

import numpy as np
import pytest

from attnviz.learn import induction

pytestmark = pytest.mark.browser

_PROGRESS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stProgress"]')).map((e) => e.innerText)"""


def test_teacher_link_train_replay_and_generate(app):
    app.goto("/Induction_heads", steps="1000", seed="2", probe="4")
    app.wait_for_model(chart=False)
    app.page.get_by_role("button", name="Train").click()
    seen: set[str] = set()

    def progress_moves():
        seen.update(app.page.evaluate(_PROGRESS_JS))
        return len(seen) >= 3, seen

    ok, _ = app.poll(progress_moves, timeout=120, interval=0.1)
    assert ok, f"progress seen while training: {sorted(seen)}"

    def finished():
        text = app.page.inner_text("body")
        return "2 layers (step 1,000)" in text, text[-300:]

    ok, tail = app.poll(finished, timeout=600, interval=0.5)
    assert ok, tail
    app.assert_no_exception()
    loss = app.wait_for_chart("ind_loss", lambda c: len(c.traces) == 3, what="three loss curves")
    t = induction.Trainer(induction.Settings(steps=1000, seed=2, probe_seed=4))
    t.run(1000)
    np.testing.assert_allclose(loss.traces[1]["y"], [c.loss for c in t.checkpoints], atol=1e-5)
    body = app.page.inner_text("body")
    change = induction.phase_change(t.checkpoints)
    assert change is not None and induction.describe(change) in body
    app.screenshot("trained")
    # where layer 1 reads layer 0: the bars are read_paths of the same run, recomputed here
    knock = app.wait_for_chart("ind_knock", lambda c: len(c.traces) == 2, what="the knockout bars")
    head = int(np.argmax(t.checkpoints[-1].induction[1]))
    paths = induction.read_paths(t.params, t.config, t.eval, head)
    for trace, path in zip(knock.traces, "QK"):
        np.testing.assert_allclose(trace["y"], paths.scores[:, induction.PATHS.index(path)], atol=1e-5)
    assert "Taken out of its keys, head " in body and f"from {paths.score:.2f} to " in body
    app.page.get_by_text("What each layer-0 head writes").scroll_into_view_if_needed()
    app.screenshot("knockout")

    app.page.get_by_role("button", name="Play").click()  # the replay: the grid walks through the checkpoints
    shown_steps: set[int] = set()

    def replaying():
        body = app.page.inner_text("body")
        shown_steps.update(int(m.replace(",", "")) for m in re.findall(r"W at step ([\d,]+)", body))
        return len(shown_steps) >= 4, sorted(shown_steps)

    ok, got = app.poll(replaying, timeout=60, interval=0.1)
    assert ok, f"steps the replay showed: {got}"
    assert shown_steps <= {c.step for c in t.checkpoints}
    app.page.get_by_role("button", name="Pause").click()
    ok, _ = app.poll(lambda: (app.page.get_by_role("button", name="Play").count() == 1, ""), timeout=30)
    assert ok, "Pause did not stop the replay"
    app.assert_no_exception()

    app.page.get_by_role("textbox", name="Tokens").fill("5 17 42 8 30 61 2 9 5 17")
    app.page.get_by_role("textbox", name="Tokens").press("Enter")
    app.wait_for_chart("ind_next_probs", lambda c: len(c.traces) == 1, what="next-token bars")
    app.page.get_by_role("button", name="Next token").click()
    want = int(induction.predict(t.params, t.config, np.array([5, 17, 42, 8, 30, 61, 2, 9, 5, 17]))[-1])
    shown = f"Sequence: 5 17 42 8 30 61 2 9 5 17 {want}"
    ok, _ = app.poll(lambda: (shown in app.page.inner_text("body"), ""), timeout=60, interval=0.2)
    assert ok, f"the generated token {want} is not shown"
    app.assert_no_exception()
    app.screenshot("generated")
    assert app.dialogs == []
