"""Serving without torch: every page and the CLI never import it; the learned page checks on demand.

The subprocess tests look at `sys.modules` of a fresh interpreter: after loading every page with the
model (AppTest) or running the CLI with the model, torch, transformers and sentence-transformers were
never imported. With torch made unimportable (a meta-path blocker), the app still serves MiniLM through
NumPy and the check button says why it cannot check.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from attnviz import ui
from attnviz.model import minilm as model
from tests.apptest_charts import heatmap
from tests.test_pages import LEARNED, app

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "sentence_transformers")
PAGES = ("app.py", *(p for p, _, _ in ui.PAGES[1:]))
BLOCKER = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "sentence_transformers"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def run_python(code: str, *, timeout: float = 300) -> str:
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout


def pages_script(prelude: str, after: str) -> str:
    """Load every page with the model (waited for) in a fresh interpreter, then run `after`."""
    return f"""
{prelude}
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
from attnviz import ui
assert ui.model_future().result().backend == "numpy"
shown = {{}}
for page in {PAGES!r}:
    at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=120)
    at.query_params["s"] = "Héllo 😀 the cat sat"
    at.run()
    if page != "app.py":
        at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    assert not at.sidebar.warning, (page, [w.value for w in at.sidebar.warning])
    shown[page] = at
{after}
"""


@pytest.mark.slow
def test_every_page_and_the_cli_serve_the_model_without_torch():
    out = run_python(
        pages_script(
            "",
            f"""
import runpy
for argv in (["hi how are you", "--json"], ["the cat sat", "--json", "--layer", "2", "--head", "3"],
             ["the cat", "--embedding", "contextual"], ["the cat", "--cross", "a dog", "--layer", "1", "--head", "0"]):
    sys.argv = ["attnviz", *argv]
    try:
        runpy.run_module("attnviz", run_name="__main__")
    except SystemExit as e:
        assert not e.code, (argv, e.code)
learned = shown["pages/2_Unparameterised_vs_learned.py"]
assert learned.get("plotly_chart") and learned.button(key="learned_check")
print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
""",
        )
    )
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_without_torch_the_app_serves_and_the_button_says_why():
    out = run_python(
        pages_script(
            BLOCKER,
            """
at = shown["pages/2_Unparameterised_vs_learned.py"]
button = at.button(key="learned_check")
assert button.disabled, "the check should be disabled"
print("HELP", button.help)
print("CAPTIONS", " | ".join(c.value for c in at.caption))
print("CHARTS", len(at.get("plotly_chart")))
""",
        )
    )
    assert "HELP Cannot check: torch is not installed." in out
    assert "The check cannot run on this server: torch is not installed" in out
    assert int(re.search(r"CHARTS (\d+)", out).group(1)) >= 3  # the model's heads, served through NumPy


@pytest.fixture(scope="module", autouse=True)
def warm(model_ready):
    """The app's own loader, awaited (tests/conftest.py), whichever test runs first."""


def shown_deltas(at) -> tuple[float, float, str]:
    text = next(m.value for m in at.markdown if "Checked against the model" in m.value)
    a, h = (float(x) for x in re.findall(r"at most (\d\.\de-\d\d)", text))
    return a, h, text


@pytest.mark.parametrize("text", ["the cat sat on the mat", "Café 😀 東京 <b>x</b>"])
def test_the_check_button_shows_max_delta_for_the_sentence(minilm, served, text):
    at = app(LEARNED, s=text)
    assert not any("Checked against" in m.value for m in at.markdown)
    at.button(key="learned_check").click().run()
    assert not at.exception, at.exception
    attn, hidden, prose = shown_deltas(at)
    # recomputed here: the served NumPy forward against the model's own torch forward
    p = served.tokenize(text)
    ours = served.trace(p.ids)
    theirs = minilm.forward(minilm.tokenize(text).ids, attentions=True)
    want_a = max(np.abs(ours.attentions[i] - theirs.attentions[i][0].numpy()).max() for i in range(6))
    want_h = max(np.abs(ours.hidden[i] - theirs.hidden_states[i][0].numpy()).max() for i in range(7))
    assert attn == pytest.approx(want_a, rel=0.1) and hidden == pytest.approx(want_h, rel=0.1)
    assert 0 < attn <= 1e-5 and 0 < hidden <= 1e-5
    assert f"the same {len(p.ids)} word pieces and ids" in prose
    # the result follows the sentence once asked for
    at.sidebar.text_input(key="_w_sentence").set_value("dogs bark").run()
    assert "the same 4 word pieces" in shown_deltas(at)[2]
    assert heatmap(at, "learned_right")[1] == ["dogs", "bark"]


def test_a_check_that_cannot_load_says_so(monkeypatch):
    def fail():
        raise model.ModelUnavailable("The MiniLM model could not be loaded (ImportError: no torch here).")

    ui.reference.clear()
    ui.checked.clear()
    monkeypatch.setattr(model, "load_reference", fail)
    try:
        at = app(LEARNED, s="the cat sat")
        at.button(key="learned_check").click().run()
        assert not at.exception, at.exception
        warning = " ".join(w.value for w in at.warning)
        assert "The check could not run" in warning and "no torch here" in warning
        assert heatmap(at, "learned_right")[1] == ["the", "cat", "sat"]  # the heads are still served
    finally:
        ui.reference.clear()
