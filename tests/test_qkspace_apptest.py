"""The Query/key space page under AppTest: the points, the lines and every number in its prose recomputed
from the model's torch modules (tests/test_qkspace.reference); odd input; t-SNE in the background, and Stop."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest

from attnviz import figures, ui
from attnviz.model import qkspace
from tests.apptest_charts import decode, figure, picker
from tests.test_pages import HOSTILE, ODD, ROOT, app, type_sentence
from tests.test_qkspace import reference

PAGE = "pages/8_Query_key_space.py"


@pytest.fixture(scope="module", autouse=True)
def warm_corpus(minilm):
    ui.qk_corpus(ui.model_future().result()).future.result()


def traces(at) -> dict[str, dict]:
    """The plane's traces by name: x, y as arrays, the rest as sent."""
    out = {}
    for t in figure(at, "qks_plane")["data"]:
        out[t["name"]] = {**t, "x": decode(t["x"]).astype(float), "y": decode(t["y"]).astype(float)}
    return out


def prose(at) -> str:
    """Captions, markdown and LaTeX as the reader sees them (markdown escapes removed)."""
    parts = [c.value for c in at.caption] + [m.value for m in at.markdown] + [x.value for x in at.latex]
    return " ".join(parts).replace("\\", "").replace("  ", " ")


def check_page(at, text: str, layer: int, head: int, query: int, *, special: bool, top: int = 3) -> dict:
    assert not at.exception, at.exception
    ref = reference(text, layer, head, special=special)
    tokens, n = ref["tokens"], len(ref["tokens"])
    labels = figures.token_labels(tokens)
    tr = traces(at)
    for role, key in (("queries", "typed_q"), ("keys", "typed_k")):
        mine = tr[f"your {role}"]
        assert list(mine["text"]) == labels
        np.testing.assert_allclose(np.c_[mine["x"], mine["y"]], ref[key], atol=2e-4, err_msg=role)
    corpus_q = tr["corpus queries"]
    assert len(corpus_q["x"]) == len(tr["corpus keys"]["x"]) == ref["corpus_pieces"]
    # the lines: the chosen query to its strongest keys, weights in the legend
    w = ref["weights"][query]
    order = np.argsort(-w, kind="stable")[:top]
    lines = [t for name, t in tr.items() if name.startswith("→")]
    assert len(lines) == top
    for line, j in zip(lines, order):
        assert line["name"] == f"→ {labels[j]}: {w[j]:.3f}"
        np.testing.assert_allclose(line["x"], [ref["typed_q"][query, 0], ref["typed_k"][j, 0]], atol=2e-4)
        np.testing.assert_allclose(line["y"], [ref["typed_q"][query, 1], ref["typed_k"][j, 1]], atol=2e-4)
    assert tr[f"the query {labels[query]}"]["x"][0] == pytest.approx(ref["typed_q"][query, 0], abs=2e-4)
    # every number in the prose
    text_ = prose(at)
    kind = "included" if special else "left out"
    assert f"Layer {layer}, head {head}: blue circles are queries" in text_
    assert f"the {n} pieces of your sentence; faint, the {ref['corpus_pieces']} pieces of 100 corpus sentences" in text_
    assert f"[CLS] and [SEP] {kind}" in text_
    a, b = ref["explained"]
    assert f"PCA keeps {a:.1%} and {b:.1%} of the spread" in text_
    assert f"|t| = {np.linalg.norm(ref['t']):.3f}" in text_ and f"s = {ref['s']:.4f}" in text_
    assert f"= {ref['mean_norm']:.3f}" in text_ and f"(here {ref['mean_norm']:.3f})" in text_
    assert f"mean length {ref['typed_q_norm']:.3f} for its queries and {ref['typed_k_norm']:.3f} for its keys" in text_
    plain = figures.unique_labels(tokens)
    best = ", ".join(f"“{plain[j]}” {w[j]:.3f}" for j in order)
    assert f"The query of “{plain[query]}” gives its largest weights to {best} (the lines" in text_
    return ref


def test_a_shared_link_shows_the_head_and_its_numbers():
    text = "The dog chased the cat because it was hungry"
    at = app(PAGE, s=text, layer="3", head="1", q="6", top="4")
    ref = check_page(at, text, 3, 1, 6, special=False, top=4)
    assert ref["tokens"][6] == "it"
    assert picker(at, "qks_query").value == 6
    assert at.query_params["layer"] == "3" and at.query_params["top"] == "4"


def test_typing_choosing_and_special_pieces():
    at = app(PAGE, special="1")
    check_page(at, "hi how are you", 0, 0, 0, special=True)  # [CLS] is the first query
    text = "Is the the word repeated, or is it not?"
    type_sentence(at, text)
    at.number_input(key="_w_qks_layer").set_value(5).run()
    at.number_input(key="_w_qks_head").set_value(11).run()
    picker(at, "qks_query").set_value(4).run()
    at.slider(key="_w_qks_top").set_value(2).run()
    check_page(at, text, 5, 11, 4, special=True, top=2)
    assert at.query_params["q"] == "4" and at.query_params["head"] == "11"
    type_sentence(at, "ok")  # a shorter sentence: the chosen query falls back to the first piece
    check_page(at, "ok", 5, 11, 0, special=True, top=2)


LONG = "the cat sat on the mat " * 400  # 2,400 pieces: cut to the model's 256


@pytest.mark.parametrize("text", [*ODD, HOSTILE[0], HOSTILE[2], LONG])
def test_odd_input_is_a_message_never_an_exception(text):
    at = type_sentence(app(PAGE), text)
    assert not at.exception
    if not text.strip():
        assert any("type" in i.value for i in at.info), [i.value for i in at.info]
        assert not at.get("plotly_chart")
        return
    spec = figure(at, "qks_plane")
    for element in at.markdown:
        assert "<img" not in element.value and "<b>" not in element.value
    typed = next(t for t in spec["data"] if t["name"] == "your queries")
    assert not any("<" in label for label in typed["text"])  # markup arrives as entities, shown as text
    if text == LONG:
        assert any("2400 word pieces" in w.value.replace(",", "") for w in at.warning), [w.value for w in at.warning]
        assert len(typed["text"]) == 254  # 256 pieces less [CLS] and [SEP]


def test_tsne_runs_in_the_background_with_a_stop():
    text = "Sam gave Alex a book because he had two"
    at = type_sentence(app(PAGE), text)
    at.radio(key="_w_qks_method").set_value("tsne").run()
    assert not at.exception
    waiting = [p for p in at.get("progress")] + [i for i in at.info if "t-SNE is running" in i.value]
    assert waiting, "no sign of the background t-SNE"
    assert figure(at, "qks_plane")["layout"]["xaxis"]["title"]["text"] == "PC 1"  # PCA meanwhile
    at.button(key="qks_stop").click().run()
    assert at.radio(key="_w_qks_method").value == "pca" and at.query_params["proj"] == "pca"
    # choose it again: the same job (cached per sentence and head); wait for it
    at.radio(key="_w_qks_method").set_value("tsne").run()
    for _ in range(600):  # AppTest does not run the fragment's timer: each run stands for one tick
        if figure(at, "qks_plane")["layout"]["xaxis"]["title"]["text"] == "t-SNE 1":
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception
    tr = traces(at)
    ref_tokens = reference(text, 0, 0, special=False)["tokens"]
    subset = qkspace.tsne_subset(100)
    corpus = ui.qk_corpus(ui.model_future().result()).future.result()
    pieces = int((np.isin(corpus.sentence, subset) & ~corpus.special).sum())
    assert len(tr["corpus queries"]["x"]) == len(tr["corpus keys"]["x"]) == pieces
    assert len(tr["your queries"]["x"]) == len(ref_tokens)
    assert f"t-SNE (seed 0) of your sentence and {len(subset)} corpus sentences" in prose(at)
    assert re.search(r"PCA keeps", prose(at)) is None


def test_while_the_corpus_is_read_the_page_says_how_far(monkeypatch):
    from concurrent.futures import Future

    job = ui.CorpusJob(future=Future(), total=100, done=40)  # a job still running: 40 of 100 sentences
    monkeypatch.setattr(ui, "qk_corpus", lambda _model: job)
    at = app(PAGE)
    assert not at.exception and not at.get("plotly_chart")
    bars = at.get("progress")
    assert bars and "40 of 100 sentences" in bars[0].proto.text and bars[0].proto.value == 40


def test_tsne_job_starts_after_pandas_is_whole():
    """scikit-learn imports pandas on the background worker while the page builds its figures, and Plotly
    then met a half-imported pandas (seen in Chromium's sweep). The job must not start before pandas is
    imported whole: in a fresh interpreter, with the worker held, pandas is complete once qk_tsne returns."""
    script = (
        "import sys, threading\n"
        "from attnviz import ui\nfrom attnviz.model import qkspace\n"
        "assert 'pandas' not in sys.modules\n"
        "hold = threading.Event()\n"
        "qkspace.space = lambda *a, **k: hold.wait(10)\n"
        "class Fitted:\n"
        "    sentence = __import__('numpy').zeros(3, dtype=int)\n"
        "future = ui.qk_tsne(0, 0, False, 'a b', Fitted(), None, None, ('a', 'b'))\n"
        "pd = sys.modules.get('pandas')\n"
        "hold.set()\n"
        "future.result(10)\n"
        "print('whole' if pd is not None and hasattr(pd, 'Series') else 'missing')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "whole"
