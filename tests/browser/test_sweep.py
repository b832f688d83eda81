"""The sweep: every page with every lazy section open; a sequence of sentences typed one after another in the
sidebar (ordinary ones, then hostile ones), and after each one every select box, radio, slider and segmented
control of the page moved to another value, one after the other, and one of the sidebar's controls too. After
every step: no uncaught exception, no dialog, no console error from the app, and every chart axis that shows
a sentence's pieces shows the current sentence's, labelled as the test recomputes them from the model of
record (tests/browser/sweep.py).

AppTest cannot stand in for this: a select box whose options change with the sentence kept its old label in
Chromium and crashed the Query/key space page on the second sentence, while AppTest passed.

Economy: one tab per page on the session's server; pages that never show the sentence (Train attention)
get three sentences instead of six, the page without a sentence box (Vision) two rounds of moves; a page of
screens (the Lesson) is walked whole with the first sentence and three screens further with each other.
"""

from __future__ import annotations

import re
import time

import pytest
from streamlit.source_util import page_icon_and_name, page_sort_key

from tests.browser.conftest import ROOT, UPDATE_WAIT_S
from tests.browser.sweep import RUN_COUNTER_JS, Driver, Expected, Record, app_console_error, expected_for

pytestmark = pytest.mark.browser

MARKUP = "<b>x</b><script>alert(1)</script>"
LONG = ("The quick brown fox jumps over the lazy dog; the dog, unimpressed, sleeps on. " * 130)[:10_000]
# emoji, CJK and right-to-left text, then control characters (tab, bell, escape, delete, zero width, RTL override, NUL)
WORLD = "😀 你好 שלום tab\there bell\x07 esc\x1b[31m red\x7f zero\u200bwidth \u202eturned nul\x00end"
FIRST, SECOND = "the cat sat on the mat", "a cat ran far away, and the end came"
OTHER = "a cat sat far away from the end"  # the second sentence: shares pieces with both of the first two

# (sentence, second sentence): each step types what differs from the step before.
STEPS = [
    (FIRST, ""),
    (SECOND, OTHER),
    (MARKUP, OTHER),
    (LONG, ""),
    ("", ""),
    (WORLD, FIRST),
]
FEW = [STEPS[0], STEPS[2], STEPS[4]]  # for a page that never shows the sentence
ROUNDS_WITHOUT_TEXT = 2  # a page with no sentence box: its controls moved this many times
MAX_MOVES = 40  # a step's moves on one screen, a guard against a page that keeps growing widgets
SCREENS_LATER = 3  # a page of screens: every screen with the first sentence, this many more with each other
NO_RERUN_S = 4.0  # an action that starts no run within this is taken as one that needs none
SETTLE_S = 0.15  # the page unchanged this long after a run: done (runs and changes are counted, not guessed)
LONG_WAIT_S = 120.0  # the 10,000-character sentence through six layers, on a busy machine

PAGES = [""] + [page_icon_and_name(p)[1] for p in sorted((ROOT / "pages").glob("*.py"), key=page_sort_key)]


@pytest.mark.parametrize("path", PAGES, ids=[p or "Home" for p in PAGES])
def test_sweep(app, minilm, path):
    record, consoles = Record(), []
    app.page.on("console", lambda m: (e := app_console_error(m)) and consoles.append(e))
    app.page.add_init_script(RUN_COUNTER_JS)
    drive = Driver(app, record, settle_s=SETTLE_S, update_s=UPDATE_WAIT_S, no_rerun_s=NO_RERUN_S)
    start = time.monotonic()
    app.goto(f"/{path}", open="all")
    app.wait_for_model(chart=False)
    drive.quiet(what="loading", timeout=LONG_WAIT_S)

    has_text = app.sentence_box().count() == 1
    steps = STEPS if has_text else [None] * ROUNDS_WITHOUT_TEXT
    sidebar_turn = PAGES.index(path)  # which sidebar control moves first: a different one on each page
    typed = ("", "")
    k = 0
    while k < len(steps):
        step = steps[k]
        when = f"step {k + 1}"
        timeout = LONG_WAIT_S if step and LONG in step else UPDATE_WAIT_S
        if step is not None:
            when += f" {short(step[0])!r}" + (f" + {short(step[1])!r}" if step[1] else "")
            for box, text, old in ((app.sentence_box(), step[0], typed[0]), (second_box(app), step[1], typed[1])):
                if text != old:
                    before = drive.counters()
                    box.fill(text)
                    box.press("Enter")
                    drive.settled(since=before, what=f"{when}: typing", timeout=timeout)
            typed = step
        expected = expectation(app, minilm)
        drive.check(f"{when}: typed", expected)
        screens(drive, when, expected, timeout, budget=None if k == 0 else SCREENS_LATER)
        sidebar_turn = sidebar_move(drive, when, sidebar_turn, minilm)
        if k == 0 and has_text and not record.token_slots():
            steps = FEW  # this page never showed the sentence's pieces: fewer sentences
        k += 1

    took = time.monotonic() - start
    print(
        f"\nsweep {path or 'Home'}: {took:.1f} s, {len(steps)} steps, {record.reruns} reruns, "
        f"{sum(record.moves.values())} moves {dict(record.moves)}, token axes {sorted(record.token_slots())}, "
        f"moves without a rerun: {record.no_rerun}; waits: {sum(w for w, _ in record.waits):.1f} s in "
        f"{len(record.waits)}, the longest {[f'{w:.1f} s {what}' for w, what in sorted(record.waits)[-4:]]}"
    )
    failures = list(record.problems)
    failures += [f"{o.when}: chart {o.slot} shows {o.shown[:12]} …, not the current sentence's" for o in record.stale()]
    failures += [f"a dialog opened: {d}" for d in app.dialogs]
    failures += [f"a JavaScript error: {e}" for e in app.page_errors]
    failures += [f"a console error: {e}" for e in consoles]
    if failures:
        app.screenshot("sweep_end")
    assert not failures, f"{len(failures)} problems on /{path}:\n" + "\n".join(failures[:30])


def short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"


def second_box(app):
    return app.page.get_by_role("textbox", name="Second sentence", exact=True)


def expectation(app, minilm) -> Expected:
    """The labels allowed now, from what the boxes hold (the browser may have dropped a character)."""
    if app.sentence_box().count() == 0:
        return Expected(())
    second = second_box(app).input_value() if second_box(app).count() else ""
    return expected_for(minilm, app.sentence_box().input_value(), second, toy_words=app.params().get("e") == "toy")


def screens(drive: Driver, when: str, expected: Expected, timeout: float, *, budget: int | None) -> None:
    """Move every widget of the page once; on a page of screens (Previous / Next), on each of `budget` more
    screens too (None: every screen up to the end), going on in one direction and turning at the ends."""
    moves_here(drive, when, expected, timeout)
    buttons = {  # a button's name holds its icon's and its shortcut's text too: "arrow_forward Next →"
        name: drive.page.get_by_role("button", name=re.compile(rf"(^|\s){name}(\s|$)")) for name in ("Next", "Previous")
    }
    if any(b.count() != 1 for b in buttons.values()):
        return
    clicks = 0
    while budget is None or clicks < budget:
        way = getattr(drive, "way", "Next")
        if not buttons[way].is_enabled():
            way = drive.way = "Previous" if way == "Next" else "Next"
            if budget is None or not buttons[way].is_enabled():
                return
        clicks += 1
        drive.act(f"{when}: {way}", buttons[way].click)
        drive.check(f"{when}: {way}", expected)
        moves_here(drive, when, expected, timeout)


def moves_here(drive: Driver, when: str, expected: Expected, timeout: float) -> None:
    moved: set[str] = set()
    for _ in range(MAX_MOVES):
        todo = [w for w in drive.widgets() if w["area"] == "main" and not w["disabled"] and w["id"] not in moved]
        if not todo:
            return
        w = todo[0]
        moved.add(w["id"])
        what = f"{when}: {w['kind']} {w['label']!r}"
        before = drive.counters()
        if (done := drive.move(w)) is None:
            continue
        drive.settled(since=before, what=f"{what} {done}", timeout=timeout)
        drive.record.moves[w["kind"]] += 1
        drive.check(f"{what} {done}", expected)


def sidebar_move(drive: Driver, when: str, turn: int, minilm) -> int:
    """Move one of the sidebar's select boxes, radios and sliders (a different one each step)."""
    controls = [w for w in drive.widgets() if w["area"] == "sidebar" and not w["disabled"]]
    if not controls:
        return turn
    w = controls[turn % len(controls)]
    what = f"{when}: sidebar {w['kind']} {w['label']!r}"
    before = drive.counters()
    if (done := drive.move(w)) is None:
        return turn + 1
    drive.settled(since=before, what=f"{what} {done}", timeout=LONG_WAIT_S)
    drive.record.moves["sidebar"] += 1
    drive.check(f"{what} {done}", expectation(drive.app, minilm))
    return turn + 1
