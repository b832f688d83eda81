"""The prose guard on the Query, key, value page (MiniLM's heads, random heads, the layer around, two
sentences, the layer trained on the Train page): every number its captions print, recomputed."""

import re

import numpy as np
import pytest

from tests import reference as ref
from tests.apptest_charts import heatmap
from tests.prose import COMMON, Prose
from tests.test_pages import app
from tests.test_prose import WORDS, labels, notices
from tests.test_training_page import app as train_app
from tests.test_training_page import train

QKV = "pages/4_Query_key_value.py"
QKV_FIXED = (
    *COMMON,
    r"\tfrac{QK^\top}{\sqrt{32}}",
    r"[Z_0|\cdots|Z_{11}]\,W_o + b_o",
    "2 · Queries, keys and values",
    "3 · Scores, and 4 · weights",
    "5 · Output: Z = W V",
    "6 · All 12 heads",
    r"Z_{11}",
    r"Z_0 \mid Z_1",
    "7 · Mixed back",
    "8 · Residual",
    "mean 0 and variance 1",
    r"W_1 + b_1)\, W_2 + b_2",
    "steps 2–5",
    "the Z of step 5",
    r"\sqrt{32}",
    "add up to 1",
    "32 numbers each",
    "all-MiniLM-L6-v2",
    r"[\,Z_0 \mid \cdots\,]",
    "each row adds up to 1",
)


@pytest.fixture(autouse=True)
def _model(model_ready):
    """Every page here is read with the model loaded."""


def head_part(prose: Prose, text: str, layer: int, head: int, query: int, random_seed: int | None = None) -> None:
    """Part 1 for MiniLM's head, or (random_seed) for random W_q, W_k ~ N(0, 1/384) drawn as the README says
    (one N(0, 1/d) draw of [3, 384, 384] from the seed, the head's 32 columns, zero biases) on the model's own H."""
    tokens = ref.static(text, special=True)[0]
    n = len(tokens)
    labels = ref.labels(tokens)  # a repeated piece is named "the #2", as in the charts
    if random_seed is None:
        q, k, _ = ref.qkv(text, layer, head)
        s = q @ k.T / np.sqrt(32)
        w = ref.heads(text, special=True)[layer, head]
        name = "MiniLM layer"
    else:
        m = np.random.default_rng(random_seed).normal(0.0, 1.0 / np.sqrt(384), size=(3, 384, 384))
        cols = slice(32 * head, 32 * head + 32)
        h = ref.hidden(text)[layer].astype(np.float64)
        q, k = h @ m[0][:, cols].astype(np.float32), h @ m[1][:, cols].astype(np.float32)
        s = q @ k.T / np.sqrt(32)
        w = ref.softmax_rows(s)
        name = "random projections in layer"
    prose.has(f"The pipeline of {name} {layer}, head {head}. {n} word pieces, [CLS] and [SEP] included")
    prose.has(f"1 · H, the input to layer {layer}", rf"\in \mathbb{{R}}^{{{n} \times 384}}")
    if layer > 0:
        prose.has(
            rf"H = \text{{output of layer {layer - 1}}}",
            f"what layer {layer - 1} handed on: every piece already mixed with its context {layer} time(s)",
        )
    prose.has("One row per word piece, 384 features each")
    prose.has(rf"W_\ast \in \mathbb{{R}}^{{384 \times 32}},\; Q, K, V \in \mathbb{{R}}^{{{n} \times 32}}")
    prose.has(r"S_{ij} = \frac{q_i \cdot k_j}{\sqrt{32}}", "divided by √32")
    best = int(np.argmax(s[query]))
    prose.has(
        f"scores highest on the key of “{labels[best]}”: {s[query, best]:.4f}, weight {w[query, best]:.4f}. "
        + ref.describe(w, tokens)
    )
    prose.has(rf"z_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}\, v_j", rf"Z = W V \in \mathbb{{R}}^{{{n} \times 32}}")
    term = r"(\d\.\d{3})\\, v_\{\\text\{([^}]*)\}\}"
    terms, more = prose.take(r"z_\{\\text\{[^}]*\}\} = \\sum_j w_j\\, v_j = (.*?)( \+ \\dots)?\s*\$\$")[0]
    shown = re.findall(term, terms)
    assert len(shown) == min(n, 3) and bool(more) == (n > 3)
    names = [label.replace("#", r"\#") for label in labels]  # as LaTeX text
    for value, name in shown:
        assert any(f"{w[query, j]:.3f}" == value for j in range(n) if names[j] == name), (name, value)
    largest = sorted(w[query])[::-1][: len(shown)]
    assert [v for v, _ in shown] == [f"{x:.3f}" for x in largest]  # the largest weights, largest first
    top = int(np.argmax(w[query]))
    prose.has(f"The largest share, {w[query, top]:.3f}, comes from “{labels[top]}”.")


@pytest.mark.parametrize(
    ("text", "layer", "head"),
    [
        ("The cat sat on the mat because it was tired", 2, 5),
        ("the the the the", 0, 0),
        ("hello", 5, 11),
        ("I love 😀 and 你好 too", 3, 1),
        (" ".join(WORDS[i % len(WORDS)] for i in range(200)), 1, 7),
    ],
)
def test_qkv_page_head_text(text, layer, head):
    at = app(QKV, s=text)
    at.number_input(key="qkv_layer").set_value(layer).run()
    at.number_input(key="qkv_head").set_value(head).run()
    assert not at.exception
    prose = Prose(at)
    notices(text, prose)
    n = len(ref.static(text, special=True)[0])
    head_part(prose, text, layer, head, min(1, n - 1))  # the first word after [CLS] is followed
    prose.has("Type a second sentence")
    prose.named(ref.labels(ref.static(text, special=True)[0])).fixed(*QKV_FIXED).done()


@pytest.mark.parametrize(("layer", "head", "rolls"), [(0, 0, 0), (3, 7, 2)])
def test_qkv_page_random_head_text(layer, head, rolls):
    """The random source's part 1: its scores, weights and the pattern sentence (a random head rarely has one)."""
    text = "The cat sat on the mat because it was tired"
    at = app(QKV, s=text)
    at.radio(key="qkv_source").set_value("random").run()
    at.number_input(key="qkv_layer").set_value(layer).run()
    at.number_input(key="qkv_head").set_value(head).run()
    for _ in range(rolls):
        at.button(key="qkv_reroll").click().run()
    assert not at.exception
    prose = Prose(at)
    head_part(prose, text, layer, head, 1, random_seed=rolls)
    prose.has("Type a second sentence")
    prose.named(ref.labels(ref.static(text, special=True)[0])).fixed(*QKV_FIXED).done()


@pytest.mark.parametrize(("layer", "head"), [(0, 3), (4, 1), (5, 11)])
def test_qkv_page_layer_text(layer, head):
    text = "it was too big for the case"
    at = app(QKV, s=text)
    at.number_input(key="qkv_layer").set_value(layer).run()
    at.number_input(key="qkv_head").set_value(head).run()
    at.get("button_group")[0].set_value(at.get("button_group")[0].options[1]).run()
    assert not at.exception
    config = ref.model()[0].auto_model.config
    heads, width, inner = config.num_attention_heads, config.hidden_size, config.intermediate_size
    n = len(ref.static(text, special=True)[0])
    tokens = ref.static(text, special=True)[0]
    prose = Prose(at)
    prose.has(f"The pipeline of MiniLM layer {layer}, head {head}. {n} word pieces")
    prose.has(f"6 · All {heads} heads side by side")
    prose.has(rf"\in \mathbb{{R}}^{{{n} \times {heads * 32}}}")
    prose.has(
        f"Every head of layer {layer} does", f"{width // heads} columns each. The outlined columns are head {head},"
    )
    prose.has(rf"W_o \in \mathbb{{R}}^{{{heads * 32} \times {width}}}")
    last = layer == config.num_hidden_layers - 1
    prose.has("9 · The model’s output" if last else f"9 · The input to layer {layer + 1}")
    prose.has(f"({width} → {inner} → {width})")
    prose.has(f"Row “{ref.labels(tokens)[1]}” has now seen the whole sentence {layer + 1} time(s).")
    prose.has("Type a second sentence")
    prose.fixed(*QKV_FIXED).done()


def test_qkv_page_two_sentences_text():
    a, b = "The cat sat on the mat.", "Le chat est assis sur le tapis."
    at = app(QKV, s=a, s2=b)
    at.number_input(key="qkv_layer").set_value(3).run()
    prose = Prose(at)
    head_part(prose, a, 3, 0, 1)
    ta, tb = ref.static(a)[0], ref.static(b)[0]
    prose.has("MiniLM layer 3, head 0")  # the heading and the pair's caption
    prose.has("H_A and H_B are each sentence's own input to layer 3")
    words = sum(not t.startswith("##") for t in tb)
    extra = sum(t.startswith("##") for t in tb)
    unknown = sum(t == "[UNK]" for t in tb)
    prose.has(f"Sentence B falls apart: {words} words became {extra} extra '##' pieces and {unknown} [UNK].")
    from tests.test_prose import lcs

    prose.has(f"The {lcs(ta, tb)} pieces the two sentences share, paired in reading order")
    wa = ref.heads(a)[3, 0]
    wb = ref.heads(b)[3, 0]
    word, rest = prose.take(r"“([^”]+)” attends most to (.*) in B\.")[0]
    for part, tokens, w in zip(rest.split(" in A, and to "), (ta, tb), (wa, wb)):
        if tokens.count(word) != 1:
            continue
        row, names = w[tokens.index(word)], labels(tokens)
        order = np.argsort(-row, kind="stable")[:3]
        assert re.findall(r"“([^”]+)” (\d\.\d{3})", part) == [(names[j], f"{row[j]:.3f}") for j in order]
    prose.named(ref.labels(ref.static(a, special=True)[0])).fixed(*QKV_FIXED).done()


TRAINED_FIXED = (*QKV_FIXED, r"\sqrt{d_{head}}", r"W_{q,k,v}")


@pytest.mark.parametrize(("task", "seed"), [("reverse", 7), ("previous-token", 2), ("first-token", 1), ("largest", 0),
                                            ("copy", 3)])  # fmt: skip
def test_trained_layer_head_part_text(task, seed):
    """Part 1 of the QKV page on the layer trained on the Train page: every number from the trained weights
    and the sequence's letters by hand (X one-hot), the pattern sentence by the test's own reading."""
    at = train_app(task=task, seed=str(seed), live="0")
    train(at)
    params = at.session_state["train_run"].trainer.params  # what was trained: the data the page walks through
    at.switch_page(QKV).run()
    at.radio(key="qkv_source").set_value("trained").run()
    assert not at.exception
    rows = heatmap(at, "qkv_scores")[1]  # position:letter labels, as drawn
    letters = [ord(label.split(":")[1]) - ord("a") for label in rows]
    n, d, dh = len(letters), 26 + len(letters), params["W_q"].shape[1]
    x = np.zeros((n, d))
    x[np.arange(n), letters] = 1.0
    x[np.arange(n), 26 + np.arange(n)] = 1.0
    q, k = x @ params["W_q"], x @ params["W_k"]
    s = q @ k.T / np.sqrt(dh)
    causal = task in ("previous-token", "first-token")  # the README's task list
    see = np.tril(np.ones((n, n), bool)) if causal else np.ones((n, n), bool)
    w = ref.softmax_rows(np.where(see, s, -np.inf))
    largest = int(np.argmax(letters))
    query = 1
    best = int(np.argmax(np.where(see[query], s[query], -np.inf)))
    prose = Prose(at)
    prose.has(
        f"The pipeline of the layer trained on {task} (400 steps), on the sequence the Train page shows "
        f"({n} letters, labelled position:letter)"
    )
    prose.has(rf"\in \mathbb{{R}}^{{{n} \times {d}}}", f"One row per position, {d} features each")
    prose.has(rf"W_\ast \in \mathbb{{R}}^{{{d} \times {dh}}},\; Q, K, V \in \mathbb{{R}}^{{{n} \times {dh}}}")
    prose.has(f"Three linear maps of the same rows, {dh} numbers each", f"the query of “{rows[query]}”.")
    prose.has(rf"S_{{ij}} = \frac{{q_i \cdot k_j}}{{\sqrt{{{dh}}}}}", f"divided by √{dh}")
    said = ref.describe(w, tuple(rows), mask=see if causal else None, columns={"the largest letter": largest})
    prose.has(
        f"The query of “{rows[query]}” scores highest on the key of “{rows[best]}”: {s[query, best]:.4f}, weight "
        f"{w[query, best]:.4f}. {said}"
    )
    if task == "reverse":
        assert said.startswith("Mostly attends to its mirror position (the anti-diagonal): on average 9")
    prose.has(rf"z_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}\, v_j", rf"Z = W V \in \mathbb{{R}}^{{{n} \times {dh}}}")
    order = np.argsort(-w[query], kind="stable")[:3]
    terms = " + ".join(rf"{w[query, j]:.3f}\, v_{{\text{{{rows[j]}}}}}" for j in order)
    prose.has(rf"\frac{{q_{{\text{{{rows[query]}}}}} \cdot k_j}}{{\sqrt{{{dh}}}}}", rf"= {terms} + \dots")
    prose.has(f"The largest share, {w[query, order[0]]:.3f}, comes from “{rows[order[0]]}”.")
    prose.has("1 · X, the input", "Follow “" + rows[query] + "”", f"the query of “{rows[query]}”")
    prose.has(rf"z_{{\text{{{rows[query]}}}}} = \sum_j")
    prose.fixed(*TRAINED_FIXED).done()
