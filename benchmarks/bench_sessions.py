"""One real server, up to 30 browser sessions at once: each shows its own sentence; the server's memory.

    .venv/bin/python benchmarks/bench_sessions.py [--sessions 30] [--checkpoints 1,10,30] [--budget 170]

One `<venv python> -m streamlit run app.py --server.headless true --server.port PORT --server.address
127.0.0.1` (cwd = the repo root, so .streamlit/config.toml applies; HF_HUB_OFFLINE=1 ...) is started and
polled on /_stcore/health. A warm-up browser context opens the home page and waits until the sidebar's
"Loading the MiniLM model" info is gone and the heatmap is model-backed; that context is then closed
(Streamlit may keep its session state for a while after the disconnect). Then sessions are opened one
after another, each a new browser context (= a new Streamlit session) that stays open, each on
/Step_by_step?s=<its own sentence> ("student 7 asks about attention", ...). A session passes when:

  - the W heatmap (the `st-key-step_weights` chart, else the 3rd plotly chart) shows exactly the word
    pieces of ITS sentence on both axes (expected pieces from the model's own tokenizer.json, [CLS]/[SEP]
    hidden), read from the chart element's `data` in the page (plain, typed or {dtype, bdata, shape});
  - W is n x n, non-negative, and every row sums to 1 (|sum - 1| <= 1e-6);
  - no `[data-testid="stException"]`, no loading notice, no toy-embedding caption, no script dialog
    (page.on("dialog") on every page; dialogs are counted and dismissed);
  - at every checkpoint, every session opened so far is read again: still its own tokens, its own
    sentence in the URL (?s=) and in the "Sentence" box, still connected.

Memory: VmRSS of the server process summed over its process tree (/proc/PID/status; the tree is the
server and any descendants), after each session, at the checkpoints, and the peak of a 0.1 s sampler
(plus the kernel's VmHWM). "Model loaded once per process" is shown by:

  - model.safetensors mappings in /proc/PID/maps: transformers memory-maps the weights file and the
    loaded tensors keep the mapping alive, one mapping per live model copy (measured: 1 after one
    load_minilm(), 2 after two);
  - no session after the warm-up ever showed the loading notice or the toy fallback, i.e. the model
    future (st.cache_resource) was already done for every new session;
  - RSS per extra session far below the ~90 MB of the weights;
  - thread names from /proc/PID/task/*/comm are listed too, but Python < 3.14 does not give OS threads
    their Python names (the loader thread 'minilm_0' shows up as 'python'), so they prove nothing there.

Before the sessions, one browser context draws every page once (Home, then each page of ui.PAGES on the
same sentence, waiting until its script has finished); the server's RSS is taken then, and whether any
libtorch is mapped in its process tree (the app serves MiniLM through NumPy; torch only for the check).

Exit status 1 if any session fails (the memory target is reported, not enforced). The whole run is
bounded by --budget seconds; the browser and the server (its process group) are stopped on any exit.
Server log: benchmarks/out/sessions-server.log.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

from attnviz_harness import (  # noqa: E402
    ROOT,
    SERVER_PYTHON,
    VIEWPORT,
    chromium,
    expected_pieces,
    hwm_mb,
    labels,
    model_mappings,
    process_tree,
    rowsum_error,
    snapshot,
    start_server,
    still_there,
    tree_rss_mb,
    url_for,
    wait_for_chart,
    warm_up,
    watch,
)
from results import record  # noqa: E402

OUT = HERE / "out"
PYTHON = SERVER_PYTHON  # the server `make run` starts

STEP_PATH = "/Step_by_step"
W_KEY = "step_weights"  # the W heatmap's key on the step page; the 3rd plotly chart if it is missing
W_INDEX = 2
MEMORY_TARGET_MB = 400.0  # MB = 10**6 bytes; issue 10's target for the server with the model and 30 sessions
PAGES_TARGET_MB = 300.0  # issue 10: one server that has drawn every page once, with no libtorch mapped
SERVER_START_S = 60.0
MODEL_WAIT_S = 90.0
SESSION_WAIT_S = 40.0
TOPICS = [
    "attention", "heads", "softmax", "queries", "keys", "values", "tokens", "vectors", "layers", "weights",
    "embeddings", "transformers", "context", "scores", "rows", "columns", "temperature", "geometry",
]  # fmt: skip

# --- the server process, from /proc ----------------------------------------------------------


def libtorch_mapped(pid: int) -> bool:
    """Whether any process of the tree maps a libtorch shared library (torch was imported)."""
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            if "libtorch" in Path(f"/proc/{p}/maps").read_text():
                return True
    return False


PAGE_DONE_JS = """() => ({
  running: (document.querySelector('[data-test-script-state]') || {getAttribute: () => "running"})
    .getAttribute("data-test-script-state") === "running",
  charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
  exceptions: Array.from(document.querySelectorAll('[data-testid="stException"]'), (e) => e.innerText),
})"""


def draw_every_page(browser, base: str, budget: Budget) -> list[str]:
    """One context visits every page on the same sentence and waits for each to finish; -> problems."""
    problems = []
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        for slug in ["", *(f.stem.split("_", 1)[1] for f in sorted((ROOT / "pages").glob("*.py")))]:
            page.goto(f"{base}/{slug}?s=the+cat+sat+on+the+mat", timeout=budget.left(30) * 1000)
            time.sleep(1.0)  # the script starts after the page has connected
            deadline = time.monotonic() + budget.left(30)
            while time.monotonic() < deadline:
                st = page.evaluate(PAGE_DONE_JS)
                if st["exceptions"]:
                    problems.append(f"/{slug}: {st['exceptions'][0][:200]}")
                    break
                if not st["running"]:
                    break
                time.sleep(0.2)
            else:
                problems.append(f"/{slug}: still running after 30 s")
    finally:
        context.close()
    return problems


def thread_names(pid: int) -> Counter:
    names: Counter = Counter()
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    names[(task / "comm").read_text().strip()] += 1
    return names


class Sampler(threading.Thread):
    """Every 0.1 s: the tree's RSS (for the peak), the weight mappings, the thread names."""

    def __init__(self, pid: int):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.max_mappings = 0
        self.names: set[str] = set()
        self.max_threads = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self.max_mappings = max(self.max_mappings, model_mappings(self.pid))
            names = thread_names(self.pid)
            self.names |= set(names)
            self.max_threads = max(self.max_threads, sum(names.values()))
            self._halt.wait(0.1)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# --- results ---------------------------------------------------------------------------------


@dataclass
class Session:
    index: int
    sentence: str
    expected: list[str]
    open_s: float | None = None
    shown: list[str] | None = None
    rowsum_err: float | None = None
    how: str = ""  # how the W chart was found: by key or by index
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    loading_seen: bool = False  # the loading notice or the toy fallback, at any time after the warm-up
    rss_mb: float | None = None  # the server tree's RSS right after this session was ready
    rereads: int = 0
    reread_failures: list[str] = field(default_factory=list)
    problem: str = ""
    context: object = None
    page: object = None

    @property
    def ok(self) -> bool:
        return (
            not self.problem
            and not self.exceptions
            and not self.dialogs
            and not self.reread_failures
            and self.shown == self.expected
        )


@dataclass
class Checkpoint:
    sessions: int
    rss_mb: float
    mappings: int
    reread_ok: int
    reread_total: int


@dataclass
class Result:
    sessions: list[Session] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_pid: int | None = None
    tree_pids: list[int] = field(default_factory=list)
    start_s: float | None = None  # server launch -> health
    warm_s: float | None = None  # server launch -> the warm-up page model-backed
    rss_warm_mb: float | None = None  # after the warm-up, before any session
    rss_pages_mb: float | None = None  # after one context drew every page once
    libtorch_pages: bool | None = None  # libtorch mapped after every page was drawn
    page_problems: list[str] = field(default_factory=list)
    peak_mb: float = 0.0
    hwm_mb: float = 0.0
    max_mappings: int = 0
    final_mappings: int | None = None
    thread_names: list[str] = field(default_factory=list)
    max_threads: int = 0
    log_errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def exceptions(self) -> int:
        return sum(len(s.exceptions) for s in self.sessions)

    @property
    def dialogs(self) -> int:
        return sum(len(s.dialogs) for s in self.sessions)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.sessions) and all(s.ok for s in self.sessions)


# --- the run ---------------------------------------------------------------------------------


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        return max(0.0, min(cap, self.end - time.monotonic()))


def sentence_for(i: int) -> str:
    return f"student {i} asks about {TOPICS[(i - 1) % len(TOPICS)]}"


def open_session(browser, base: str, s: Session, budget: Budget) -> None:
    """A new context on the step page with the session's sentence; wait until it shows it."""
    s.context = browser.new_context(viewport=VIEWPORT)
    s.page = page = s.context.new_page()
    watch(page, s.dialogs, s.page_errors)
    t0 = time.perf_counter()
    try:
        page.goto(url_for(base, STEP_PATH, s=s.sentence), timeout=budget.left(SESSION_WAIT_S) * 1000)
    except Exception as e:
        s.problem = f"navigation failed: {type(e).__name__}"
        return

    def seen(state: dict) -> None:
        s.loading_seen |= state["loading"] or state["toy"]
        s.exceptions = [" ".join(e.split())[:200] for e in state["exceptions"]]
        if state["chart"]:
            s.shown, s.how = labels(state["chart"]["y"]), state["chart"]["how"]
            s.rowsum_err = rowsum_error(state["chart"]["z"])

    _state, s.problem = wait_for_chart(
        page, W_KEY, s.expected, index=W_INDEX, timeout=budget.left(SESSION_WAIT_S), on_state=seen
    )
    s.open_s = time.perf_counter() - t0


def reread(s: Session) -> bool:
    """Read a session again: still its own tokens, sentence in the URL and the box, connected."""
    s.rereads += 1
    try:
        state = snapshot(s.page, W_KEY, W_INDEX)
    except Exception as e:
        s.reread_failures.append(f"read failed: {type(e).__name__}: {e}")
        return False
    s.exceptions = s.exceptions or [" ".join(e.split())[:200] for e in state["exceptions"]]
    why = still_there(state, s.expected, {"s": s.sentence})
    if why:
        s.reread_failures.append(why)
    return not why


def run(
    sessions: int = 30,
    checkpoints: tuple[int, ...] = (1, 10, 30),
    budget_s: float = 170.0,
    headless: bool = True,
    log=print,
) -> Result:
    """Start a server and a browser, open the sessions, check them; always stops both."""
    t_start = time.perf_counter()
    budget = Budget(budget_s)
    result = Result()
    pieces = expected_pieces()
    checkpoints = tuple(sorted({c for c in checkpoints if 1 <= c <= sessions} | {sessions}))
    log_path = OUT / "sessions-server.log"
    OUT.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    server = sampler = None
    with chromium(headless) as browser:
        try:
            t0 = time.perf_counter()
            server = start_server(log_path, python=PYTHON, timeout=budget.left(SERVER_START_S))
            proc, base, result.start_s = server.proc, server.url, server.start_s
            result.server_pid = proc.pid
            sampler = Sampler(proc.pid)
            sampler.start()
            log(f"server pid {proc.pid} healthy after {result.start_s:.1f} s at {base}; warming the model ...")
            warm_up(browser, base, timeout=budget.left(MODEL_WAIT_S))
            result.warm_s = time.perf_counter() - t0
            time.sleep(0.5)
            result.rss_warm_mb = tree_rss_mb(proc.pid)
            log(f"model in use {result.warm_s:.1f} s after launch; server RSS {result.rss_warm_mb:.0f} MB")
            result.page_problems = draw_every_page(browser, base, budget)
            time.sleep(0.5)
            result.rss_pages_mb = tree_rss_mb(proc.pid)
            result.libtorch_pages = libtorch_mapped(proc.pid)
            log(
                f"every page drawn once: server RSS {result.rss_pages_mb:.0f} MB, libtorch mapped: "
                f"{result.libtorch_pages}; problems: {result.page_problems or 'none'}"
            )
            for i in range(1, sessions + 1):
                if budget.left(1e9) < 2:
                    result.failures.append(f"time budget of {budget_s:g} s used up after {i - 1} sessions")
                    break
                s = Session(i, sentence_for(i), pieces(sentence_for(i)))
                result.sessions.append(s)
                open_session(browser, base, s, budget)
                s.rss_mb = tree_rss_mb(proc.pid)
                status = "ok" if s.ok else f"FAIL: {s.problem or s.exceptions or s.dialogs}"
                log(f"  session {i:>2}: {s.open_s:5.2f} s, RSS {s.rss_mb:6.0f} MB  {status}")
                if i in checkpoints:
                    time.sleep(0.5)  # let the last rerun's garbage go
                    rss = tree_rss_mb(proc.pid)
                    ok = sum(reread(x) for x in result.sessions)
                    cp = Checkpoint(i, rss, model_mappings(proc.pid), ok, len(result.sessions))
                    result.checkpoints.append(cp)
                    log(f"  checkpoint {i}: RSS {rss:.0f} MB, re-read {ok}/{cp.reread_total} sessions ok")
            result.tree_pids = process_tree(proc.pid)
            result.final_mappings = model_mappings(proc.pid)
            result.hwm_mb = hwm_mb(proc.pid)
        except Exception as e:
            result.failures.append(f"{type(e).__name__}: {e}")
        finally:
            if sampler is not None:
                sampler.halt()
                result.peak_mb = sampler.peak_mb
                result.max_mappings = sampler.max_mappings
                result.thread_names = sorted(sampler.names)
                result.max_threads = sampler.max_threads
            if server is not None:
                server.stop()
    with contextlib.suppress(OSError):
        result.log_errors = [
            line.strip()
            for line in log_path.read_text(errors="replace").splitlines()
            if "Traceback" in line or "Error" in line or "Exception" in line
        ][:10]
    for s in result.sessions:  # the objects are closed; do not keep them
        s.context = s.page = None
    result.wall_s = time.perf_counter() - t_start
    return result


# --- the report ------------------------------------------------------------------------------


def report(r: Result, sessions: int, out=print) -> None:
    out(
        f"\n{'session':<8}{'pieces':>7}{'open s':>8}{'own tokens':>12}{'max|row-1|':>12}{'exc':>5}{'dlg':>5}"
        f"{'RSS MB':>8}  sentence / problem"
    )
    for s in r.sessions:
        err = "—" if s.rowsum_err is None else f"{s.rowsum_err:.1e}"
        own = "yes" if s.shown == s.expected else "NO"
        note = s.sentence + (f"  FAIL: {s.problem}" if s.problem else "")
        if s.reread_failures:
            note += f"  RE-READ FAILED: {s.reread_failures[0]}"
        if s.page_errors:
            note += f"  (page errors: {len(s.page_errors)}: {s.page_errors[0][:80]})"
        out(
            f"{s.index:<8}{len(s.expected):>7}{(s.open_s or 0):>8.2f}{own:>12}{err:>12}{len(s.exceptions):>5}"
            f"{len(s.dialogs):>5}{(s.rss_mb or 0):>8.0f}  {note}"
        )
    out(f"\n{'open sessions':<15}{'server RSS MB':>14}{'Δ vs warm':>11}{'weights mapped':>16}{'re-read ok':>12}")
    if r.rss_warm_mb is not None:
        out(f"{'0 (warm)':<15}{r.rss_warm_mb:>14.0f}{0:>11.0f}{'':>16}{'':>12}")
    for c in r.checkpoints:
        delta = c.rss_mb - (r.rss_warm_mb or 0)
        out(f"{c.sessions:<15}{c.rss_mb:>14.0f}{delta:>+11.0f}{c.mappings:>15}x{f'{c.reread_ok}/{c.reread_total}':>12}")
    opened = [s for s in r.sessions if s.open_s is not None]
    if opened:
        times = sorted(s.open_s for s in opened)
        out(f"\nsession ready (goto -> own W shown): median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s")
    if len(r.checkpoints) >= 2:
        a, b = r.checkpoints[0], r.checkpoints[-1]
        per = (b.rss_mb - a.rss_mb) / max(1, b.sessions - a.sessions)
        out(
            f"RSS per extra session ({a.sessions} -> {b.sessions}): {per:+.1f} MB (one model copy is ~90 MB of weights)"
        )
    out(
        f"peak server RSS: {r.peak_mb:.0f} MB sampled every 0.1 s (VmHWM {r.hwm_mb:.0f} MB); "
        f"process tree: {len(r.tree_pids) or 1} process(es) {r.tree_pids}"
    )
    late_loading = sum(s.loading_seen for s in r.sessions)
    out(
        f"model loaded once per process: model.safetensors mapped {r.final_mappings}x at the end "
        f"(max {r.max_mappings}x at any 0.1 s sample); sessions that ever saw the loading notice or the "
        f"toy fallback after the warm-up: {late_loading}/{len(r.sessions)}"
    )
    minilm = [n for n in r.thread_names if n.startswith("minilm")]
    out(
        f"thread names seen in /proc/{r.server_pid}/task: {r.thread_names} (max {r.max_threads} threads); "
        + (
            f"loader threads named {minilm}"
            if minilm
            else "no thread named minilm_*: Python < 3.14 does not set OS thread names, so this proves nothing"
        )
    )
    if r.log_errors:
        out(f"server log lines with Error/Traceback ({len(r.log_errors)}): {r.log_errors[:3]}")
    ok_sessions = sum(s.ok for s in r.sessions)
    verdict_mem = "OK" if r.checkpoints and r.peak_mb <= MEMORY_TARGET_MB else "OVER TARGET"
    last = r.checkpoints[-1] if r.checkpoints else None
    out(
        f"\nsessions ok: {ok_sessions}/{sessions}; exceptions: {r.exceptions}; script dialogs: {r.dialogs}; "
        f"page errors: {sum(len(s.page_errors) for s in r.sessions)}"
    )
    if last:
        out(
            f"memory: {last.sessions} sessions {last.rss_mb:.0f} MB, peak {r.peak_mb:.0f} MB "
            f"({r.peak_mb * 1e6 / 2**20:.0f} MiB) -> {verdict_mem} (target <= {MEMORY_TARGET_MB:g} MB with "
            f"the model and {sessions} sessions)"
        )
    if r.rss_pages_mb is not None:
        ok = r.rss_pages_mb <= PAGES_TARGET_MB and not r.libtorch_pages
        out(
            f"every page drawn once: {r.rss_pages_mb:.0f} MB, libtorch mapped: {r.libtorch_pages} -> "
            f"{'OK' if ok else 'NOT MET'} (target <= {PAGES_TARGET_MB:g} MB, no libtorch)"
        )
    for f in r.failures:
        out(f"FAILURE: {f}")
    out(f"wall time {r.wall_s:.0f} s; server log: {OUT / 'sessions-server.log'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=30, help="browser sessions to open (default 30)")
    p.add_argument("--checkpoints", default="1,10,30", help="session counts at which to record RSS and re-read")
    p.add_argument("--budget", type=float, default=170.0, help="seconds for the whole run (default 170)")
    p.add_argument("--headed", action="store_true", help="show the browser")
    args = p.parse_args(argv)
    cps = tuple(int(c) for c in args.checkpoints.split(",") if c.strip())

    def on_term(signum, frame):  # let the finally blocks stop the browser and the server
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    print(f"bench_sessions: {PYTHON} -m streamlit run app.py; {os.cpu_count()} CPUs; {args.sessions} sessions")
    result = run(args.sessions, cps, args.budget, headless=not args.headed)
    report(result, args.sessions)
    ok_sessions = sum(s.ok for s in result.sessions)
    last = result.checkpoints[-1] if result.checkpoints else None
    record(
        "bench_sessions.py",
        f"One server, {args.sessions} browser sessions each with its own sentence",
        f"{ok_sessions}/{args.sessions} correct, {result.exceptions} exceptions, {result.dialogs} dialogs; RSS "
        + (f"{last.rss_mb:.0f} MB at {last.sessions} sessions, " if last else "")
        + f"peak **{result.peak_mb:.0f} MB**; weights mapped {result.final_mappings}×",
        f"≤ {MEMORY_TARGET_MB:g} MB; all correct",
        met=ok_sessions == args.sessions and result.peak_mb <= MEMORY_TARGET_MB,
        peak_mb=result.peak_mb,
        sessions_ok=ok_sessions,
    )
    if result.rss_pages_mb is not None:
        record(
            "bench_sessions.py",
            "One server that has drawn every page once (model served through NumPy)",
            f"RSS **{result.rss_pages_mb:.0f} MB**; libtorch mapped: {'yes' if result.libtorch_pages else 'no'}"
            + (f"; {len(result.page_problems)} page problem(s)" if result.page_problems else ""),
            f"≤ {PAGES_TARGET_MB:g} MB, no libtorch",
            met=result.rss_pages_mb <= PAGES_TARGET_MB and not result.libtorch_pages and not result.page_problems,
            rss_mb=result.rss_pages_mb,
            libtorch=bool(result.libtorch_pages),
        )
    return 0 if result.ok and len(result.sessions) == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
