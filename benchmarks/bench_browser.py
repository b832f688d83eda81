"""Enter -> updated heatmap in Chromium: the step page's W against the bare one-heatmap app, at n = 6 and 128.

    .venv/bin/python benchmarks/bench_browser.py [--reps 20] [--warmup 3] [--seed 0]

Two servers in the same run, both `<venv python> -m streamlit run ...` with cwd = the repo root (so both
get .streamlit/config.toml): the real app (`app.py`, page /Step_by_step, the W heatmap `step_weights`)
and `benchmarks/minimal_app.py` (its one heatmap `minimal`). Four cases, each its own browser context
(its own Streamlit session) kept open for the whole run: step-6, step-128, minimal-6, minimal-128, where
n is the number of MiniLM word pieces the step page shows ([CLS]/[SEP] hidden); sentences come from
bench_rerun's Context (random single-piece words, never the same sentence twice), so no cache can
answer and the minimal app also gets n words.

One timed repetition of a case, all measured inside the page with performance.now():
  1. (untimed) Playwright fills the "Sentence" box with a new sentence and arms the in-page timer;
  2. Playwright presses Enter; a capturing keydown listener takes t0 when the page receives it;
  3. a MutationObserver on the document (plus requestAnimationFrame polling as a fallback) checks, on
     every DOM change, whether the target heatmap's `gd.data[0].y` now holds exactly the new labels;
     the first time it does is t1. Reported: t1 - t0.
  4. (untimed) wait until the script finished and nothing is stale, then check: the heatmap shows the
     new tokens on both axes, rows sum to 1, no exception, no dialog, and (step page) the model is in use.
Cases are interleaved (every repetition runs each case once, shuffled); --warmup repetitions first.
Printed: median/p25/p75/min/max per case and the ratio step / minimal at each n (target <= 1.5x).

Also printed, once: seconds from launching the real server to its first model-backed W heatmap on the
step page (one launch, the browser already open; bench_launch.py measures launches properly, >= 3).
`--variant OPTIONS` adds a third server, the real app with extra `streamlit run` options, and its step
cases (step-6+var, step-128+var), interleaved with the rest and compared with the plain step page in the
same run. Server logs: benchmarks/out/browser-{app,minimal,variant}.log.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import signal
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

from attnviz_harness import (  # noqa: E402
    SERVER_PYTHON,
    VIEWPORT,
    chromium,
    expected_pieces,
    start_server,
    time_enter,
    url_for,
    wait_for_chart,
    watch,
)
from results import record  # noqa: E402

OUT = HERE / "out"
PYTHON = SERVER_PYTHON
TARGET = 1.5
UPDATE_WAIT_S = 30.0
LAUNCH_SENTENCE = "hi how are you"


@dataclass
class Case:
    name: str
    server: str  # "app", "minimal" or "variant" (the real app with --variant's options)
    path: str
    key: str  # the heatmap's element key
    index: int  # its position among the page's plotly charts, if the key is missing
    n: int
    baseline: str | None = None  # compared against, with TARGET
    marks: dict[str, str] = field(default_factory=dict)  # other charts timed too: name -> element key
    also: str | None = None  # also compared against (no target): the plain step case for a variant
    times: list[float] = field(default_factory=list)  # ms, in the page
    mark_times: list[dict[str, float]] = field(default_factory=list)
    vias: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    page: object = None
    context: object = None
    current: str = ""


def cases(variant: bool = False) -> list[Case]:
    out = []
    for n in (6, 128):
        out.append(Case(f"minimal-{n}", "minimal", "/", "minimal", 0, n))
        marks = {"X": "step_x", "W*": "step_scores"}  # the charts drawn before W on the step page
        out.append(Case(f"step-{n}", "app", "/Step_by_step", "step_weights", 2, n, f"minimal-{n}", marks))
        if variant:
            out.append(
                Case(
                    f"step-{n}+var",
                    "variant",
                    "/Step_by_step",
                    "step_weights",
                    2,
                    n,
                    f"minimal-{n}",
                    marks,
                    f"step-{n}",
                )
            )
    return out


def labels_for(case: Case, text: str, ctx) -> list[str]:
    """The heatmap's y labels, exactly as the page's data holds them."""
    if case.server == "minimal":
        return [f"{w} #{i + 1}" for i, w in enumerate(text.split())]
    from attnviz.figures import token_labels

    return list(token_labels(ctx.pieces(text)))


def settle(case: Case, want: list[str], *, model: bool, timeout: float = UPDATE_WAIT_S) -> dict:
    """Wait until the page finished its run and the heatmap shows `want`; raise with what was seen."""
    state, why = wait_for_chart(case.page, case.key, want, index=case.index, timeout=timeout, model=model)
    if why:
        raise AssertionError(f"{case.name}: the heatmap never showed {want[:10]}...: {why}")
    return state


def open_case(browser, case: Case, base: str, text: str, want: list[str], timeout: float) -> None:
    case.context = browser.new_context(viewport=VIEWPORT)
    case.page = page = case.context.new_page()
    watch(page, case.dialogs, case.page_errors)
    page.set_default_timeout(UPDATE_WAIT_S * 1000)
    page.goto(url_for(base, case.path, s=text))
    settle(case, want, model=case.server != "minimal", timeout=timeout)
    case.current = text


def timed(case: Case, ctx) -> float:
    """One Enter -> heatmap, in ms measured by the page; checked afterwards (not timed)."""
    text = ctx.sentence(case.n)
    want = labels_for(case, text, ctx)
    assert len(want) == case.n, (case.name, len(want))
    w = time_enter(case.page, text, case.key, want, marks=case.marks, timeout=UPDATE_WAIT_S)
    settle(case, want, model=case.server != "minimal")
    case.current = text
    case.vias.append(w["via"])
    case.mark_times.append({**w["marks"], "W": w["ms"]})
    return w["ms"]


def summary(all_cases: list[Case], out=print) -> None:
    by_name = {c.name: c for c in all_cases}
    out(f"\n{'case':<14}{'n':>5}{'reps':>6}{'median ms':>11}{'p25':>9}{'p75':>9}{'min':>9}{'max':>9}")
    for c in all_cases:
        ms = sorted(c.times)
        q = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) >= 2 else [ms[0]] * 3
        out(
            f"{c.name:<14}{c.n:>5}{len(ms):>6}{statistics.median(ms):>11.1f}{q[0]:>9.1f}{q[2]:>9.1f}"
            f"{ms[0]:>9.1f}{ms[-1]:>9.1f}"
        )
    out("")
    for c in all_cases:
        if c.baseline and c.baseline in by_name:
            base = by_name[c.baseline]
            ratio = statistics.median(c.times) / statistics.median(base.times)
            verdict = "OK" if ratio <= TARGET else "OVER TARGET"
            out(f"{c.name} / {base.name}: {ratio:.2f}x (target <= {TARGET:g}x)  {verdict}")
        if c.also and c.also in by_name:
            ratio = statistics.median(c.times) / statistics.median(by_name[c.also].times)
            out(f"{c.name} / {c.also}: {ratio:.2f}x")
    out("\nbreakdown (median ms after Enter, timed repetitions): when the script started running (the first")
    out("message back from the server), when each heatmap first showed the new labels")
    for c in all_cases:
        names = ["running", *c.marks, "W" if c.marks else "heatmap"]
        parts = []
        for name in names:
            vals = [m.get("W" if name == "heatmap" else name) for m in c.mark_times[-len(c.times) :]]
            vals = [v for v in vals if v is not None]
            parts.append(f"{name} {statistics.median(vals):.0f}" if vals else f"{name} —")
        out(f"  {c.name:<12} " + ", ".join(parts))


def load_model():
    """The model in this process, for Context (sentences of exactly n pieces); loaded in a thread."""
    box: dict = {}

    def work():
        try:
            from attnviz.model.minilm import load_minilm

            box["model"] = load_minilm()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=work, name="bench-minilm", daemon=True)
    t.start()

    def result():
        t.join()
        if "error" in box:
            raise box["error"]
        return box["model"]

    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=20, help="timed repetitions per case (default 20; use >= 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed repetitions per case first (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=900.0, help="seconds for the whole run before giving up")
    p.add_argument(
        "--server-options",
        default="",
        metavar="OPTIONS",
        help="extra `streamlit run` options for both servers, e.g. --server-options='--runner.postScriptGC false'",
    )
    p.add_argument(
        "--variant",
        default="",
        metavar="OPTIONS",
        help="also run the real app as a third server with these extra `streamlit run` options; its step cases "
        "(step-N+var) are interleaved with the others and compared with the plain step page, "
        "e.g. --variant='--runner.postScriptGC false'",
    )
    args = p.parse_args(argv)
    extra = tuple(shlex.split(args.server_options))
    variant = tuple(shlex.split(args.variant))

    def on_term(signum, frame):  # let the finally blocks stop the browser and the servers
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    from bench_rerun import Context

    print(
        f"bench_browser: {PYTHON}; {os.cpu_count()} CPUs; reps={args.reps}, warmup={args.warmup}"
        + (f"; server options {list(extra)}" if extra else "")
        + (f"; variant (step-N+var): the real app with {list(variant)}" if variant else "")
    )
    end = time.monotonic() + args.budget  # the whole run's time budget
    left = lambda cap: max(0.0, min(cap, end - time.monotonic()))  # noqa: E731
    all_cases = cases(bool(variant))
    by_name = {c.name: c for c in all_cases}
    servers = []
    failures: list[str] = []
    with chromium() as browser:
        try:
            # The real server first, alone: launch -> first model-backed W heatmap on the step page.
            first = by_name["step-6"]
            t0 = time.perf_counter()
            server = start_server(OUT / "browser-app.log", "app.py", extra=extra, python=PYTHON, timeout=left(60))
            servers.append(server)
            want = list(expected_pieces()(LAUNCH_SENTENCE))
            open_case(browser, first, server.url, LAUNCH_SENTENCE, want, timeout=left(120))
            launch_s = time.perf_counter() - t0
            print(
                f"real app: launch -> healthy {server.start_s:.1f} s, -> first model-backed W on the step page "
                f"{launch_s:.1f} s (one launch; see bench_launch.py for medians)"
            )
            model = load_model()
            minimal = start_server(
                OUT / "browser-minimal.log", "benchmarks/minimal_app.py", extra=extra, python=PYTHON, timeout=left(60)
            )
            servers.append(minimal)
            urls = {"app": server.url, "minimal": minimal.url}
            if variant:
                var = start_server(
                    OUT / "browser-variant.log", "app.py", extra=extra + variant, python=PYTHON, timeout=left(60)
                )
                servers.append(var)
                urls["variant"] = var.url
            ctx = Context(model(), seed=args.seed)
            for c in all_cases:
                if c.page is None:
                    text = ctx.sentence(c.n)
                    url = urls[c.server]
                    open_case(browser, c, url, text, labels_for(c, text, ctx), timeout=left(60))
            for _ in range(args.warmup):
                for c in all_cases:
                    timed(c, ctx)  # checked like the timed ones
            order = list(all_cases)
            shuffle = random.Random(args.seed)
            for rep in range(args.reps):
                if left(1e9) <= 0:
                    failures.append(f"time budget used up after {rep} repetitions")
                    break
                shuffle.shuffle(order)
                for c in order:
                    c.times.append(timed(c, ctx))
        except Exception as e:
            failures.append(f"{type(e).__name__}: {e}")
        finally:
            for server in servers:
                server.stop()

    if all(c.times for c in all_cases):
        summary(all_cases)
        for c in all_cases:
            if c.baseline and c.baseline in by_name:
                a, b = statistics.median(c.times), statistics.median(by_name[c.baseline].times)
                record(
                    "bench_browser.py",
                    f"Browser, Enter → updated W: {c.name} ({c.n} pieces) vs {c.baseline}",
                    f"{a:.0f} vs {b:.0f} ms (**{a / b:.2f}×**)",
                    f"≤ {TARGET:g}×",
                    met=a / b <= TARGET,
                    ratio=a / b,
                )
        vias = [v for c in all_cases for v in c.vias]
        print(
            f"t1 taken by: {vias.count('mutation')} MutationObserver callbacks, {vias.count('frame')} animation frames"
        )
    dialogs = sum(len(c.dialogs) for c in all_cases)
    errors = sum(len(c.page_errors) for c in all_cases)
    print(f"script dialogs: {dialogs}; page errors: {errors}")
    for c in all_cases:
        for e in c.page_errors[:2]:
            print(f"  page error on {c.name}: {e[:200]}")
    for f in failures:
        print(f"FAILURE: {f}")
    return 1 if failures or dialogs else 0


if __name__ == "__main__":
    sys.exit(main())
