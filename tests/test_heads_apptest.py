"""The Heads page under AppTest: a shared link's settings, the census grid and every number its captions print
(recomputed here, the typed sentence's from torch), the papers' table, removing heads (the metric against
sentence-transformers with hooks), the pruning curve computed in the background with Stop, bad input, and the
learned page's "What is this head?".

AppTest does not run a fragment's timer: each `at.run()` after a pause stands for one tick of it."""

import collections
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import ui
from attnviz.model import ablation, census, qkspace
from tests import heads_reference as ref
from tests.apptest_charts import decode, figure
from tests.test_pages import app as pages_app

PAGE = "pages/10_Heads.py"
TEXT = "The gardener watered the roses, then she rested."


def settle(at: AppTest, done, timeout: float = 120) -> AppTest:
    """Rerun (a fragment tick) until done(at) holds."""
    end = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < end, "the page never got there"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception
    return at


def ready(at: AppTest) -> bool:
    return any(h.value == "One head" for h in at.header)


def app(**params) -> AppTest:
    """The page with every section open (they are closed at first; test_sections_are_closed_at_first)."""
    return settle(pages_app(PAGE, **{"open": "all", **params}), ready)


@pytest.fixture(scope="module")
def corpus(served):
    return census.census(served.weights, census.corpus_pairs(qkspace.load_corpus(), served.tokenize))


def grid_z(at: AppTest) -> np.ndarray:
    return decode(figure(at, "heads_grid")["data"][0]["z"])


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_a_link_sets_the_view_and_the_grid_is_the_corpus_census(model_ready, corpus):
    at = app(s=TEXT, stat="previous", layer="1", head="8")
    assert at.selectbox(key="_w_heads_stat").value == "previous"
    assert at.number_input(key="_w_heads_layer").value == 1 and at.number_input(key="_w_heads_head").value == 8
    np.testing.assert_allclose(grid_z(at), corpus.stats["previous"], atol=1e-9)
    top = np.unravel_index(int(np.argmax(corpus.stats["previous"])), (6, 12))
    want = f"the highest is layer {top[0]}, head {top[1]} ({corpus.stats['previous'][top]:.2f})."
    assert any(want in c for c in captions(at))
    assert any(
        m.value.startswith(f"**{ui.md_escape(corpus.why(1, 8))}** On your sentence alone it is ") for m in at.markdown
    )


def test_the_typed_sentence_is_measured_as_torch_says(model_ready, minilm):
    at = app(s=TEXT, over="sentence", stat="entropy", layer="0", head="2")
    pieces = minilm.tokenize(TEXT)
    att = ref.attentions(minilm, pieces.ids)
    want = ref.stats(att, list(pieces.tokens), [len(pieces.ids) - 1])
    np.testing.assert_allclose(grid_z(at), want["entropy"], atol=1e-4)
    np.testing.assert_allclose(decode(figure(at, "heads_pattern")["data"][0]["z"]), att[0, 2], atol=1e-5)
    table = next(m.value for m in at.markdown if "| statistic |" in m.value)
    for k, label in census.STATS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert float(row.split("|")[3]) == pytest.approx(want[k][0, 2], abs=1.5e-3), k
    latex = " ".join(x.value for x in at.get("latex"))
    assert f"{want['to_cls'][0, 2]:.3f}" in latex and f"{want['entropy'][0, 2]:.3f}" in latex
    n = len(pieces.ids)
    assert any(
        f"({n} tokens; uniform attention would have entropy ln {n} = {np.log(n):.3f})" in c for c in captions(at)
    )
    at.selectbox(key="_w_heads_stat").set_value("class").run()
    counts = ", ".join(f"{int((census.Census(want, np.log(n), 1).classes == c).sum())} {c}" for c in census.CLASSES)
    assert any(counts in c for c in captions(at))


def test_beside_the_papers_every_number_is_the_census(model_ready, corpus):
    at = app(s=TEXT)
    means = {k: corpus.stats[k].mean(axis=1) for k in ("to_cls", "to_sep")}
    sinks = ", ".join(f"layer {i}: {c:.0%} on [CLS], {s:.0%} on [SEP]" for i, (c, s) in enumerate(zip(*means.values())))
    assert any(sinks in c for c in captions(at))
    bars = figure(at, "heads_sinks")["data"]
    np.testing.assert_allclose(decode(bars[0]["y"]), means["to_cls"], atol=1e-9)
    md = [m.value for m in at.markdown]
    assert census.sink_sentence(corpus) in md
    table = next(m for m in md if m.startswith("| | BERT-base"))
    for f in census.findings(corpus):
        assert f"| {f.what} | {f.paper} | {f.minilm} | {f.source} |" in table


def test_removing_heads_moves_what_sentence_transformers_says(model_ready, minilm, served):
    at = app(s=TEXT)
    assert at.info[-1].value.startswith("Choose heads to remove")
    at.button[1].click().run()  # the previous-token head(s)
    assert at.multiselect(key="_w_heads_ablate").value == ["0.2"]
    intact = ref.embedding(minilm, TEXT)
    want = ref.cosine(ref.embedding(minilm, TEXT, [(0, 2)]), intact)
    assert float(at.metric[0].value) == pytest.approx(want, abs=2e-4)
    pieces = served.tokenize(TEXT)
    from attnviz.model import bert

    ab = ablation.ablate(served.weights, pieces.ids, pieces.tokens, bert.forward(served.weights, pieces.ids), [(0, 2)])
    assert any(", ".join(f"{c:.4f}" for c in ab.layer_cosine) in c for c in captions(at))
    assert not any("Nothing moves before" in c for c in captions(at))  # the lowest removed layer is 0: no claim
    at.toggle(key="_w_heads_uniform").set_value(True).run()
    want = ref.cosine(ref.embedding(minilm, TEXT, [(0, 2)], uniform=True), intact)
    assert float(at.metric[0].value) == pytest.approx(want, abs=2e-4)
    at.multiselect(key="_w_heads_ablate").set_value(["3.4", "5.0"]).run()
    assert at.query_params["ablate"] in (["3.4,5.0"], "3.4,5.0")
    assert any("Nothing moves before layer 3, the lowest layer with a removed head." in c for c in captions(at))


def test_the_pruning_curve_runs_in_the_background_and_says_where_it_bends(model_ready, served):
    ui.pruning_run.clear()
    at = app(s=TEXT, seed="7")
    at = settle(at, lambda a: not any(p for p in a.get("progress")))  # importance measured
    at.button(key="heads_prune").click().run()
    at = settle(at, lambda a: any(m.value.startswith("Removed least important first") for m in a.markdown))
    weights = served.weights
    sentences = qkspace.load_corpus()
    corpus = ablation.texts(weights, sentences[: ablation.SENTENCES], served.tokenize)
    triples = ablation.texts(weights, [s for t in ablation.load_paraphrases() for s in t], served.tokenize)
    importance = np.zeros((6, 12))
    for (la, h), v in ablation.importance_steps(weights, corpus):
        importance[la, h] = v
    curve = collections.deque(ablation.curve_steps(weights, corpus, triples, importance, seed=7), maxlen=1)[0]
    assert curve.describe() in [m.value for m in at.markdown]
    lines = figure(at, "heads_curve")["data"]
    np.testing.assert_allclose(decode(lines[0]["y"]), curve.cosine["importance"], atol=1e-6)
    np.testing.assert_allclose(decode(lines[3]["y"]), curve.paraphrase["random"], atol=1e-9)
    assert at.button(key="heads_prune").disabled  # done: nothing to press


def test_stop_keeps_the_points_so_far(model_ready):
    ui.pruning_run.clear()
    at = app(s=TEXT, seed="8")
    at = settle(at, lambda a: not any(p for p in a.get("progress")))
    at.button(key="heads_prune").click().run()
    at.button(key="heads_stop").click().run()
    at = settle(at, lambda a: any(c.startswith("Stopped after") for c in captions(a)))
    run = ui.pruning_run(8, False)
    assert 1 <= len(run.curve.fractions) < len(ablation.FRACTIONS)
    assert f"Stopped after {len(run.curve.fractions)} of 11 points" in " ".join(captions(at))


def test_sections_are_closed_at_first_and_open_from_the_url(model_ready, corpus):
    at = settle(pages_app(PAGE, s=TEXT), ready)
    assert [e.label for e in at.expander] == [
        "**MiniLM beside BERT**: where each layer's attention goes, and the papers' figures",
        "**Remove heads**: what moves when heads are zeroed or made uniform",
        "**How many heads can go?** The pruning curve",
    ]
    charts = [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]
    assert charts == ["heads_grid", "heads_pattern"]  # a closed section's code does not run
    assert census.sink_sentence(corpus) in [m.value for m in at.markdown]  # the finding is said up top
    at = settle(pages_app(PAGE, s=TEXT, open="remove"), ready)
    assert [b.label for b in at.button][:1] == [f"The {corpus.count('vertical')} vertical heads"]
    assert "heads_sinks" not in [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]


@pytest.mark.parametrize("text", ["", "<b>bold</b> & <script>alert(1)</script>", "🙂 你好"])
def test_bad_or_odd_input_is_a_message_never_a_traceback(model_ready, text):
    at = pages_app(PAGE, s=text, open="all")
    at = settle(at, lambda a: ready(a) or any(i.value.startswith("The sentence is empty") for i in a.info))
    assert not at.exception
    if text:
        assert ready(at)


def test_the_learned_page_opens_heads_on_its_head(model_ready):
    at = pages_app("pages/2_Unparameterised_vs_learned.py", s=TEXT)
    at.number_input(key="learned_layer").set_value(3).run()
    at.number_input(key="learned_head").set_value(9).run()
    at.button(key="learned_what").click().run()
    at = settle(at, ready)
    assert at.number_input(key="_w_heads_layer").value == 3 and at.number_input(key="_w_heads_head").value == 9
    assert at.query_params["layer"] in (["3"], "3") and at.query_params["head"] in (["9"], "9")
