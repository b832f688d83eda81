"""From `streamlit run app.py` to the first chart and to the model-backed heatmap, in Chromium.

    .venv/bin/python benchmarks/bench_launch.py [--launches 5] [--timeout 60]
        [--variant='--server.fileWatcherType none' ...]   # also try `streamlit run` options, interleaved

Like `make run` where the venv exists: Chromium is started first (the user's browser is already
open); then the clock starts, the server is launched (`<venv python> -m streamlit run app.py`, cwd =
the repo root, HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1) and a fresh browser context (cold cache)
opens http://127.0.0.1:PORT/, retrying until the server answers. The page is then polled every
~50 ms. Each launch records, in seconds since the server was launched:

  answered   the server answered the browser's first request
  title      the home page's title is shown (the script has run once)
  chart      the first Plotly chart is drawn (the "first page rendered")
  loading@   whether the "Loading the MiniLM model" info was visible at that moment
  model      the home heatmap is model-backed: no loading info, no toy caption, labels hi/how/are/you,
             and its numbers equal W from `python -m attnviz "hi how are you" --json --no-special`
             (computed once before the launches; the toy embeddings give the same labels but other
             numbers, so equal numbers mean the page reran with the model)
  plotly.js  when the browser finished downloading Streamlit's PlotlyChart chunk
  srv CPU    CPU seconds the server process had used when the launch ended (at "model")

Each server is stopped by its process group; its log goes to benchmarks/out/launch-<i>.log.
Targets: the first chart before the model has loaded (loading@ = yes), the model heatmap within 10 s.

The old path is launched too, interleaved: the same server with ATTNVIZ_BACKEND=torch, which serves
the model through sentence-transformers (torch) as before issue 10. Target: the model heatmap (served
through NumPy) within 0.25x the old path's, medians of the same run.

The floor is launched too, interleaved: benchmarks/minimal_app.py (a bare Streamlit app with one
Plotly heatmap, no model) by the same command; its 'model' column is its first drawn chart. No page
served by `streamlit run` in a cold browser draws a chart sooner, so floor / old path bounds the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from attnviz_harness import ENV, SERVER_PYTHON, chromium, free_port, stop, streamlit_command  # noqa: E402
from results import record  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
PYTHON = SERVER_PYTHON  # the server `make run` starts
SENTENCE = "hi how are you"
MODEL_TARGET_S = 10.0
OLD_PATH = "old path (ATTNVIZ_BACKEND=torch)"  # the model through sentence-transformers, as before
OLD_RATIO_TARGET = 0.25
# The floor: a bare Streamlit app with one Plotly heatmap and nothing else (no model, no attnviz),
# launched the same way. No app served by `streamlit run` can draw its first chart sooner.
FLOOR = "floor: bare one-heatmap app (benchmarks/minimal_app.py)"
MINIMAL_APP = "benchmarks/minimal_app.py"

# One snapshot of the page, taken in the browser so that all fields describe the same moment.
SNAPSHOT_JS = """() => {
  const text = document.body ? document.body.innerText : "";
  const h1 = document.querySelector("h1");
  const el = document.querySelector('[data-testid="stPlotlyChart"]');
  const gd = el && el.querySelector(".js-plotly-plot");
  const drawn = !!(gd && gd._fullData && gd._fullData.length && el.querySelector(".main-svg")
                   && el.getBoundingClientRect().height > 0);
  const trace = drawn ? gd._fullData[0] : null;
  return {
    title: !!(h1 && h1.innerText.includes("attnviz")),
    chart: drawn,
    loading: text.includes("Loading the MiniLM model"),
    toy: text.includes("toy 2-D embeddings until"),
    exception: (document.querySelector('[data-testid="stException"]') || {}).innerText || "",
    x: trace && trace.x ? Array.from(trace.x) : null,
    z: trace && trace.z ? Array.from(trace.z, (row) => Array.from(row)) : null,
  };
}"""


@dataclass
class Launch:
    answered: float | None = None
    title: float | None = None
    chart: float | None = None
    loading_at_chart: bool | None = None
    toy_at_chart: bool | None = None
    loading_seen: bool = False
    model: float | None = None
    plotly_js: float | None = None
    exception: str = ""
    server_cpu: float | None = None  # the server process's CPU seconds (user + system) at the end
    note: str = ""


def expected_weights(timeout: float) -> tuple[list[str], list[list[float]]] | None:
    """W for the sentence with the app's defaults, from the package's CLI (not timed)."""
    cmd = [str(PYTHON), "-m", "attnviz", SENTENCE, "--json", "--no-special"]
    try:
        out = subprocess.run(
            cmd,
            cwd=ROOT,
            env={**os.environ, **ENV},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        data = json.loads(out.stdout)
        return list(data["tokens"]), data["weights"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        print(f"(could not get the model's W from the CLI: {e}; 'model' falls back to the notices alone)")
        return None


def matches(z, want, tol: float = 1e-6) -> bool:
    if z is None or len(z) != len(want):
        return False
    return all(len(r) == len(w) and all(abs(a - b) <= tol for a, b in zip(r, w)) for r, w in zip(z, want))


def cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a live process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def launch_once(browser, i: int, expected, timeout: float, server_args: list[str], app: str = "app.py") -> Launch:
    """One server start, measured from the browser; the server is stopped before returning.

    app: the script to launch; for the bare one-heatmap app (FLOOR) 'model' is its first drawn chart."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # as `make run` (usage statistics off: else the page fetches a metrics URL)
    cmd = streamlit_command(app, port, python=PYTHON, extra=server_args)
    floor = app != "app.py"
    OUT.mkdir(parents=True, exist_ok=True)
    log = open(OUT / f"launch-{i}.log", "w")  # noqa: SIM115 - closed in finally
    r = Launch()
    context = browser.new_context()  # a fresh profile: nothing cached from an earlier launch
    page = context.new_page()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    now = lambda: time.perf_counter() - t0  # noqa: E731

    def finished(req):
        if "PlotlyChart" in req.url and r.plotly_js is None:
            r.plotly_js = now()

    page.on("requestfinished", finished)
    try:
        while r.answered is None:
            if now() > timeout:
                r.note = "server never answered"
                return r
            if proc.poll() is not None:
                r.note = f"server exited with {proc.returncode}"
                return r
            try:
                page.goto(url, wait_until="commit", timeout=2000)
                r.answered = now()
            except Exception:  # connection refused while the server starts
                time.sleep(0.05)
        while now() < timeout:
            try:
                s = page.evaluate(SNAPSHOT_JS)
            except Exception:  # the page navigated or reloaded mid-call: take the next snapshot
                time.sleep(0.05)
                continue
            t = now()
            r.exception = r.exception or " ".join(s["exception"].split())[:160]
            r.loading_seen |= s["loading"]
            if r.title is None and s["title"]:
                r.title = t
            if r.chart is None and s["chart"]:
                r.chart, r.loading_at_chart, r.toy_at_chart = t, s["loading"], s["toy"]
                if floor:  # no model, no title of ours: the first chart is all it draws
                    r.model = t
                    return r
            if (
                s["chart"]
                and not s["loading"]
                and not s["toy"]
                and s["x"] == (expected[0] if expected else SENTENCE.split())
                and (expected is None or matches(s["z"], expected[1]))
            ):
                r.model = t
                return r
            time.sleep(0.05)
        r.note = "timed out before the model heatmap"
        return r
    finally:
        r.server_cpu = cpu_seconds(proc.pid)
        context.close()
        stop(proc)
        log.close()


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:.2f}"


def med(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarise(label: str, rows: list[Launch]) -> None:
    print(f"\n{label}: seconds since the server was launched")
    header = f"{'launch':<8}{'answered':>9}{'title':>8}{'chart':>8}{'loading@':>10}{'model':>8}"
    header += f"{'plotly.js':>11}{'srv CPU':>9}  note"
    print(header)
    for i, r in enumerate(rows, 1):
        note = r.note + (f" EXCEPTION SHOWN: {r.exception}" if r.exception else "")
        print(
            f"{i:<8}{fmt(r.answered):>9}{fmt(r.title):>8}{fmt(r.chart):>8}{fmt(r.loading_at_chart):>10}"
            f"{fmt(r.model):>8}{fmt(r.plotly_js):>11}{fmt(r.server_cpu):>9}  {note}"
        )
    loading = [r.loading_at_chart for r in rows if r.loading_at_chart is not None]
    print(
        f"{'median':<8}{fmt(med(r.answered for r in rows)):>9}{fmt(med(r.title for r in rows)):>8}"
        f"{fmt(med(r.chart for r in rows)):>8}{f'{sum(loading)}/{len(rows)}':>10}"
        f"{fmt(med(r.model for r in rows)):>8}{fmt(med(r.plotly_js for r in rows)):>11}"
        f"{fmt(med(r.server_cpu for r in rows)):>9}"
    )
    m_chart, m_model = med(r.chart for r in rows), med(r.model for r in rows)
    first = sum(loading) * 2 > len(rows)
    print(
        f"first chart while the model was still loading: {sum(loading)}/{len(rows)} launches"
        f" -> {'OK' if first else 'NOT MET'} (target: the first page before the model has loaded)"
    )
    ok = m_model is not None and m_model <= MODEL_TARGET_S
    print(
        f"model heatmap: median {fmt(m_model)} s -> {'OK' if ok else 'NOT MET'}"
        f" (target <= {MODEL_TARGET_S:g} s); first chart median {fmt(m_chart)} s;"
        f" loading info seen in {sum(r.loading_seen for r in rows)}/{len(rows)} launches"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--launches", type=int, default=5, help="launches per configuration (default 5; use >= 3)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per launch before giving up")
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="also launch with these extra `streamlit run` options, interleaved with the plain launches "
        "and reported apart, e.g. --variant='--server.fileWatcherType none'",
    )
    args = p.parse_args(argv)

    configs = {"make run": [], OLD_PATH: [], FLOOR: [], **{f"with {v}": shlex.split(v) for v in args.variant}}
    print(f"bench_launch: {PYTHON} -m streamlit run app.py; {os.cpu_count()} CPUs; {args.launches} launches each")
    expected = expected_weights(args.timeout)
    if expected:
        w00 = expected[1][0][0]
        print(f"model W for {SENTENCE!r} from the CLI: tokens {expected[0]}, W[0][0] = {w00:.4f}")

    rows: dict[str, list[Launch]] = {name: [] for name in configs}
    t = time.perf_counter()
    with chromium() as browser:
        print(f"Chromium started in {time.perf_counter() - t:.2f} s (before the clock starts)")
        n = 0
        for _ in range(args.launches):
            for name, extra in configs.items():  # interleaved, so noise hits every configuration
                n += 1
                app = MINIMAL_APP if name == FLOOR else "app.py"
                with backend(name):
                    rows[name].append(launch_once(browser, n, expected, args.timeout, extra, app))
                time.sleep(1.0)  # let the stopped server's memory go before the next launch

    for name, rs in rows.items():
        summarise(name, rs)
    plain = rows["make run"]
    chart, model = med(r.chart for r in plain), med(r.model for r in plain)
    loading = sum(bool(r.loading_at_chart) for r in plain)
    record(
        "bench_launch.py",
        f"`make run`: first chart / model-backed heatmap after launch ({len(plain)} launches)",
        f"first chart **{fmt(chart)} s** (model still loading in {loading}/{len(plain)}); "
        f"model heatmap **{fmt(model)} s**",
        f"the first chart model-backed (or before the model); ≤ {MODEL_TARGET_S:g} s",
        met=(loading * 2 > len(plain) or chart == model) and model is not None and model <= MODEL_TARGET_S,
        first_chart_s=chart,
        model_heatmap_s=model,
    )
    base = med(r.model for r in rows["make run"])
    for name, rs in rows.items():
        m = med(r.model for r in rs)
        if name != "make run" and base and m:
            print(f"model heatmap, {name} / make run: {m / base:.2f}x")
    old = med(r.model for r in rows[OLD_PATH])
    ratio = model / old if model and old else None
    print(
        f"model heatmap, NumPy / old path: {fmt(model)} / {fmt(old)} s = {fmt(ratio)}x "
        f"-> {'OK' if ratio is not None and ratio <= OLD_RATIO_TARGET else 'NOT MET'} (target <= {OLD_RATIO_TARGET}x)"
    )
    floor = med(r.model for r in rows[FLOOR])
    if floor and old:
        print(
            f"floor: the bare one-heatmap app draws its chart at {fmt(floor)} s = {fmt(floor / old)}x the old path; "
            f"attnviz's model heatmap is {fmt(model / floor if model else None)}x the floor"
        )
        record(
            "bench_launch.py",
            "First chart after launch: attnviz's model heatmap vs a bare one-heatmap Streamlit app (the floor), "
            f"{len(plain)} launches each, interleaved",
            f"{fmt(model)} vs {fmt(floor)} s (**{fmt(model / floor if model else None)}×**); the floor alone is "
            f"{fmt(floor / old)}× the old path",
            "(for reference: the floor bounds the ratio above)",
            met=None,
            numpy_s=model,
            floor_s=floor,
        )
    record(
        "bench_launch.py",
        f"First model-backed heatmap after launch: NumPy serving vs the old sentence-transformers path "
        f"({len(plain)} launches each, interleaved)",
        f"{fmt(model)} vs {fmt(old)} s (**{fmt(ratio)}×**)",
        f"≤ {OLD_RATIO_TARGET}×",
        met=ratio is not None and ratio <= OLD_RATIO_TARGET,
        numpy_s=model,
        torch_s=old,
        ratio=ratio,
    )
    return 0


@contextlib.contextmanager
def backend(config: str):
    """The old path's launches get ATTNVIZ_BACKEND=torch in the server's environment; the others none."""
    before = os.environ.pop("ATTNVIZ_BACKEND", None)
    if config == OLD_PATH:
        os.environ["ATTNVIZ_BACKEND"] = "torch"
    try:
        yield
    finally:
        os.environ.pop("ATTNVIZ_BACKEND", None)
        if before is not None:
            os.environ["ATTNVIZ_BACKEND"] = before


if __name__ == "__main__":
    sys.exit(main())
