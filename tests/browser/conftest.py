"""The real app in Debian's Chromium: one Streamlit server per session, Playwright, helpers.

Every test under tests/browser/ gets the `browser` marker. Nothing here skips: if Chromium or
the server cannot start, the tests fail (a fixture error is reported as a failure of the run).

The helpers read what the browser really holds:
- `App.chart(key)` returns a plotly chart's traces from the page (`gd.data`, arrays decoded from
  plotly's typed arrays or `{dtype, bdata, shape}` into nested lists); charts are found by the
  `st-key-<key>` class Streamlit puts on a keyed element's container.
- `App.wait_for_model()` waits until the MiniLM model is in use (the sidebar's loading notice and
  the toy-fallback caption are gone) and the page has settled.
- `App.screenshot(label)` writes a full-page PNG to screenshots/ at the repo root.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
import pytest
from attnviz_harness import DECODE_JS, launch_args, start_server, stop, watch

ROOT = Path(__file__).resolve().parents[2]

# One copy of the browser plumbing (server, Chromium, Plotly decoding), attnviz_harness, is shared with
# the benchmarks and `make scale`.
SCREENSHOTS = ROOT / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_S = 60.0
MODEL_WAIT_S = 120.0  # the server imports sentence-transformers on first use (~6 s here)
UPDATE_WAIT_S = 30.0  # a rerun after typing or moving a widget
SETTLE_S = 0.3  # the page must look finished for this long
MAX_SHOT_HEIGHT = 16000

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


# --- Chromium through pytest-playwright -----------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, never a downloaded one; a missing browser fails the tests."""
    ours = launch_args()
    return {**browser_type_launch_args, **ours, "args": [*browser_type_launch_args.get("args", []), *ours["args"]]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": VIEWPORT}


# --- the app server -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; yields its base URL."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:
        # One consistent app for the session, even while the sources are being edited.
        server = start_server(log_path, extra=["--server.fileWatcherType", "none"], timeout=SERVER_START_S)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server.url
    finally:
        stop(server.proc)


@pytest.fixture(scope="session")
def base_url(app_server: str) -> str:
    """pytest-playwright gives every context this base URL, so page.goto('/Step_by_step') works."""
    return app_server


# --- the model, recomputed independently in the test process --------------------------------


@pytest.fixture(scope="session")
def _minilm_future() -> Iterator[Future]:
    """Load MiniLM in a thread while the first page loads: the model of record (sentence-transformers,
    torch), not the app's NumPy path, so the tests recompute independently of what they check."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from attnviz.model.minilm import load_reference

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-minilm")
    future = pool.submit(load_reference)
    yield future
    pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def minilm(_minilm_future: Future):
    return _minilm_future.result(timeout=300)


@pytest.fixture(scope="session")
def expected(minilm) -> Callable[..., Any]:
    """expected(text, temperature=1.0) -> the AttentionTrace the default settings should show."""
    from attnviz.attention.core import self_attention

    def compute(text: str, *, temperature: float = 1.0, scale: str = "none"):
        e = minilm.static(text).without_special()
        return self_attention(e.vectors, e.tokens, scale=scale, temperature=temperature)

    return compute


def labels_of(tokens) -> list[str]:
    """The labels the app should give these tokens, as text, recomputed by the tests (tests/reference.labels:
    one labelling everywhere, "the #1", "the #2")."""
    from tests.reference import labels

    return labels(tokens)


def unescape_labels(labels) -> list[str]:
    """Axis labels as text: the app may HTML-escape them for plotly."""
    return [html.unescape(str(v)) for v in labels]


# --- reading the page -----------------------------------------------------------------------

# Plotly may hand arrays over as plain arrays, typed arrays, or {dtype, bdata, shape}.
_READ_CHART_JS = (
    "(key) => {"
    + DECODE_JS
    + r"""
  const box = document.querySelector(`.st-key-${key}`);
  if (!box) return null;
  const gd = box.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  if (!gd || !gd.data) return null;
  const full = gd._fullData || [];
  const traces = gd.data.map((t, i) => {
    const f = full[i] || {};
    const pick = (name) => decode(t[name] !== undefined ? t[name] : f[name]);
    return {type: t.type || f.type, x: pick('x'), y: pick('y'), z: pick('z')};
  });
  const stale = box.closest('[data-stale="true"]') !== null || box.querySelector('[data-stale="true"]') !== null;
  return {key, stale, traces};
}
"""
)

# What the page looks like now: enough to tell "still working" from "done".
_PAGE_STATE_JS = r"""
() => {
  const text = document.body ? document.body.innerText : '';
  const main = document.querySelector('[data-testid="stMain"]');
  const charts = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'));
  const app = document.querySelector('[data-testid="stApp"]');
  return {
    // Streamlit marks the app element for its own end-to-end tests: 'running' / 'notRunning'.
    script: app ? app.getAttribute('data-test-script-state') : null,
    connection: app ? app.getAttribute('data-test-connection-state') : null,
    loading: text.includes('Loading the MiniLM model'),
    toy_fallback: text.includes('toy 2-D embeddings until'),
    model_failed: text.includes('could not be loaded'),
    exceptions: Array.from(document.querySelectorAll('[data-testid="stException"]')).map((e) => e.innerText),
    stale: document.querySelectorAll('[data-stale="true"]').length,
    content: main ? main.querySelectorAll('[data-testid="stElementContainer"]').length : 0,
    charts: charts.length,
    charts_drawn: charts.filter((c) => { const g = c.querySelector('.js-plotly-plot'); return g && g.data; }).length,
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]').length,
  };
}
"""

_KEYED_CHARTS_JS = r"""
() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map((c) => {
  const box = c.closest('[class*="st-key-"]');
  const m = box ? Array.from(box.classList).find((k) => k.startsWith('st-key-')) : null;
  return m ? m.slice('st-key-'.length) : null;
})
"""

# The text labels a scatter chart draws, and every pair of them whose boxes on the screen overlap.
_LABEL_OVERLAPS_JS = r"""
(key) => {
  const texts = Array.from(document.querySelectorAll(`.st-key-${key} .textpoint text`)).filter((t) => t.textContent);
  const boxes = texts.map((t) => ({text: t.textContent, r: t.getBoundingClientRect()}));
  const pairs = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].r, b = boxes[j].r;
    const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (w > 1 && h > 1) pairs.push([boxes[i].text, boxes[j].text, Math.round(w), Math.round(h)]);
  }
  return {labels: boxes.map((b) => b.text), overlaps: pairs};
}
"""

_PAGE_HEIGHT_JS = r"""
() => Math.max(window.innerHeight,
  ...['stMain', 'stSidebarContent', 'stAppViewContainer'].map((id) => {
    const e = document.querySelector(`[data-testid="${id}"]`);
    return e ? e.scrollHeight : 0;
  }))
"""


def poll(fn: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> tuple[bool, Any]:
    """Call fn until it returns (True, value) or the time is up; return (ok, last value)."""
    deadline = time.monotonic() + timeout
    while True:
        ok, value = fn()
        if ok or time.monotonic() > deadline:
            return ok, value
        time.sleep(interval)


@dataclass
class Chart:
    key: str
    stale: bool
    traces: list[dict]

    @property
    def x(self) -> list[str]:
        return unescape_labels(self.traces[0]["x"] or [])

    @property
    def y(self) -> list[str]:
        return unescape_labels(self.traces[0]["y"] or [])

    @property
    def z(self) -> np.ndarray:
        return np.asarray(self.traces[0]["z"], dtype=np.float64)

    @property
    def y_values(self) -> np.ndarray:
        return np.asarray(self.traces[0]["y"], dtype=np.float64)


@dataclass
class App:
    """One browser tab on the app, with what the tests need to read from it."""

    page: Any  # playwright.sync_api.Page
    base_url: str
    test_name: str
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    # navigation
    def goto(self, path: str = "/", **params: str) -> None:
        query = f"?{urlencode(params)}" if params else ""
        self.page.goto(f"{self.base_url}{path}{query}")

    def location(self) -> str:
        # page.url can lag a history.replaceState; the document's own location does not.
        return self.page.evaluate("() => location.href")

    def path(self) -> str:
        return urlsplit(self.location()).path

    def params(self) -> dict[str, str]:
        qs = parse_qs(urlsplit(self.location()).query, keep_blank_values=True)
        return {k: v[-1] for k, v in qs.items()}

    # Streamlit's own page list (stSidebarNav) or the app's st.page_link links: any link in the sidebar.
    _NAV_LINKS = '[data-testid="stSidebar"] a[href]'

    def nav_links(self) -> list[dict]:
        return self.page.evaluate(
            "(sel) => Array.from(document.querySelectorAll(sel))"
            ".map((a) => ({raw: a.getAttribute('href'), href: a.href, text: a.innerText.trim()}))",
            self._NAV_LINKS,
        )

    def click_nav(self, url_path: str) -> None:
        """Click the sidebar link whose URL path is /url_path ('' for the home page)."""
        base = urlsplit(self.base_url).path.rstrip("/")
        target = f"{base}/{url_path.strip('/')}".rstrip("/") or "/"
        links = self.nav_links()
        # st.page_link renders the home page's link as href="" or "?query" (relative to the current page).
        paths = [
            (base or "/")
            if link["raw"] in ("", None) or link["raw"].startswith("?")
            else (urlsplit(link["href"]).path.rstrip("/") or "/")
            for link in links
        ]
        assert target in paths, f"no sidebar link to {target}; the sidebar links are {links}"
        self.page.locator(self._NAV_LINKS).nth(paths.index(target)).click()
        ok, path = poll(lambda: ((p := self.path().rstrip("/") or "/") == target, p), timeout=UPDATE_WAIT_S)
        assert ok, f"clicked the link to {target} but the page is at {path}"

    # the sidebar
    def sentence_box(self):
        return self.page.get_by_role("textbox", name="Sentence", exact=True)

    def type_sentence(self, text: str) -> None:
        box = self.sentence_box()
        box.fill(text)
        box.press("Enter")

    def temperature_slider(self):
        return self.page.get_by_role("slider", name="Temperature T")

    # the page's state
    def state(self) -> dict:
        return self.page.evaluate(_PAGE_STATE_JS)

    def exceptions(self) -> list[str]:
        return self.state()["exceptions"]

    def assert_no_exception(self) -> None:
        errors = self.exceptions()
        assert not errors, f"the page shows an uncaught exception on {self.location()}:\n" + "\n".join(errors)

    def wait_for_model(self, *, chart: bool = True, timeout: float = MODEL_WAIT_S) -> dict:
        """Wait until MiniLM is in use and the page has settled (and, by default, drawn a chart)."""
        settled_since = None
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if s["exceptions"]:
                self.screenshot("exception")
                pytest.fail(f"uncaught exception on {self.location()}:\n" + "\n".join(s["exceptions"]))
            if s["model_failed"]:
                pytest.fail("the app says the MiniLM model could not be loaded (see the sidebar)")
            done = (
                s["script"] in ("notRunning", None)  # None: an older/newer Streamlit without the mark
                and s["connection"] in ("CONNECTED", None)
                and not s["loading"]
                and not s["toy_fallback"]
                and s["stale"] == 0
                and s["content"] > 0
                and s["skeletons"] == 0
                and s["charts"] == s["charts_drawn"]
                and (s["charts_drawn"] > 0 or not chart)
            )
            now = time.monotonic()
            if done:
                settled_since = settled_since or now
                if now - settled_since >= SETTLE_S:
                    return s
            else:
                settled_since = None
            if now > deadline:
                self.screenshot("model_timeout")
                pytest.fail(f"the page did not settle with the model within {timeout:.0f} s: {s}")
            time.sleep(0.1)

    def chart_keys(self) -> list[str | None]:
        return self.page.evaluate(_KEYED_CHARTS_JS)

    def chart(self, key: str) -> Chart | None:
        raw = self.page.evaluate(_READ_CHART_JS, key)
        return None if raw is None else Chart(**raw)

    def wait_for_chart(
        self, key: str, check: Callable[[Chart], bool], *, what: str, timeout: float = UPDATE_WAIT_S
    ) -> Chart:
        """Poll the chart until check(chart) holds; fail with what was last seen."""

        def attempt():
            c = self.chart(key)
            return (c is not None and not c.stale and check(c)), c

        ok, c = poll(attempt, timeout=timeout)
        if not ok:
            self.screenshot(f"{key}_timeout")
            seen = "no such chart" if c is None else f"x={c.x[:20]}, y={c.y[:20]}"
            pytest.fail(
                f"chart {key!r} never showed {what} within {timeout:.0f} s "
                f"(charts on the page: {self.chart_keys()}; last seen: {seen})"
            )
        return c

    def wait_for_tokens(self, key: str, labels: list[str], **kw) -> Chart:
        """A token x token chart (W*, W) showing these labels on both axes."""
        return self.wait_for_chart(key, lambda c: c.x == labels and c.y == labels, what=f"tokens {labels}", **kw)

    def wait_for_tokens_rows(self, key: str, labels: list[str], **kw) -> Chart:
        """A token x feature chart (X, Y) showing these labels on its rows."""
        return self.wait_for_chart(key, lambda c: c.y == labels, what=f"rows {labels}", **kw)

    def drawn_labels(self, key: str) -> dict:
        """The scatter chart's drawn text labels, and the pairs of them that overlap on the screen (with by how
        many px across and down): {"labels": [...], "overlaps": [[a, b, w, h], ...]}."""
        return self.page.evaluate(_LABEL_OVERLAPS_JS, key)

    poll = staticmethod(poll)

    # the numbers
    @staticmethod
    def labels(tokens) -> list[str]:
        return labels_of(tokens)

    def assert_weights(self, key: str, trace, *, atol: float = 1e-6) -> Chart:
        """Wait for the chart to show trace's tokens, then: same numbers, rows summing to 1."""
        labels = labels_of(trace.tokens)
        chart = self.wait_for_tokens(key, labels)
        z = chart.z
        assert z.shape == trace.weights.shape, f"W on the page is {z.shape}, expected {trace.weights.shape}"
        diff = float(np.max(np.abs(z - trace.weights)))
        assert diff <= atol, f"W in {key!r} differs from the recomputation by {diff:.3g}"
        np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-9, err_msg=f"a row of W in {key!r} does not sum to 1")
        assert np.all(z >= 0), f"W in {key!r} has negative entries"
        return chart

    @staticmethod
    def weights_close(chart: Chart, trace, atol: float = 1e-6) -> bool:
        z = chart.z
        return z.shape == trace.weights.shape and float(np.max(np.abs(z - trace.weights))) <= atol

    # evidence
    def screenshot(self, label: str) -> Path:
        """A PNG of the whole page (Streamlit scrolls inside stMain, so grow the viewport first)."""
        SCREENSHOTS.mkdir(exist_ok=True)
        safe = lambda text: re.sub(r"[^\w.-]+", "_", text).strip("_")  # noqa: E731
        name = f"{safe(self.test_name)}-{safe(label)}"
        path = SCREENSHOTS / f"{name}.png"
        size = self.page.viewport_size or VIEWPORT
        height = min(MAX_SHOT_HEIGHT, int(self.page.evaluate(_PAGE_HEIGHT_JS)))
        try:
            if height > size["height"]:
                self.page.set_viewport_size({"width": size["width"], "height": height})
                self.page.wait_for_timeout(250)
            self.page.screenshot(path=str(path), full_page=True)
        finally:
            self.page.set_viewport_size(size)
        return path


@pytest.fixture(scope="session")
def shared_context(browser, browser_context_args: dict) -> Iterator[Any]:
    """One browser context for the session: every test gets its own tab (its own Streamlit
    session), but Streamlit's immutable static files (Plotly's 4.6 MB among them) load once."""
    context = browser.new_context(**browser_context_args)
    yield context
    context.close()


@pytest.fixture
def app(_minilm_future: Future, shared_context, base_url: str, request: pytest.FixtureRequest) -> Iterator[App]:
    """A fresh tab on the app; dialogs are counted (and dismissed), page errors recorded."""
    page = shared_context.new_page()
    # test_x[chromium] -> test_x, test_x[home-chromium] -> test_x[home]
    name = re.sub(r"-?chromium-?", "", request.node.name).replace("[]", "")
    a = App(page=page, base_url=base_url, test_name=name)
    page.set_default_timeout(UPDATE_WAIT_S * 1000)

    watch(page, a.dialogs, a.page_errors)
    page.on("request", lambda req: a.requests.append(req.url))
    yield a
    page.close()


# --- the pages under pages/ ----------------------------------------------------------------


@pytest.fixture(scope="session")
def app_pages() -> list[tuple[Path, str]]:
    """(script, URL path) for every pages/*.py, in Streamlit's order: '1_Step_by_step.py' -> 'Step_by_step'."""
    from streamlit.source_util import page_icon_and_name, page_sort_key

    scripts = sorted((ROOT / "pages").glob("*.py"), key=page_sort_key)
    assert scripts, "no pages under pages/"
    return [(p, page_icon_and_name(p)[1]) for p in scripts]
