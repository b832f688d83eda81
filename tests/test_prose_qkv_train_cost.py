"""Every number in the text of the Query, key, value, Train attention and Cost pages, recomputed
independently (tests/reference.py; the task's rule written out; plain NumPy), and every other digit
on those pages accounted for (tests/prose.py)."""

import re

import numpy as np
import pytest

from tests import reference as ref
from tests.apptest_charts import decode, figure, heatmap
from tests.prose import COMMON, Prose
from tests.test_linear import held_by_linear  # linear attention measured by tracemalloc
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


# --- the trained layer on the QKV page, and the Train page ------------------------------------------

TRAIN_FIXED = (*COMMON, r"\sqrt{d_{head}}", "scaled by 1/√d_head", "four cells", "sums to 1", "position n − 1 − i")


def task_keys(task: str, letters: list[int]) -> list[int]:
    """The key each position should attend to, written out from the README's task list (-1: none)."""
    n = len(letters)
    if task == "reverse":
        return [n - 1 - i for i in range(n)]
    if task == "previous-token":
        return [-1, *range(n - 1)]
    if task == "first-token":
        return [0] * n
    if task == "copy":
        return list(range(n))
    raise ValueError(task)


@pytest.mark.parametrize(("task", "seed", "steps"), [("reverse", 7, 400), ("previous-token", 2, 300), ("copy", 0, 1)])
def test_train_page_text(task, seed, steps):
    from attnviz import training

    at = train_app(task=task, seed=str(seed), steps=str(steps), live="0")
    prose = Prose(at)
    letters = 26
    prose.has(f"(ln {letters} ≈ {np.log(letters):.2f} is a blind guess among the letters)")
    prose.has(
        "Sequences of n = 8 letters from a–z, batches of 32, d_head = 16, "
        f"learning rate 0.05, {steps} steps, seed {seed}."
    )
    prose.fixed(*TRAIN_FIXED).done()
    train(at)
    prose = Prose(at)
    w = heatmap(at, "train_w")[0]
    loss = decode(figure(at, "train_loss")["data"][0]["y"])
    rows_labels = heatmap(at, "train_w")[1]
    letters_seq = [ord(label.split(":")[1]) - ord("a") for label in rows_labels]
    keys = task_keys(task, letters_seq)
    rows = [i for i, k in enumerate(keys) if k >= 0]
    if task in ("previous-token", "first-token"):
        rows = [i for i in rows if i > 0]  # causal: row 0 sees one key only
    share = np.mean([w[i, keys[i]] for i in rows])
    hits = sum(int(np.argmax(w[i]) == keys[i]) for i in rows)
    fmt = lambda x: f"{x:.2f}" if x >= 0.01 else f"{x:.1e}"  # noqa: E731
    loss_part = (
        f"the loss on the first batch was {fmt(loss[0])}"
        if len(loss) == 1
        else f"the loss {'fell' if loss[-1] < loss[0] else 'went'} from {fmt(loss[0])} to {fmt(loss[-1])}"
    )
    warning = " ".join(x.value for x in at.warning)
    if "only went" in warning:  # one step: the loss barely moved, and the page says so instead
        prose.has(f"The loss only went from {loss[0]:.2f} to {loss[-1]:.2f}")
    elif "W does not show" in warning:
        prose.has(f"The loss fell from {fmt(loss[0])} to {fmt(loss[-1])}", f"only {hits} of {len(rows)} rows")
    else:
        prose.has(f"Each position now puts on average {share:.0%} of its weight on")
        prose.has(f"({hits} of {len(rows)} rows put the most weight there); {loss_part}.")
    prose.has(f"(ln {letters} ≈ {np.log(letters):.2f}")
    prose.has(f"learning rate 0.05, {steps} steps, seed {seed}.", "n = 8 letters", "batches of 32", "d_head = 16")
    prose.fixed(*TRAIN_FIXED).done()
    assert training.VOCAB[-1] == "z"


def test_trained_layer_on_the_qkv_page_text():
    at = train_app(task="previous-token", seed="2", live="0")
    train(at)
    trainer = at.session_state["train_run"].trainer
    at.switch_page(QKV).run()
    at.radio(key="qkv_source").set_value("trained").run()
    at.get("button_group")[0].set_value("Its layer: Z → next H (6–9)").run()
    logits, rows, letters = heatmap(at, "qkv_readout")
    prose = Prose(at)
    n = len(rows)
    assert trainer.step == 400  # the default number of steps (README)
    prose.has(
        "The pipeline of the layer trained on previous-token (400 steps), "
        f"on the sequence the Train page shows ({n} letters"
    )
    answers = "".join(letters[c] for c in np.argmax(logits, axis=1))
    seq = [label.split(":")[1] for label in rows]
    wanted = "·" + "".join(seq[:-1])  # the previous letter; none for the first position
    prose.has(
        f"a score for each of the {len(letters)} letters. Reading the largest score per row gives “{answers}”; "
        f"the task wants “{wanted}”"
    )
    prose.has("6 · Readout")
    prose.fixed(*QKV_FIXED, r"\sqrt{d_{head}}").done()


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


# --- Cost --------------------------------------------------------------------------------------------

COST = "pages/6_Cost.py"
COST_FIXED = (
    *COMMON,
    "1 · Time and memory against n",
    "2 · What linear attention gets wrong",
    r"4 n^2 d",
    r"8 n^2",
    r"|x|^2/2",
    "n from 16 up",
    "8 bytes a number",
    "(a slope of −0.5)",
    "1/√m",
    "1/√d",
    "slope 2 means time ∝ n²",
    "4·n²·d operations",
    "n ≥ 512",
    "add up to 1",
    "sums to 1",
    "T = 0.1",
    "all-MiniLM-L6-v2",
    "D^{-1}",
    "from n = 256 to 8,192",  # tests/test_linear.py measures those
)


def linear_memory_claim(prose: Prose, drawn: list, *, d: int, m: int) -> int:
    """“Linear … works through B rows at a time: X MB at every n from B on”: the memory stops growing at
    n = B (measured), the line drawn is flat at X from there, and X is what is measured there, within 2×."""
    block, mb, again = prose.take(
        rf"Linear \(d = {d}, m = {m}\) works through (\d+) rows at a time: ([\d.]+) MB at every n from ([\d,]+) on\."
    )[0]
    block = int(block)
    assert int(again.replace(",", "")) == block
    at_block = held_by_linear(block, d, m)  # from there on flat, but for a few kB of Python's own
    assert held_by_linear(block // 2, d, m) < 0.8 * at_block
    assert abs(held_by_linear(4 * block, d, m) - at_block) < 0.02 * at_block
    ns, line = decode(drawn[1]["x"]), decode(drawn[1]["y"])
    assert {f"{y / 1e6:.3g}" for y in line[ns >= block]} == {mb}
    held = held_by_linear(8192, d, m)
    assert 0.5 * held <= float(mb) * 1e6 <= 2 * held, (mb, held)
    return block


def band(value: float, target: float, about: float) -> str:
    return "about" if abs(value - target) <= about else "below" if value < target else "above"


def time_claims(prose: Prose, drawn: list, *, d: int, m: int, block: int) -> None:
    """The time chart's caption, from the lines drawn: fitted slopes and their words, the products' line and how
    far exact attention is from it, where linear attention is faster."""
    ns = decode(drawn[0]["x"]).astype(float)
    exact, lin, products = (decode(t["y"]).astype(float) for t in drawn[:3])
    prose.has(f"on log–log axes (d = {d}, m = {m})")
    big = ns >= 512
    if big.sum() < 2:
        prose.has("The slopes are fitted for n ≥ 512, once two such sizes are measured")
        assert "slope" not in drawn[0]["name"]
    else:
        fits = [np.polyfit(np.log(ns[big]), np.log(y[big]), 1)[0] for y in (exact, lin)]
        said = prose.take(r"the exact line's slope is (\d+\.\d\d), (about|below|above) 2")
        said += prose.take(r"the linear one's is (\d+\.\d\d), (about|below|above) 1")
        assert said == [(f"{fits[0]:.2f}", band(fits[0], 2, 0.1)), (f"{fits[1]:.2f}", band(fits[1], 1, 0.1))]
        assert [t["name"] for t in drawn[:2]] == [
            f"exact softmax (slope {fits[0]:.2f})",
            f"linear (FAVOR+) (slope {fits[1]:.2f})",
        ]
        if said[1][1] == "below":  # the work is the same blocks one after another: said with their size
            prose.has(f"the same blocks of {block} rows")
    rates, times = 4 * ns**2 * d / products, exact / products
    prose.has(
        f"timed on the same inputs: {rates.min() / 1e9:.1f}–{rates.max() / 1e9:.1f} billion operations per second "
        f"here. The whole takes {times.min():.2f}–{times.max():.2f}× as long"
    )
    if times.min() < 1:
        prose.has("less than the products alone at n = " + ", ".join(f"{n:,.0f}" for n, t in zip(ns, times) if t < 1))
    else:
        assert ": the rest is the softmax's passes" in prose
    faster = lin < exact
    from_n = next((ns[i] for i in range(len(ns)) if all(faster[i:])), None)
    prose.has(
        f"Linear attention is faster from n = {from_n:,.0f} on."
        if from_n
        else f"Linear attention was not faster at n = {ns[-1]:,.0f}, the largest measured."
    )


def favor_weights(x: np.ndarray, omega: np.ndarray, *, factor: float = 1.0, causal: bool = False) -> np.ndarray:
    """FAVOR+'s implied W written out from the paper's φ, given the random features Ω: q = k = x·√factor, the
    keys centred (a constant per query, which a softmax ignores); per-row and per-matrix constants cancel."""
    q, k = x * np.sqrt(factor), (x - x.mean(axis=0)) * np.sqrt(factor)
    log_q, log_k = (z @ omega.T - 0.5 * np.sum(z * z, axis=1, keepdims=True) for z in (q, k))
    a = np.exp(log_q - log_q.max(axis=1, keepdims=True)) @ np.exp(log_k - log_k.max()).T
    a = np.tril(a) if causal else a
    return a / a.sum(axis=1, keepdims=True)


def error_claims(prose: Prose, at, x: np.ndarray, exact: np.ndarray, *, m: int, seed: int) -> None:
    """The Δ caption and the error curve's, recomputed from the paper's φ (Ω drawn as the page draws it)."""
    from attnviz.linear import draw  # the random features only: everything else is written out above

    delta = favor_weights(x, draw(m, x.shape[1], seed)) - exact
    prose.has(
        f"FAVOR+ with m = {m}",
        f"Mean |Δ| = {np.abs(delta).mean():.2e}, largest {np.abs(delta).max():.2e} (m = {m}, seed {seed}).",
    )
    drawn = figure(at, "cost_errors")["data"][0]
    ms = decode(drawn["x"]).astype(float)
    assert list(ms) == [2**k for k in range(2, 13)]
    curve = np.array(
        [np.mean([np.abs(favor_weights(x, draw(int(k), x.shape[1], s)) - exact).mean() for s in range(3)]) for k in ms]
    )
    np.testing.assert_allclose(decode(drawn["y"]), curve, rtol=1e-9)
    prose.has(f"mean |Δ| goes from {curve[2]:.1e} at m = 16 to {curve[-1]:.1e} at m = 4096.", "three seeds")
    fit = np.polyfit(np.log(ms), np.log(curve), 1)[0]
    words = {"about": "about as", "below": "faster than", "above": "more slowly than"}[band(fit, -0.5, 0.05)]
    prose.has(f"Fitted over m = 4 … 4096, its slope on these log–log axes is −{-fit:.2f}: it falls {words} 1/√m")


@pytest.mark.parametrize(("max_n", "m"), [("256", "64"), ("1024", "16")])
def test_cost_page_text(max_n, m):
    text = "the quick brown fox jumps over the lazy dog"
    at = train_app(page=COST, s=text, max_n=max_n, d="16", m=m, features="64", fseed="3")
    at.button(key="cost_go").click().run()
    while at.session_state["cost_run"].running:
        at.run()
        assert not at.exception
    prose = Prose(at)
    m = int(m)
    block = linear_memory_claim(prose, figure(at, "cost_memory")["data"], d=16, m=m)
    time_claims(prose, figure(at, "cost_time")["data"], d=16, m=m, block=block)
    for name, gib in (("a laptop (16 GiB)", 16), ("a GPU (80 GiB)", 80)):
        prose.has(f"{name} at n = {int(np.sqrt(gib * 2**30 / 8)) + 1:,}")
    config = ref.model()[0].auto_model.config
    prose.has(
        f"reads at most {ref.model().max_seq_length} word pieces",
        f"position vectors for {config.max_position_embeddings}",
    )
    x = ref.static(text)[1]
    error_claims(prose, at, x, ref.seed_attention(x)[1], m=64, seed=3)
    prose.fixed(*COST_FIXED).done()
