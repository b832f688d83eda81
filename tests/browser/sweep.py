"""The browser sweep's machinery (tests/browser/test_sweep.py): find a page's widgets, move one, wait for the
rerun it starts, read every chart's labels, and judge them against the sentence's pieces.

Nothing here knows a page: widgets are found by Streamlit's test ids (select boxes, radios, sliders and
select sliders, segmented controls), charts by Plotly's element, labels by their type. Number boxes are
left alone: their ranges come from the model (layer, head) or are checked by Streamlit against their bounds.
"""

from __future__ import annotations

import difflib
import html
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from attnviz_harness import DECODE_JS

from attnviz.attention.core import AttentionError
from tests.reference import labels, toy

# Counts the runs the page has finished (a run ends when Streamlit's mark leaves "running") and the changes
# to the page's elements (a fragment's rerun, as the Lesson's Next, may leave the mark alone). Installed
# before the page loads, so no run is missed however short it is.
RUN_COUNTER_JS = r"""
(() => {
  window.__sweepRuns = 0;
  window.__sweepChanges = 0;
  new MutationObserver((records) => {
    for (const r of records) if (r.oldValue === 'running') window.__sweepRuns += 1;
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
  new MutationObserver((records) => { window.__sweepChanges += records.length; })
    .observe(document, {subtree: true, childList: true, characterData: true});
})();
"""

KINDS = {  # Streamlit's test id -> the sweep's name
    "stSelectbox": "select",
    "stRadio": "radio",
    "stSlider": "slider",  # st.slider and st.select_slider
    "stButtonGroup": "segmented",
}

_WIDGETS_JS = r"""
(kinds) => {
  const out = [];
  const seen = {};
  for (const [tid, kind] of Object.entries(kinds)) {
    const all = Array.from(document.querySelectorAll(`[data-testid="${tid}"]`));
    for (const [index, el] of all.entries()) {
      if (el.getClientRects().length === 0) continue;  // not shown
      const area = el.closest('[data-testid="stSidebar"]') ? 'sidebar' : 'main';
      const lab = el.querySelector('[data-testid="stWidgetLabel"]');
      const label = (lab ? lab.innerText : (el.getAttribute('aria-label') || '')).trim();
      const id = `${area}/${kind}/${label}`;
      const nth = seen[id] = (seen[id] === undefined ? 0 : seen[id] + 1);
      let value = null, disabled = false, options = null;
      if (kind === 'select') {
        const input = el.querySelector('input[role="combobox"]');
        value = input ? input.value : null;
        disabled = !input || input.disabled;
      } else if (kind === 'radio') {
        const opts = Array.from(el.querySelectorAll('[data-testid="stRadioOption"]'));
        options = opts.map((o) => o.innerText.trim());
        value = opts.findIndex((o) => o.getAttribute('data-selected') === 'true');
        disabled = opts.every((o) => o.querySelector('input') && o.querySelector('input').disabled);
      } else if (kind === 'slider') {
        const input = el.querySelector('input[type="range"]');
        value = input ? [Number(input.value), Number(input.min), Number(input.max)] : null;
        disabled = !input || input.disabled;
      } else if (kind === 'segmented') {
        const opts = Array.from(el.querySelectorAll('button'));
        options = opts.map((o) => o.innerText.trim());
        value = opts.findIndex((o) => o.getAttribute('aria-checked') === 'true');
        disabled = opts.every((o) => o.disabled);
      }
      out.push({kind, tid, index, area, label, id: `${id}#${nth}`, value, options, disabled});
    }
  }
  return out;
}
"""

_LABELS_JS = (
    "() => {"
    + DECODE_JS
    + r"""
  const strings = (a) => Array.isArray(a) && a.length > 0 && a.every((v) => typeof v === 'string') ? a : null;
  return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map((c, i) => {
    const box = c.closest('[class*="st-key-"]');
    const m = box ? Array.from(box.classList).find((k) => k.startsWith('st-key-')) : null;
    const gd = c.querySelector('.js-plotly-plot');
    const arrays = [];
    if (gd && gd.data) gd.data.forEach((t, j) => {
      for (const axis of ['x', 'y', 'text']) {
        const a = strings(decode(t[axis]));
        if (a) arrays.push({trace: j, axis, labels: a});
      }
    });
    return {chart: m ? m.slice('st-key-'.length) : `#${i}`, arrays};
  });
}
"""
)

# Streamlit's own probes for its base path on a page's URL (/<Page>/_stcore/health, …/host-config): the
# browser logs their 404s as console errors; they are Streamlit's, not the app's.
_BASE_PATH_PROBE = re.compile(r"^https?://[^/]+/[^/]+/_stcore/(health|host-config)$")


def app_console_error(message) -> str | None:
    """A console message as text if it is an error from the app (None for warnings and Streamlit's probes)."""
    if message.type != "error":
        return None
    where = (message.location or {}).get("url", "")
    if "Failed to load resource" in message.text and _BASE_PATH_PROBE.match(where):
        return None
    return f"{message.text} (at {where})"


# --- what the charts should say ------------------------------------------------------------------


def shared(a, b) -> list[str]:
    """The pieces two sentences share, paired in reading order, longest runs first (difflib's blocks)."""
    blocks = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False).get_matching_blocks()
    return [a[i + k] for i, _, size in blocks for k in range(size)]


@dataclass(frozen=True)
class Expected:
    """The label lists a chart may show for the sidebar's state: each sentence with or without [CLS]/[SEP],
    and their shared pieces."""

    lists: tuple[tuple[str, ...], ...]

    @property
    def words(self) -> set[str]:
        return {w for lst in self.lists for w in lst}

    def matches(self, shown: list[str]) -> bool:
        """Whether the chart's list is one of them (a chart may add rows of its own after them, as the
        query walk's "= z (the sum)", but none that is a sentence's label)."""
        for lst in self.lists:
            if not lst:  # two sentences that share no piece: nothing to match
                continue
            if tuple(shown) == lst or (
                len(shown) > len(lst) and tuple(shown[: len(lst)]) == lst and not set(shown[len(lst) :]) & self.words
            ):
                return True
        return False


def expected_for(minilm, sentence: str, second: str, *, toy_words: bool) -> Expected:
    """What the charts may show, from the model of record (sentence-transformers) or, for the toy embedding,
    tests/reference.toy; never from the app. The pages that always read MiniLM's pieces (the learned heads)
    show those whatever the embedding."""
    pieces = []
    for text in (sentence, second) if second.strip() else (sentence,):
        try:
            emb = minilm.static(text)
        except AttentionError:  # nothing left to read ("", only spaces or control characters): no chart
            continue
        pieces.append((tuple(emb.tokens), tuple(emb.without_special().tokens)))
        if toy_words:
            words = toy(text)[0]
            pieces[-1] += (words,)
    lists = [tuple(labels(p)) for pair in pieces for p in pair]
    if len(pieces) == 2 and sentence.strip():
        for i in range(len(pieces[0])):  # shared pieces as each [CLS]/[SEP] setting (and embedding) shows them
            lists.append(tuple(labels(shared(pieces[0][i], pieces[1][i]))))
    return Expected(tuple(lists))


@dataclass
class Observation:
    when: str  # the sentence step and the last action, for the report
    slot: tuple[str, int, str]  # (chart key, trace, axis)
    shown: list[str]
    expected: Expected
    ok: bool  # the whole of one of the expected lists


def in_order(part: list[str], whole: tuple[str, ...]) -> bool:
    """Whether part is whole with some labels left out (a chart of two of the sentence's words)."""
    it = iter(whole)
    return all(label in it for label in part)


@dataclass
class Record:
    """Everything a page's sweep saw; judged once at the end, so one run reports every problem it meets."""

    observations: list[Observation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    moves: Counter = field(default_factory=Counter)
    reruns: int = 0
    no_rerun: list[str] = field(default_factory=list)
    waits: list[tuple[float, str]] = field(default_factory=list)  # (seconds, what) of each wait for a rerun

    def token_slots(self) -> set:
        """The chart axes that showed all of a sentence's labels at least once."""
        return {o.slot for o in self.observations if o.ok}

    def stale(self) -> list[Observation]:
        """What a token axis showed that is not the current sentence's: labels of a sentence, but not the
        whole of the current one nor a part of it in order. (An axis may show the sentence's labels on one
        screen and other things, "softmax", on the next: labels of no sentence are not judged.)"""
        slots = self.token_slots()
        words = set().union(*(o.expected.words for o in self.observations))
        return [
            o
            for o in self.observations
            if o.slot in slots
            and not o.ok
            and set(o.shown) & words
            and not any(in_order(o.shown, lst) for lst in o.expected.lists)
        ]


# --- driving the page ----------------------------------------------------------------------------


class Driver:
    """One tab of the sweep: waits for the reruns its actions start and records what it sees."""

    def __init__(self, app, record: Record, *, settle_s: float, update_s: float, no_rerun_s: float):
        self.app, self.page, self.record = app, app.page, record
        self.settle_s, self.update_s, self.no_rerun_s = settle_s, update_s, no_rerun_s

    def runs(self) -> int:
        return int(self.page.evaluate("() => window.__sweepRuns || 0"))

    def counters(self) -> tuple[int, int]:
        """(runs finished, changes to the page's elements) so far."""
        return tuple(self.page.evaluate("() => [window.__sweepRuns || 0, window.__sweepChanges || 0]"))

    def settled(self, *, since: tuple[int, int] | None, what: str, timeout: float | None = None) -> None:
        """Wait until a run has ended or the page has changed after `since` (counters(); None: any state will
        do) and the page looks finished, unchanged, for settle_s; an action that starts no run and changes
        nothing within no_rerun_s is noted and the page taken as it is."""
        deadline = time.monotonic() + (timeout or self.update_s)
        began, running, last = time.monotonic(), False, None
        calm = None
        while True:
            s = self.app.state()
            now_counts = self.counters()
            ran = since is None or now_counts[0] > since[0] or now_counts[1] > since[1]
            running = running or s["script"] == "running"  # started, and still at it: a long run
            if not ran and not running and time.monotonic() - began > self.no_rerun_s:
                self.record.no_rerun.append(what)
                ran, since = True, None
            unchanged, last = now_counts == last, now_counts
            done = (
                ran
                and unchanged
                and s["script"] in ("notRunning", None)
                and s["connection"] in ("CONNECTED", None)
                and not s["loading"]
                and s["stale"] == 0
                and s["skeletons"] == 0
                and s["charts"] == s["charts_drawn"]
            )
            now = time.monotonic()
            if done:
                calm = calm or now
                if now - calm >= self.settle_s:
                    if since is not None:
                        self.record.reruns += 1
                    self.record.waits.append((now - began, what))
                    return
            else:
                calm = None
            if now > deadline:
                self.record.problems.append(
                    f"{what}: the page did not settle within {timeout or self.update_s:.0f} s ({s})"
                )
                self.app.screenshot(f"sweep_timeout_{len(self.record.problems)}")
                return
            time.sleep(0.05)

    def quiet(self, *, what: str, timeout: float, still_s: float = 1.5) -> None:
        """Wait until the page has settled and stopped rerunning by itself (a background job's progress: the
        corpus of Query/key space, a t-SNE) for still_s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.settled(since=None, what=what, timeout=timeout)
            before = self.runs()
            time.sleep(still_s)
            if self.runs() == before:
                return
        self.record.problems.append(f"{what}: the page kept rerunning for {timeout:.0f} s")

    def act(self, what: str, action) -> None:
        before = self.counters()
        action()
        self.settled(since=before, what=what)

    # the widgets
    def widgets(self) -> list[dict]:
        return self.page.evaluate(_WIDGETS_JS, KINDS)

    def locate(self, w: dict):
        """The widget found by `widgets()`, by its place among the page's widgets of its kind (no rerun since)."""
        return self.page.locator(f'[data-testid="{w["tid"]}"]').nth(w["index"])

    def move(self, w: dict) -> str | None:
        """Move the widget to another value (the next one, round the end); return what was done (None: nothing,
        it has one option)."""
        el = self.locate(w)
        el.scroll_into_view_if_needed()
        kind = w["kind"]
        if kind == "select":
            box = el.locator('input[role="combobox"]')
            box.click()
            self.page.wait_for_function("(b) => b.getAttribute('aria-controls')", arg=box.element_handle())
            options = self.page.locator(f'[id="{box.get_attribute("aria-controls")}"] [role="option"]')
            options.first.wait_for()
            chosen = options.evaluate_all(
                "(os) => { const i = os.findIndex((o) => o.getAttribute('aria-selected') === 'true');"
                " return os.length < 2 ? -1 : (i + 1) % os.length; }"
            )
            if chosen < 0:  # one option: nothing to move to
                self.page.keyboard.press("Escape")
                return None
            text = options.nth(chosen).inner_text()
            options.nth(chosen).click()
            return f"chose {text!r}"
        if kind in ("radio", "segmented"):
            n = len(w["options"])
            target = (w["value"] + 1) % n
            sel = '[data-testid="stRadioOption"]' if kind == "radio" else "button"
            el.locator(sel).nth(target).click()
            return f"chose {w['options'][target]!r}"
        if kind == "slider":
            value, _, hi = w["value"]
            thumb = el.locator('input[type="range"]').first
            thumb.focus()
            key = "ArrowRight" if value < hi else "Home"
            thumb.press(key)
            return f"{key} from {value:g}"
        raise AssertionError(kind)

    # what the page shows
    def check(self, when: str, expected: Expected) -> None:
        s = self.app.state()
        for e in s["exceptions"]:
            self.record.problems.append(f"{when}: uncaught exception on {self.app.location()}:\n{e}")
        if s["exceptions"]:
            self.app.screenshot(f"sweep_exception_{len(self.record.problems)}")
        for chart in self.page.evaluate(_LABELS_JS):
            for a in chart["arrays"]:
                shown = [html.unescape(v) for v in a["labels"]]
                self.record.observations.append(
                    Observation(when, (chart["chart"], a["trace"], a["axis"]), shown, expected, expected.matches(shown))
                )
