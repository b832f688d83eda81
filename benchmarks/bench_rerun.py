"""Rerun time of the app's pages under AppTest, against a bare one-heatmap app at the same n.

    .venv/bin/python benchmarks/bench_rerun.py [--reps 20] [--warmup 3] [--only step] [--profile step-128]

Cases: the step page after a new sentence, the learned page after switching layer/head, the
geometry page after moving the temperature slider, the Query, key, value page and the Query/key space
page (PCA, its corpus fitted once per head) after a new sentence, each against the minimal app at the same n.

Each case is an AppTest kept alive for the whole run. Before every timed rerun the case makes a
change never seen before (a new sentence, ...), so no st.cache_data entry can hide the work; then
`at.run()` is timed with the wall clock. The cases run interleaved (every repetition runs each case
once, in a shuffled order) so that a noisy neighbour slows them alike, and the ratios are taken
within this run. The MiniLM model is warm before any timing.

To add a case (a page, a widget to move), append a Case to `cases()`: `change(at, ctx)` makes the
i-th never-seen change, `check(at, ctx)` asserts the rerun showed it (not timed), `baseline` names
the case it is compared against and `target` the largest acceptable ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
    os.environ.setdefault(_var, "1")

import streamlit.logger  # noqa: E402
from results import record  # noqa: E402
from streamlit.runtime.pages_manager import PagesManager  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from streamlit.testing.v1.local_script_runner import LocalScriptRunner  # noqa: E402

REAL_APP = ROOT / "app.py"
MINIMAL_APP = ROOT / "benchmarks" / "minimal_app.py"
STEP_PAGE = "pages/1_Step_by_step.py"
LEARNED_PAGE = "pages/2_Unparameterised_vs_learned.py"
GEOMETRY_PAGE = "pages/3_Geometry.py"
QKV_PAGE = "pages/4_Query_key_value.py"
QKSPACE_PAGE = "pages/8_Query_key_space.py"
HEADS_PAGE = "pages/10_Heads.py"
OUT = ROOT / "benchmarks" / "out"
TIMEOUT = 120.0


# --- fresh inputs ----------------------------------------------------------------------------


class Context:
    """What change/check callbacks share: the warm model and never-repeated sentences."""

    def __init__(self, minilm, seed: int = 0):
        self.minilm = minilm
        self.rng = random.Random(seed)
        self.seen: set[str] = set()
        self.words = self._single_piece_words()
        self.last: dict[int, str] = {}  # id(at) -> the sentence it was last given
        self.counter: dict[int, int] = {}  # id(at) -> how many changes it has had

    def _single_piece_words(self) -> list[str]:
        """Common lowercase words that MiniLM reads as exactly one word piece."""
        vocab = self.minilm.tokenizer.get_vocab()  # the served (tokenizers) and the reference's alike
        words = sorted(w for w, i in vocab.items() if 2000 <= i < 12000 and w.isascii() and w.isalpha())
        return [w for w in words if len(w) >= 3 and self.minilm.tokenize(w).tokens[1:-1] == (w,)]

    def pieces(self, text: str) -> tuple[str, ...]:
        """The tokens the app shows by default ([CLS]/[SEP] hidden)."""
        return self.minilm.static(text).without_special().tokens

    def sentence(self, n: int) -> str:
        """A sentence never returned before whose default token count is exactly n."""
        while True:
            text = " ".join(self.rng.choice(self.words) for _ in range(n))
            if text not in self.seen and len(self.pieces(text)) == n and len(text.split()) == n:
                self.seen.add(text)
                return text


# --- cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    app: Path
    page: str | None  # switched to after the first run; None stays on the entry page
    n: int
    change: Callable[[AppTest, Context], None]  # make a never-seen change before the timed rerun
    check: Callable[[AppTest, Context], None]  # assert the rerun showed that change (not timed)
    baseline: str | None = None  # the case name this one is compared against
    target: float | None = None  # largest acceptable median ratio to the baseline
    times: list[float] = field(default_factory=list)  # seconds
    at: AppTest | None = None


def set_sentence(n: int) -> Callable[[AppTest, Context], None]:
    def change(at: AppTest, ctx: Context) -> None:
        text = ctx.sentence(n)
        ctx.last[id(at)] = text
        at.sidebar.text_input[0].set_value(text)

    return change


def check_step(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        shown = at.text[0].value.split(" | ")
        assert shown == list(ctx.pieces(ctx.last[id(at)])), (shown, ctx.last[id(at)])
        assert len(shown) == n, len(shown)
        assert any("from MiniLM static" in c.value for c in at.caption), "not model-backed"
        assert not any("toy 2-D embeddings until" in c.value for c in at.caption), "toy fallback"

    return check


def check_minimal(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        assert at.sidebar.text_input[0].value == ctx.last[id(at)]
        spec = at.get("plotly_chart")[0].proto.spec
        assert spec.count(" #") >= 2 * n, "heatmap labels missing"  # x and y: "word #i"
        assert f" #{n}" in spec and f" #{n + 1}" not in spec

    return check


def check_qkv(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        assert any(f"{n + 2} word pieces, [CLS] and [SEP] included" in c.value for c in at.caption), "pieces"
        spec = next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-qkv_scores"))
        last = ctx.pieces(ctx.last[id(at)])[-1]
        assert f'"{last}' in spec, "the new sentence's pieces are not in S and W"
        assert any(c.proto.id.endswith("-qkv_follow") for c in at.get("plotly_chart")), "the walk stops early"

    return check


def check_qkspace(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        assert any(f"the {n} pieces of your sentence" in c.value for c in at.caption), "pieces"
        spec = next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-qks_plane"))
        last = ctx.pieces(ctx.last[id(at)])[-1]
        assert f'"{last}' in spec and '"your queries"' in spec, "the new sentence's points are not in the plane"

    return check


def switch_head(n: int, layer_key: str = "learned_layer", head_key: str = "learned_head"):
    """On a page with a layer and a head box (sentence of n pieces, set once): choose the next (layer, head),
    as the learned page's boxes or a click on the Heads page's grid does."""

    def change(at: AppTest, ctx: Context) -> None:
        if id(at) not in ctx.last:
            ctx.last[id(at)] = ctx.sentence(n)
            at.sidebar.text_input[0].set_value(ctx.last[id(at)]).run(timeout=TIMEOUT)
        k = ctx.counter[id(at)] = ctx.counter.get(id(at), 0) + 1
        at.number_input(key=layer_key).set_value(k // 12 % 6)
        at.number_input(key=head_key).set_value(k % 12)

    return change


def check_learned(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        k = ctx.counter[id(at)]
        assert any(f"Layer {k // 12 % 6}, head {k % 12}" in c.value for c in at.caption), "head not shown"
        spec = next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith("-learned_right"))
        assert spec.count('"y":[') >= 1 and len(ctx.pieces(ctx.last[id(at)])) == n

    return check


def check_heads(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        k = ctx.counter[id(at)]
        assert any(c.value.startswith(f"Layer {k // 12 % 6}, head {k % 12}'s W") for c in at.caption), "head not shown"
        assert any(c.proto.id.endswith("-heads_pattern") for c in at.get("plotly_chart"))

    return check


def move_temperature(n: int) -> Callable[[AppTest, Context], None]:
    """On the geometry page (sentence of n pieces, set once): move the temperature slider."""

    def change(at: AppTest, ctx: Context) -> None:
        if id(at) not in ctx.last:
            ctx.last[id(at)] = ctx.sentence(n)
            at.sidebar.text_input[0].set_value(ctx.last[id(at)]).run(timeout=TIMEOUT)
        k = ctx.counter[id(at)] = ctx.counter.get(id(at), 0) + 1
        at.sidebar.slider[0].set_value(round(0.1 + 0.05 * (k % 90), 2))

    return change


def check_geometry(n: int) -> Callable[[AppTest, Context], None]:
    def check(at: AppTest, ctx: Context) -> None:
        _no_exception(at)
        k = ctx.counter[id(at)]
        assert at.query_params["t"] == str(round(0.1 + 0.05 * (k % 90), 2)), at.query_params["t"]
        assert any(c.proto.id.endswith("-geo_picture") for c in at.get("plotly_chart"))

    return check


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def cases() -> list[Case]:
    out = []
    for n in (6, 128):
        out.append(Case(f"minimal-{n}", MINIMAL_APP, None, n, set_sentence(n), check_minimal(n)))
        out.append(
            Case(
                f"step-{n}",
                REAL_APP,
                STEP_PAGE,
                n,
                set_sentence(n),
                check_step(n),
                baseline=f"minimal-{n}",
                target=3.0,
            )
        )
        out.append(
            Case(f"learned-{n}", REAL_APP, LEARNED_PAGE, n, switch_head(n), check_learned(n), f"minimal-{n}", 3.0)
        )
        out.append(
            Case(
                f"geometry-{n}", REAL_APP, GEOMETRY_PAGE, n, move_temperature(n), check_geometry(n), f"minimal-{n}", 3.0
            )
        )
        out.append(Case(f"qkv-{n}", REAL_APP, QKV_PAGE, n, set_sentence(n), check_qkv(n), f"minimal-{n}", 3.0))
        out.append(
            Case(f"qkspace-{n}", REAL_APP, QKSPACE_PAGE, n, set_sentence(n), check_qkspace(n), f"minimal-{n}", 3.0)
        )
        out.append(
            Case(
                f"heads-{n}",
                REAL_APP,
                HEADS_PAGE,
                n,
                switch_head(n, "_w_heads_layer", "_w_heads_head"),
                check_heads(n),
                f"minimal-{n}",
                3.0,
            )
        )
    return out


# --- running ---------------------------------------------------------------------------------


def run(at: AppTest) -> AppTest:
    # The flag is class-level and set once from the first app that runs; reset it so the real app
    # runs with its pages/ folder and the minimal app without (AppTest 1.67 also resets it itself).
    PagesManager.uses_pages_directory = None
    return at.run(timeout=TIMEOUT)


def start(case: Case) -> AppTest:
    PagesManager.uses_pages_directory = None
    at = AppTest.from_file(case.app, default_timeout=TIMEOUT)
    run(at)
    _no_exception(at)
    if case.page:
        at.switch_page(case.page)
        run(at)
        _no_exception(at)
    return at


def warm_model():
    """Start the app's model future (st.cache_resource, per process) and the corpus job; wait for both."""
    from attnviz import ui

    t0 = time.perf_counter()
    minilm = ui.model_future().result()
    ui.qk_corpus(minilm).future.result()  # the Query/key space page's corpus: once per server, before any timing
    ui.heads_job(minilm).importance.result()  # the Heads page's census and importance, likewise
    return minilm, time.perf_counter() - t0


def timed(case: Case, ctx: Context) -> float:
    case.change(case.at, ctx)
    t0 = time.perf_counter()
    run(case.at)
    dt = time.perf_counter() - t0
    case.check(case.at, ctx)
    return dt


def profile(case: Case, ctx: Context, reps: int, top: int) -> None:
    """cProfile `reps` reruns of a case: the script thread and the AppTest (main) thread, merged."""
    script_prof = cProfile.Profile()
    original = LocalScriptRunner._run_script_thread

    def profiled(self):
        script_prof.enable()
        try:
            original(self)
        finally:
            script_prof.disable()

    main_prof = cProfile.Profile()
    LocalScriptRunner._run_script_thread = profiled
    try:
        for _ in range(reps):
            case.change(case.at, ctx)
            main_prof.enable()
            run(case.at)
            main_prof.disable()
            case.check(case.at, ctx)
    finally:
        LocalScriptRunner._run_script_thread = original
    OUT.mkdir(parents=True, exist_ok=True)
    for label, prof in (("script thread", script_prof), ("AppTest main thread", main_prof)):
        path = OUT / f"profile-{case.name}-{label.split()[0].lower()}.prof"
        prof.dump_stats(path)
        for sort in ("cumulative", "tottime"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
            body = buf.getvalue()
            body = body[body.find("   ncalls") :] if "   ncalls" in body else body
            print(f"\n--- profile of {reps} reruns of {case.name}: {label}, by {sort} ({path.name}) ---")
            print(body.rstrip())


def summary(cases_: list[Case]) -> None:
    by_name = {c.name: c for c in cases_}
    print(f"\n{'case':<14}{'n':>5}{'reps':>6}{'median ms':>11}{'p25':>9}{'p75':>9}{'min':>9}")
    for c in cases_:
        ms = sorted(t * 1e3 for t in c.times)
        q = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) >= 2 else [ms[0]] * 3
        print(f"{c.name:<14}{c.n:>5}{len(ms):>6}{statistics.median(ms):>11.1f}{q[0]:>9.1f}{q[2]:>9.1f}{ms[0]:>9.1f}")
    print()
    for c in cases_:
        if not c.baseline or c.baseline not in by_name:
            continue
        base = by_name[c.baseline]
        ratio = statistics.median(c.times) / statistics.median(base.times)
        verdict = "" if c.target is None else ("  OK" if ratio <= c.target else "  OVER TARGET")
        target = "" if c.target is None else f" (target <= {c.target:g}x)"
        print(f"{c.name} / {base.name}: {ratio:.2f}x{target}{verdict}")
        a, b = statistics.median(c.times) * 1e3, statistics.median(base.times) * 1e3
        record(
            "bench_rerun.py",
            f"AppTest rerun: {c.name} ({c.n} pieces) vs {base.name}",
            f"{a:.1f} vs {b:.1f} ms (**{ratio:.2f}×**)",
            "" if c.target is None else f"≤ {c.target:g}×",
            met=None if c.target is None else ratio <= c.target,
            ratio=ratio,
            median_ms=a,
            baseline_ms=b,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=20, help="timed reruns per case (default 20; use >= 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed reruns per case first (default 3)")
    p.add_argument("--only", default="", help="comma-separated name prefixes; baselines are kept")
    p.add_argument("--profile", default="", help="after timing, cProfile this case (e.g. step-128)")
    p.add_argument("--profile-reps", type=int, default=10)
    p.add_argument("--top", type=int, default=25, help="rows of each profile listing")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    streamlit.logger.set_log_level("error")  # "No runtime found" (the model future, outside a run)
    # AppTest's config patching restores the log level; this one warns from the main thread at start.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").disabled = True

    all_cases = cases()
    if args.only:
        prefixes = tuple(args.only.split(","))
        wanted = {c.name for c in all_cases if c.name.startswith(prefixes)}
        wanted |= {c.baseline for c in all_cases if c.name in wanted and c.baseline}
        all_cases = [c for c in all_cases if c.name in wanted]

    import platform

    import plotly

    print(
        f"bench_rerun: Python {platform.python_version()}, streamlit {streamlit.__version__}, "
        f"plotly {plotly.__version__}, {os.cpu_count()} CPUs, reps={args.reps}, warmup={args.warmup}"
    )
    minilm, waited = warm_model()
    print(f"MiniLM warm (waited {waited:.1f} s for the background load)")
    ctx = Context(minilm, seed=args.seed)

    for c in all_cases:
        c.at = start(c)
    for _ in range(args.warmup):
        for c in all_cases:
            timed(c, ctx)  # each warm-up rerun is checked too: a wrong page fails before timing
    order = list(all_cases)
    shuffle = random.Random(args.seed)
    for _ in range(args.reps):
        shuffle.shuffle(order)
        for c in order:
            c.times.append(timed(c, ctx))
    summary(all_cases)

    if args.profile:
        target = next((c for c in all_cases if c.name == args.profile), None)
        if target is None:
            p.error(f"--profile: no case {args.profile!r} among {[c.name for c in all_cases]}")
        profile(target, ctx, args.profile_reps, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
