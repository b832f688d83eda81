"""Load: one real server holds 30 browser sessions at once, each showing its own sentence.

One `streamlit run app.py` (attnviz_harness, the harness the benchmarks use too), the model warmed once,
then 30 Chromium contexts opened one after another on /Step_by_step?s=<own sentence>. Asserted: behaviour
only (every session's W heatmap shows its own word pieces with rows summing to 1, still so with its
sentence in the URL and the box after the later sessions opened, no uncaught exception, no script
dialog, no session saw the model loading, the model loaded once for the process). The server's RSS is
printed (run with -s), never asserted; benchmarks/bench_sessions.py measures memory. Nothing here skips:
if Playwright or Chromium cannot start, the test fails.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import attnviz_harness as testing
import pytest

SESSIONS = 30
CHECKPOINTS = (10, SESSIONS)
SESSION_WAIT_S = 120.0  # only a guard against a hung page: slowness must not fail the test
W_KEY, W_INDEX = "step_weights", 2
TOPICS = ["attention", "heads", "softmax", "queries", "keys", "values", "tokens", "vectors", "layers"]


@dataclass
class Opened:
    sentence: str
    expected: list[str]
    page: object
    problem: str = ""
    loading_seen: bool = False
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


def _run(log_path) -> tuple[list[Opened], list[str], int]:
    """Open the sessions; returns them (checked), the re-read problems and the weights' mappings."""
    pieces = testing.expected_pieces()
    server = testing.start_server(log_path)
    opened: list[Opened] = []
    reread: list[str] = []
    try:
        with testing.chromium() as browser:
            testing.warm_up(browser, server.url)
            for i in range(1, SESSIONS + 1):
                text = f"student {i} asks about {TOPICS[i % len(TOPICS)]}"
                page = browser.new_context(viewport=testing.VIEWPORT).new_page()
                s = Opened(text, pieces(text), page)
                testing.watch(page, s.dialogs, s.page_errors)
                page.goto(testing.url_for(server.url, "/Step_by_step", s=text))

                def seen(state: dict, s: Opened = s) -> None:
                    s.loading_seen |= state["loading"] or state["toy"]

                _, s.problem = testing.wait_for_chart(
                    page, W_KEY, s.expected, index=W_INDEX, timeout=SESSION_WAIT_S, on_state=seen
                )
                opened.append(s)
                if i in CHECKPOINTS:
                    for j, o in enumerate(opened, 1):
                        state = testing.snapshot(o.page, W_KEY, W_INDEX)
                        why = testing.still_there(state, o.expected, {"s": o.sentence})
                        if why:
                            reread.append(f"at {i} sessions, session {j} ({o.sentence!r}): {why}")
                    print(f"{i} sessions: server RSS {testing.tree_rss_mb(server.pid):.0f} MB")
            return opened, reread, testing.model_mappings(server.pid)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.browser
def test_thirty_sessions_each_show_their_own_sentence(tmp_path):
    # Its own thread: the browser tests' Playwright (pytest-playwright) keeps an event loop in this
    # one, and Playwright's sync API refuses to start inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        opened, reread, mappings = pool.submit(_run, tmp_path / "server.log").result()

    assert len(opened) == SESSIONS
    wrong = [f"session {i} ({s.sentence!r}): {s.problem}" for i, s in enumerate(opened, 1) if s.problem]
    assert not wrong, "sessions that did not show their own sentence:\n" + "\n".join(wrong)
    assert not reread, "sessions that changed after later ones opened:\n" + "\n".join(reread)
    assert not [d for s in opened for d in s.dialogs], "a page opened a script dialog"
    # The model is loaded once per server process: no session after the warm-up waited for it, and
    # the weights file is mapped at most once (one mapping per live model copy).
    assert not any(s.loading_seen for s in opened), "a new session showed the model loading"
    assert mappings <= 1, mappings
