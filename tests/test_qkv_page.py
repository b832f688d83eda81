"""The Query, key, value page and the two-sentence views under AppTest: every number in the charts and
captions recomputed independently (torch modules of the model, or NumPy from the raw embeddings)."""

import re

import numpy as np
import pytest
import torch

from attnviz import figures
from tests import reference as ref
from tests.apptest_charts import choose, decode, figure, heatmap, picker
from tests.test_cross import TROPHY_BIG, TROPHY_SMALL, torch_cross
from tests.test_pages import HOSTILE, app, expected
from tests.test_qkv import torch_layer

QKV = "pages/4_Query_key_value.py"
PAIR = {"s": TROPHY_BIG, "s2": TROPHY_SMALL}


@pytest.fixture(scope="module", autouse=True)
def warm_model(model_ready):
    """The app's own loader, awaited (tests/conftest.py), whichever test runs first."""


def panel(at, key: str, i: int) -> tuple[np.ndarray, list[str]]:
    """(z, rows) of the i-th matrix of a figure of panels."""
    trace = figure(at, key)["data"][i]
    return decode(trace["z"]).astype(float), list(trace["y"])


def close(ours, theirs, atol=1e-5):
    diff = float(np.nanmax(np.abs(np.asarray(ours, dtype=float) - theirs)))
    assert diff <= atol, diff


def plain(text: str) -> str:
    """Markdown-escaped page text as the user reads it."""
    return text.replace("\\", "")


def test_the_head_walk_shows_the_models_numbers(minilm):
    text = "The cat sat on the mat because it was tired"
    at = app(QKV, s=text)
    at.number_input(key="qkv_layer").set_value(2).run()
    at.number_input(key="qkv_head").set_value(5).run()
    assert not at.exception
    ref = torch_layer(minilm, text, 2)
    tokens = minilm.tokenize(text).tokens
    n = len(tokens)
    z, rows, _ = heatmap(at, "qkv_h")
    assert rows == figures.token_labels(tokens)
    close(z, ref["h"])
    for i, name in enumerate("qkv"):
        close(panel(at, "qkv_qkv", i)[0], ref[name][5])
    s, w = panel(at, "qkv_scores", 0)[0], panel(at, "qkv_scores", 1)[0]
    close(s, ref["q"][5] @ ref["k"][5].T / np.sqrt(32))
    close(w, ref["model_weights"][5])
    close(heatmap(at, "qkv_z")[0], ref["model_weights"][5] @ ref["v"][5])
    # the followed query (default: the first word), its dots, weights, weighted values and their sum
    q = 1
    dots, rows = panel(at, "qkv_follow", 0)
    assert rows[-1] == "= z (the sum)" and len(rows) == n + 1
    close(dots[:n, 0], ref["k"][5] @ ref["q"][5][q], atol=1e-4)
    close(dots[:n, 1], s[q])
    close(panel(at, "qkv_follow", 1)[0][:n, 0], w[q])
    terms = panel(at, "qkv_follow", 2)[0]
    close(terms[:n], w[q][:, None] * ref["v"][5])
    close(terms[n], w[q] @ ref["v"][5])
    # numbers in the captions
    captions = " ".join(plain(c.value) for c in at.caption)
    best = int(np.argmax(s[q]))
    assert f"on the key of “{tokens[best]}”: {s[q, best]:.4f}, weight {w[q, best]:.4f}" in captions
    top = int(np.argmax(w[q]))
    assert f"The largest share, {w[q, top]:.3f}, comes from “{tokens[top]}”" in captions
    assert f"{n} word pieces, [CLS] and [SEP] included" in captions


def test_the_layer_around_the_head(minilm):
    text = "it was too big"
    at = app(QKV, s=text)
    at.number_input(key="qkv_layer").set_value(4).run()
    at.number_input(key="qkv_head").set_value(1).run()
    at.get("button_group")[0].set_value(at.get("button_group")[0].options[1]).run()
    assert not at.exception
    ref = torch_layer(minilm, text, 4)
    for key, name in [("qkv_heads", "merged"), ("qkv_mixed", "mixed"), ("qkv_normed", "normed"), ("qkv_next", "next")]:
        close(heatmap(at, key)[0], ref[name])
    shapes = figure(at, "qkv_heads")["layout"]["shapes"]
    assert shapes[0]["x0"] == 32 + 0.5 and shapes[0]["x1"] == 64 + 0.5  # head 1's columns outlined


def test_query_choice_and_random_projections():
    at = app(QKV, s="one two three four")
    choose(at, "qkv_query", "three")
    shapes = figure(at, "qkv_qkv")["layout"]["shapes"]
    assert shapes[0]["y0"] == 3 - 0.5  # the row of "three" ([CLS] is row 0)
    learned = panel(at, "qkv_scores", 1)[0]
    at.radio(key="qkv_source").set_value("random").run()
    first = panel(at, "qkv_scores", 1)[0]
    assert not np.allclose(first, learned)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-6)
    at.button(key="qkv_reroll").click().run()
    second = panel(at, "qkv_scores", 1)[0]
    assert not np.allclose(first, second)
    assert "random projections in layer 0, head 0" in " ".join(c.value for c in at.caption)


def test_cross_attention_on_the_page(minilm):
    a, b = "The cat sat on the mat.", "Le chat est assis sur le tapis."
    at = app(QKV, s=a, s2=b)
    at.number_input(key="qkv_layer").set_value(3).run()
    assert not at.exception
    _, w, z = torch_cross(minilm, a, b, 3, 0, special=False)
    got, rows, cols = heatmap(at, "qkv_cross_learned")
    assert rows == figures.token_labels(minilm.static(a).without_special().tokens)
    assert cols == figures.token_labels(minilm.static(b).without_special().tokens)
    close(got, w)
    close(heatmap(at, "qkv_cross_learned_z")[0], z)
    xa, xb = minilm.static(a).without_special().vectors, minilm.static(b).without_special().vectors
    scores = xa @ xb.T
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    close(heatmap(at, "qkv_cross_plain")[0], e / e.sum(axis=1, keepdims=True), atol=1e-9)
    close(heatmap(at, "qkv_cross_plain_y")[0], (e / e.sum(axis=1, keepdims=True)) @ xb, atol=1e-5)
    warning = " ".join(plain(x.value) for x in at.warning)
    pieces = [t for t in minilm.tokenize(b).tokens[1:-1]]
    words, extra = sum(not t.startswith("##") for t in pieces), sum(t.startswith("##") for t in pieces)
    assert f"MiniLM was trained on English. Sentence B falls apart: {words} words became {extra} extra" in warning
    assert "translation" in " ".join(c.value for c in at.caption)


def test_english_pair_gets_no_language_warning():
    at = app(QKV, **PAIR)
    assert not any("trained on English" in x.value for x in at.warning)
    assert "Type a second sentence" not in " ".join(c.value for c in at.caption)
    at2 = app(QKV, s=TROPHY_BIG)
    assert "Type a second sentence" in " ".join(c.value for c in at2.caption)
    assert not [c for c in at2.get("plotly_chart") if "cross" in c.proto.id]


def home_w(minilm, text):
    e = minilm.static(text).without_special()
    s = e.vectors @ e.vectors.T
    x = np.exp(s - s.max(axis=1, keepdims=True))
    return e.tokens, x / x.sum(axis=1, keepdims=True)


def check_pair(at, minilm, prefix, wa, wb, ta, tb):
    """Both W side by side, W_B − W_A on the shared pieces, and the followed word's favourite keys."""
    close(heatmap(at, f"{prefix}_a")[0], wa, atol=1e-6)
    close(heatmap(at, f"{prefix}_b")[0], wb, atol=1e-6)
    # the trophy pair: every piece is shared but the last ("big" / "small"), in the same positions
    ia = [i for i, t in enumerate(ta) if t != "big"]
    ib = [j for j, t in enumerate(tb) if t != "small"]
    assert [ta[i] for i in ia] == [tb[j] for j in ib]
    diff = wb[np.ix_(ib, ib)] - wa[np.ix_(ia, ia)]
    got, rows, _ = heatmap(at, f"{prefix}_diff")
    assert rows == figures.token_labels([ta[i] for i in ia])
    close(got, diff, atol=1e-6)
    word = int(np.argmax(np.abs(diff).sum(axis=1)))
    assert picker(at, f"{prefix}_word").value == word
    sentence = next(plain(m.value) for m in at.markdown if "attends most to" in m.value)

    def favourites(row, tokens):
        order = np.argsort(-row, kind="stable")[:3]
        labels = ref.labels(tokens)
        return ", ".join(f"“{labels[j]}” {row[j]:.3f}" for j in order)

    assert sentence == (
        f"“{ta[ia[word]]}” attends most to {favourites(wa[ia[word]], ta)} in A, "
        f"and to {favourites(wb[ib[word]], tb)} in B."
    )
    # the teacher's question: what does "it" attend to in each?
    choose(at, f"{prefix}_word", "it")
    it = ta.index("it")
    sentence = next(plain(m.value) for m in at.markdown if "attends most to" in m.value)
    assert sentence.startswith(f"“it” attends most to {favourites(wa[it], ta)} in A")


@pytest.mark.parametrize("page,prefix", [(None, "home_pair"), ("pages/1_Step_by_step.py", "step_pair")])
def test_two_sentences_side_by_side_seed_attention(minilm, page, prefix):
    at = app(page, **PAIR)
    (ta, wa), (tb, wb) = home_w(minilm, TROPHY_BIG), home_w(minilm, TROPHY_SMALL)
    check_pair(at, minilm, prefix, wa, wb, ta, tb)
    assert at.query_params["s2"] == TROPHY_SMALL


def test_two_sentences_on_the_learned_page(minilm):
    # layer 0, head 0 as the page opens: the followed word defaults to the one whose row changes most
    # (after a change of head the selectbox keeps the user's word, as Streamlit keeps a widget's value)
    at = app("pages/2_Unparameterised_vs_learned.py", **PAIR)

    def head(text):
        pieces = minilm.tokenize(text)
        w = minilm.forward(pieces.ids, attentions=True).attentions[0][0, 0].numpy().astype(float)[1:-1, 1:-1]
        return pieces.tokens[1:-1], w / w.sum(axis=1, keepdims=True)

    (ta, wa), (tb, wb) = head(TROPHY_BIG), head(TROPHY_SMALL)
    check_pair(at, minilm, "learned_pair", wa, wb, ta, tb)
    at.number_input(key="learned_layer").set_value(2).run()
    at.number_input(key="learned_head").set_value(6).run()
    for key, text in (("learned_pair_a", TROPHY_BIG), ("learned_pair_b", TROPHY_SMALL)):
        w = minilm.forward(minilm.tokenize(text).ids, attentions=True).attentions[2][0, 6].numpy()[1:-1, 1:-1]
        close(heatmap(at, key)[0], w / w.sum(axis=1, keepdims=True))


def test_two_sentences_on_the_qkv_page(minilm):
    at = app(QKV, **PAIR, special="1")
    with torch.no_grad():
        wa = torch_layer(minilm, TROPHY_BIG, 0)["model_weights"][0]
        wb = torch_layer(minilm, TROPHY_SMALL, 0)["model_weights"][0]
    ta = minilm.tokenize(TROPHY_BIG).tokens
    close(heatmap(at, "qkv_pair_a")[0], wa)
    close(heatmap(at, "qkv_pair_b")[0], wb)
    ia = [i for i, t in enumerate(ta) if t != "big"]
    close(heatmap(at, "qkv_pair_diff")[0], wb[np.ix_(ia, ia)] - wa[np.ix_(ia, ia)])  # same positions in B


def test_two_sentences_on_the_geometry_page(minilm):
    at = app("pages/3_Geometry.py", **PAIR)
    a, b = expected(minilm, TROPHY_BIG), expected(minilm, TROPHY_SMALL)
    for key, tr in (("geo_pair_a", a), ("geo_pair_b", b)):
        assert next(t["text"] for t in figure(at, key)["data"] if t.get("name") == "before: X") == list(
            figures.token_labels(tr.tokens)
        )
    moved, rows, cols = heatmap(at, "geo_pair_moved")
    assert cols == ["A", "B", "B − A"] and "big" not in rows
    da = np.linalg.norm(a.output - a.x, axis=1)
    db = np.linalg.norm(b.output - b.x, axis=1)
    ia = [i for i, t in enumerate(a.tokens) if t != "big"]
    close(moved[:, 0], da[ia], atol=1e-6)
    close(moved[:, 1], db[ia], atol=1e-6)
    close(moved[:, 2], db[ia] - da[ia], atol=1e-6)


def test_second_sentence_box_and_url():
    at = app(None, s="hi how are you")
    assert "s2" not in at.query_params  # empty = off, not in the link
    at.sidebar.text_input(key="_w_sentence2").set_value("hello there").run()
    assert at.query_params["s2"] == "hello there"
    assert [c for c in at.get("plotly_chart") if c.proto.id.endswith("-home_pair_b")]
    at.switch_page(QKV).run()
    assert at.sidebar.text_input(key="_w_sentence2").value == "hello there"
    assert [c for c in at.get("plotly_chart") if c.proto.id.endswith("-qkv_cross_learned")]
    at.sidebar.text_input(key="_w_sentence2").set_value("").run()
    assert "s2" not in at.query_params and not at.exception
    assert not [c for c in at.get("plotly_chart") if "pair" in c.proto.id or "cross" in c.proto.id]


PAGES = [None, "pages/1_Step_by_step.py", "pages/2_Unparameterised_vs_learned.py", "pages/3_Geometry.py", QKV]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("text", ["", "   ", *HOSTILE, "😀 你好", "&lt;b&gt; %{z} $x$"])
def test_hostile_second_sentence(page, text):
    at = app(page, s="it was too big", s2=text)  # asserts no exception
    assert at.query_params.get("s2", "") == (text if text else "")
    for element in [*at.markdown, *at.caption, *at.info, *at.warning]:  # user text never reaches markdown unescaped
        assert "<img" not in element.value and "<script" not in element.value
        assert not re.search(r"(?<!\\)\$", element.value), element.value  # no unescaped math
    pairs = [c for c in at.get("plotly_chart") if "pair" in c.proto.id]
    assert bool(pairs) == bool(text.strip())


@pytest.mark.parametrize("text", ["", "x" * 3000, "<b>x</b>", "😀 你好", "a"])
def test_qkv_page_survives_odd_first_sentences(text):
    at = app(QKV, s=text)
    if not text.strip():
        assert "empty" in at.info[0].value and not at.get("plotly_chart")
    else:
        np.testing.assert_allclose(panel(at, "qkv_scores", 1)[0].sum(axis=1), 1.0, atol=1e-5)
