"""Every page under AppTest: real Streamlit runs, the right matrices in the charts, no exceptions."""

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from attnviz import figures, ui
from attnviz.attention import core
from attnviz.model.embeddings import ToyEmbedder
from tests.apptest_charts import choose, heatmap, picker

ROOT = Path(__file__).resolve().parents[1]
STEP = "pages/1_Step_by_step.py"
ODD = ["", " ", "x" * 3000, "😀 你好", "<b>x</b>", "<img src=x onerror=alert(1)>", "a", "the the the"]


@pytest.fixture(scope="module", autouse=True)
def warm_model(model_ready):
    """The app's own loader, awaited: loaded once, shared by every AppTest run."""


def app(page: str | None = None, **params) -> AppTest:
    PagesManager.uses_pages_directory = None  # a class-level flag; let this app's pages/ folder set it
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def run_until_done(at: AppTest, button: str, run: str, *, max_ticks: int) -> int:
    """Press a page's start button and rerun until the session's run (session_state[run]) stops running:
    AppTest does not run a fragment's timer, so each rerun stands for one of its ticks. -> the ticks."""
    at.button(key=button).click().run()
    ticks = 0
    while at.session_state[run].running:
        assert ticks < max_ticks, "the run never ended"
        at.run()
        ticks += 1
        assert not at.exception, at.exception
    return ticks


def type_sentence(at: AppTest, text: str) -> AppTest:
    at.sidebar.text_input(key="_w_sentence").set_value(text).run()
    assert not at.exception, at.exception
    return at


def expected(minilm, text, *, special=False, scale="none", temperature=1.0):
    emb = minilm.static(text)
    emb = emb if special else emb.without_special()
    return core.self_attention(emb.vectors, emb.tokens, scale=scale, temperature=temperature)


def test_step_page_shows_the_seed_example(minilm):
    at = app(STEP, open="all")
    tr = expected(minilm, "hi how are you")
    assert tr.tokens == ("hi", "how", "are", "you")
    for key, matrix in [
        ("step_x", tr.x),
        ("step_scores", tr.scores),
        ("step_weights", tr.weights),
        ("step_y", tr.output),
    ]:
        z, rows, _ = heatmap(at, key)
        assert rows == ["hi", "how", "are", "you"], key
        np.testing.assert_allclose(z, matrix, rtol=1e-6, atol=1e-7, err_msg=key)
    assert not at.warning  # no notices for a plain sentence
    assert len(at.latex) >= 4  # a formula beside every matrix


@pytest.mark.parametrize("text", ["the cat sat on the mat", "Attention is all you need!", "a b a b"])
def test_step_page_after_typing(minilm, text):
    at = type_sentence(app(STEP, open="all"), text)
    tr = expected(minilm, text)
    z, rows, cols = heatmap(at, "step_weights")
    assert rows == cols == figures.token_labels(tr.tokens)
    np.testing.assert_allclose(z, tr.weights, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-9)
    assert at.query_params["s"] == text


@pytest.mark.parametrize("text", ODD)
def test_step_page_survives_odd_input(text):
    at = type_sentence(app(STEP, open="all"), text)
    if text.strip():
        z, _, _ = heatmap(at, "step_weights")
        np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-9)
    else:
        assert "empty" in at.info[0].value and not at.get("plotly_chart")


def test_odd_input_gives_notices(minilm):
    at = type_sentence(app(STEP, open="all"), "😀 你好 " + "word " * 400)
    notices = " ".join(w.value for w in at.warning).replace("\\", "")  # markdown-escaped
    assert "[UNK]" in notices and "not shown" in notices
    z, rows, _ = heatmap(at, "step_weights")
    assert z.shape == (254, 254) and len(rows) == 254


def test_settings_reach_the_maths(minilm):
    at = app(STEP, open="all", s="the cat sat", scale="sqrt-d", t="0.5", special="1")
    tr = expected(minilm, "the cat sat", special=True, scale="sqrt-d", temperature=0.5)
    z, rows, _ = heatmap(at, "step_weights")
    assert rows[0] == "[CLS]" and rows[-1] == "[SEP]"
    np.testing.assert_allclose(z, tr.weights, rtol=1e-6, atol=1e-9)
    at.sidebar.slider(key="_w_temperature").set_value(2.0).run()
    tr2 = expected(minilm, "the cat sat", special=True, scale="sqrt-d", temperature=2.0)
    np.testing.assert_allclose(heatmap(at, "step_weights")[0], tr2.weights, rtol=1e-6, atol=1e-9)
    assert at.query_params["t"] == "2.0"


def test_toy_embedding_shows_two_columns():
    at = app(STEP, open="all", s="hi how are You", e="toy")
    emb = ToyEmbedder()("hi how are You")
    z, rows, cols = heatmap(at, "step_x")
    assert cols == ["d1", "d2"] and rows == ["hi", "how", "are", "You"]
    np.testing.assert_array_equal(z, emb.vectors)
    np.testing.assert_allclose(heatmap(at, "step_weights")[0], core.self_attention(emb.vectors).weights)


def test_contextual_embedding(minilm):
    at = app(STEP, open="all", s="the bank of the river", e="contextual")
    emb = minilm.contextual("the bank of the river").without_special()
    tr = core.self_attention(emb.vectors, emb.tokens)
    np.testing.assert_allclose(heatmap(at, "step_weights")[0], tr.weights, atol=1e-5)


def test_shared_link_and_page_switch_keep_the_sentence():
    at = app(None, s="dogs chase cats")
    assert heatmap(at, "home_weights")[1] == ["dogs", "chase", "cats"]
    at.switch_page(STEP).run()
    assert heatmap(at, "step_weights")[1] == ["dogs", "chase", "cats"]
    assert at.sidebar.text_input(key="_w_sentence").value == "dogs chase cats"
    assert at.query_params["s"] == "dogs chase cats"
    type_sentence(at, "birds sing")
    at.switch_page("app.py").run()
    assert heatmap(at, "home_weights")[1] == ["birds", "sing"]


@pytest.mark.parametrize("params", [{"t": "nan"}, {"t": "99"}, {"e": "glove"}, {"scale": "x"}, {"special": "maybe"}])
def test_bad_url_settings_fall_back(params):
    at = app(STEP, open="all", **params)
    z, _, _ = heatmap(at, "step_weights")
    np.testing.assert_allclose(z.sum(axis=1), 1.0)


def test_query_token_choice_shows_its_row(minilm):
    at = app(STEP, open="all", s="hi how are you")
    choose(at, "step_query", "are")
    tr = expected(minilm, "hi how are you")
    from tests.apptest_charts import decode, figure

    bars = decode(figure(at, "step_row")["data"][0]["y"])
    np.testing.assert_allclose(bars, tr.weights[2], rtol=1e-9)


@pytest.mark.parametrize("text", ODD[:6])
def test_home_page_survives_odd_input(text):
    at = type_sentence(app(None), text)
    assert not at.exception


def test_without_the_model_the_app_runs_on_toy_embeddings(monkeypatch):
    from concurrent.futures import Future

    from attnviz.model.embeddings import ModelUnavailable

    failed = Future()
    failed.set_exception(ModelUnavailable("The MiniLM model could not be loaded (ImportError: no module)."))
    monkeypatch.setattr(ui.models, "model_future", lambda: failed)
    at = app(STEP, open="all", s="hi how are you")
    assert "could not be loaded" in at.sidebar.warning[0].value
    _, _, cols = heatmap(at, "step_x")
    assert cols == ["d1", "d2"]


LEARNED = "pages/2_Unparameterised_vs_learned.py"


def model_head(minilm, text, layer, head, *, special=False):
    out = minilm.forward(minilm.tokenize(text).ids, attentions=True)
    w = out.attentions[layer][0, head].numpy().astype(float)
    if not special:
        w = w[1:-1, 1:-1] / w[1:-1, 1:-1].sum(axis=1, keepdims=True)
    return w


def test_learned_page_shows_the_models_head(minilm):
    at = app(LEARNED, s="the cat sat on the mat")
    at.number_input(key="learned_layer").set_value(3).run()
    at.number_input(key="learned_head").set_value(7).run()
    assert not at.exception
    z, rows, _ = heatmap(at, "learned_right")
    assert rows == figures.token_labels(("the", "cat", "sat", "on", "the", "mat"))
    np.testing.assert_allclose(z, model_head(minilm, "the cat sat on the mat", 3, 7), atol=1e-5)
    left, _, _ = heatmap(at, "learned_left")
    np.testing.assert_allclose(left, expected(minilm, "the cat sat on the mat").weights, atol=1e-9)
    np.testing.assert_allclose(heatmap(at, "learned_diff")[0], z - left, atol=1e-6)
    assert not any("Checked against the model" in m.value for m in at.markdown)  # only when asked
    # the check runs when asked: both maxima printed, within the agreement the README states, and the same
    # numbers ui.model_check computes (tests/test_prose.py checks those against its own max |Δ|)
    at.button(key="learned_check").click().run()
    check = next(m.value for m in at.markdown if "Checked against the model" in m.value)
    shown = [float(v) for v in re.findall(r"at most (\d\.\de[+-]\d\d) \(all", check)]
    assert len(shown) == 2 and max(shown) <= 1e-5, check
    assert [f"{v:.1e}" for v in ui.model_check("the cat sat on the mat", ui.minilm())] == [f"{v:.1e}" for v in shown]


def test_learned_page_with_markers_and_causal_mask(minilm):
    at = app(LEARNED, s="dogs bark loudly", special="1")
    at.toggle(key="learned_causal").set_value(True).run()
    z, rows, _ = heatmap(at, "learned_right")
    assert rows[0] == "[CLS]"
    assert np.all(np.triu(z, k=1) == 0) and np.allclose(z.sum(axis=1), 1)
    assert np.all(np.triu(heatmap(at, "learned_left")[0], k=1) == 0)


def test_random_head_rerolls():
    at = app(LEARNED, s="one two three four")
    at.radio(key="learned_source").set_value("random").run()
    first, _, _ = heatmap(at, "learned_right")
    np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-6)
    at.button(key="learned_reroll").click().run()
    second, _, _ = heatmap(at, "learned_right")
    assert not np.allclose(first, second)


@pytest.mark.parametrize(
    "view,keys",
    [
        ("Model view: all 72 heads", ["learned_grid", "learned_right"]),
        ("Head view", ["learned_headview"]),
        ("Neuron view", ["neuron_q", "neuron_k", "neuron_products", "neuron_steps", "neuron_weights"]),
    ],
)
def test_learned_views(view, keys):
    at = app(LEARNED, s="the bank of the river")
    at.get("button_group")[0].set_value(view).run()
    assert not at.exception
    from tests.apptest_charts import figure

    for key in keys:
        figure(at, key)
    if view.startswith("Model"):
        assert len(figure(at, "learned_grid")["data"]) == 72


def test_neuron_view_numbers_add_up(minilm):
    at = app(LEARNED, s="hi how are you")
    at.get("button_group")[0].set_value("Neuron view").run()
    choose(at, "learned_query", "how")
    steps, _, _ = heatmap(at, "neuron_steps")
    products, _, _ = heatmap(at, "neuron_products")
    np.testing.assert_allclose(products.sum(axis=1), steps[:, 0], atol=1e-4)
    np.testing.assert_allclose(steps[:, 1], steps[:, 0] / np.sqrt(32), atol=1e-5)
    weights, _, _ = heatmap(at, "neuron_weights")
    np.testing.assert_allclose(weights[:, 0], model_head(minilm, "hi how are you", 0, 0, special=True)[2], atol=1e-5)


@pytest.mark.parametrize("text", ODD)
def test_learned_page_survives_odd_input(text):
    at = type_sentence(app(LEARNED), text)
    assert not at.exception


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    "$\\frac{1}{0}$ **bold** [a](javascript:alert(1))",
    "مرحبا بالعالم",
    "a\x00b\x1b[31mc",
    "😀" * 300,
    "x" * 10_000,
]


@pytest.mark.parametrize("page", [None, STEP, LEARNED, "pages/3_Geometry.py"])
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_shared_links(page, text):
    at = app(page, s=text)  # asserts no exception
    assert at.query_params["s"] == text
    for element in [*at.markdown, *at.caption, *at.info, *at.warning]:  # no HTML or math left unescaped
        assert not re.search(r"(?<!\\)[<>$]", element.value), element.value


MARKUP_TOKENS = ["<", ">", "$", "*", "_", "[", "`"]


@pytest.mark.parametrize("embedding", ["static", "toy"])
def test_tokens_with_markup_are_escaped_in_the_text(embedding):
    """User text reaches markdown as tokens: a token that is markup ("<", "$", "*" …) is shown escaped,
    so the caption reads “<” and Streamlit renders no tag, math or emphasis from it."""
    at = app(STEP, open="all", s="a < b > c $ d * e _ f [ g ` h", e=embedding)
    for token in MARKUP_TOKENS:
        choose(at, "step_query", token)
        caption = next(c.value for c in at.caption if "of W: the share" in c.value)
        assert f"“\\{token}”" in caption, caption  # backslash-escaped, as markdown needs
        assert not re.search(r"(?<!\\)[<>$*_`\[]", caption), caption


def test_rtl_and_control_notices():
    at = app(STEP, open="all", s="مرحبا a\x00b")
    notices = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "right to left" in notices and "control character" in notices


@pytest.mark.parametrize("t", ["0.05", "5.0"])
def test_temperature_bounds_on_the_step_page(minilm, t):
    at = app(STEP, open="all", s="the cat sat on the mat", t=t)
    z, _, _ = heatmap(at, "step_weights")
    np.testing.assert_allclose(z, expected(minilm, "the cat sat on the mat", temperature=float(t)).weights, atol=1e-9)
    assert np.all(np.isfinite(z))


def test_step_sections_open_from_the_url():
    """W alone by default; `open=` names the steps drawn (unknown names are ignored), `all` every one."""

    def keys(at):
        return [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]

    assert keys(app(STEP, s="dogs bark")) == ["step_weights"]
    assert sorted(keys(app(STEP, s="dogs bark", open="scores,nonsense"))) == ["step_scores"]
    at = app(STEP, s="dogs bark", open="all")
    assert sorted(keys(at)) == ["step_row", "step_scores", "step_weights", "step_x", "step_y"]
    assert at.query_params["open"] == "x,scores,w,y,row"


def test_one_labelling_of_a_repeated_word_on_every_page():
    """The second "the" is "the #2" wherever it is drawn: with [CLS]/[SEP] hidden (Step by step), shown
    (Query, key, value and the neuron view always show them) or shown by the sidebar's toggle. It was
    "the #5" on one page and "the #6" on the other: the position, which [CLS] shifts."""
    text = "the cat saw the dog"
    shown = ["the #1", "cat", "saw", "the #2", "dog"]
    assert heatmap(app(STEP, s=text), "step_weights")[1] == shown
    assert heatmap(app(STEP, s=text, special="1"), "step_weights")[1] == ["[CLS]", *shown, "[SEP]"]
    assert heatmap(app("pages/4_Query_key_value.py", s=text), "qkv_h")[1] == ["[CLS]", *shown, "[SEP]"]
    at = app("pages/2_Unparameterised_vs_learned.py", s=text)
    at.button_group(key="learned_view").set_value("Neuron view").run()
    assert heatmap(at, "neuron_k")[1] == ["[CLS]", *shown, "[SEP]"]
    assert picker(at, "learned_query").options == ["[CLS]", *shown, "[SEP]"]


def test_home_difference_of_two_sentences_prints_numbers_that_differ():
    """Home, two sentences: W_B − W_A's colours spanned ±0.004 while every cell read "0.00"."""
    from tests.apptest_charts import figure

    at = app(s="hi how are you", s2="hello how are you")
    trace = figure(at, "home_pair_diff")["data"][0]
    z, _, _ = heatmap(at, "home_pair_diff")
    d = int(trace["texttemplate"].removeprefix("%{z:.").removesuffix("f}"))
    lo, hi = trace["zmin"], trace["zmax"]
    assert hi - lo < 0.02  # a small difference: the case that read 0.00 in most cells
    step = (hi - lo) / 20  # a colour step
    for a in z.ravel():
        for b in z.ravel():
            if abs(a - b) >= step:
                assert f"{a:.{d}f}" != f"{b:.{d}f}", (a, b, d)


def test_captions_name_the_chosen_word_as_its_box_does():
    """The box says "the #2"; the sentences about the chosen word said only "the", which could be either."""
    text = "the cat saw the dog"

    def said(at) -> str:
        return " ".join(str(e.value) for e in (*at.caption, *at.markdown, *at.latex, *at.header))

    at = choose(app(STEP, s=text, open="row"), "step_query", "the #2")
    assert "“the \\#2”" in said(at)  # as markdown, escaped
    at = choose(app("pages/3_Geometry.py", s=text), "geo_token", "the #2")
    assert "“the \\#2”" in said(at)  # as markdown, escaped
    at = choose(app("pages/4_Query_key_value.py", s=text), "qkv_query", "the #2")
    assert "Follow “the \\#2” through the head" in said(at) and "\\text{the \\#2}" in said(at)
    at = app("pages/2_Unparameterised_vs_learned.py", s=text)
    at.button_group(key="learned_view").set_value("Neuron view").run()
    at = choose(at, "learned_query", "the #2")
    assert "The query vector of “the \\#2”" in said(at)
