"""Load: one real server holds 30 browser sessions at once, each showing its own sentence.

Runs the main logic of benchmarks/bench_sessions.py (imported from its path): one `streamlit run app.py`,
the model warmed once, then 30 Chromium contexts opened one after another on /Step_by_step?s=<own
sentence>. Asserted: behaviour only (every session's W heatmap shows its own word pieces with rows summing
to 1, still so after the later sessions opened, no uncaught exception, no script dialog, the model loaded
once for the process). Time and memory are printed (run with -s, or see the report on failure), never
asserted. Nothing here skips: if Playwright or Chromium cannot start, the test fails.
"""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_sessions.py"
SESSIONS = 30
# Only a guard against a hung run, far above the ~2-3 minutes it takes: slowness must not fail the test.
BUDGET_S = 900.0


def _bench_sessions():
    spec = importlib.util.spec_from_file_location("bench_sessions", BENCH)
    assert spec and spec.loader, f"cannot import {BENCH}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.browser
def test_thirty_sessions_each_show_their_own_sentence():
    bench = _bench_sessions()
    # Its own thread: the browser tests' Playwright (pytest-playwright) keeps an event loop in this
    # one, and Playwright's sync API refuses to start inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(bench.run, sessions=SESSIONS, checkpoints=(1, 10, SESSIONS), budget_s=BUDGET_S).result()
    bench.report(result, SESSIONS)  # the table, RSS at 1/10/30 sessions and the peak: printed, not asserted

    assert not result.failures, "the run did not complete:\n" + "\n".join(result.failures)
    assert len(result.sessions) == SESSIONS
    wrong = [
        f"session {s.index} ({s.sentence!r}): expected {s.expected}, shown {s.shown}; "
        f"{s.problem or ''} {s.reread_failures or ''}"
        for s in result.sessions
        if s.shown != s.expected or s.problem or s.reread_failures
    ]
    assert not wrong, "sessions that did not show their own sentence:\n" + "\n".join(wrong)
    assert all(s.rowsum_err is not None and s.rowsum_err <= 1e-6 for s in result.sessions)
    assert result.exceptions == 0, [e for s in result.sessions for e in s.exceptions]
    assert result.dialogs == 0, [d for s in result.sessions for d in s.dialogs]
    assert [c.reread_ok for c in result.checkpoints] == [c.reread_total for c in result.checkpoints]
    assert result.checkpoints[-1].reread_total == SESSIONS  # the last re-read covered every session
    # The model is loaded once per server process: no session after the warm-up waited for it, and
    # the weights file is mapped at most once (one mapping per live model copy).
    assert not any(s.loading_seen for s in result.sessions), "a new session showed the model loading"
    assert result.final_mappings is not None and result.final_mappings <= 1, result.final_mappings
    assert all(s.ok for s in result.sessions)
