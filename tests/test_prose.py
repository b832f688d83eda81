"""Every number in the text of the Home, Step by step, Unparameterised vs learned and Geometry pages,
recomputed independently (tests/reference.py: the model through sentence-transformers and Hugging Face,
and plain NumPy), on ordinary, long and odd sentences. A number the page writes that no test
recomputes fails too (tests/prose.py)."""

import re

import numpy as np
import pytest

from tests import reference as ref
from tests.apptest_charts import choose
from tests.prose import COMMON, Prose
from tests.test_pages import app

STEP = "pages/1_Step_by_step.py"
LEARNED = "pages/2_Unparameterised_vs_learned.py"
GEO = "pages/3_Geometry.py"

WORDS = [
    "attention",
    "lets",
    "every",
    "word",
    "look",
    "at",
    "all",
    "the",
    "others",
    "and",
    "take",
    "a",
    "weighted",
    "average",
    "of",
    "what",
    "it",
    "finds",
]
SENTENCES = [
    "hi how are you",
    " ".join(WORDS[i % len(WORDS)] for i in range(200)),  # 200 words
    "I love 😀 and 你好 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 too",  # emoji, CJK, odd letters: [UNK]
    "the the the the",  # repeated words: equal rows, ties
    "hello",  # one word
    "Ça va, Naïve Café? \x07",  # accents, capitals, a control character
    "ab " * 3400,  # 10,200 characters: cut to the model's window
]
HOME_FIXED = (*COMMON, "1. **X**", "2. **W* = X Xᵀ**", "3. **W = softmax(W*)**", "4. **Y = W X**")
HOME_FIXED += ("add up to 1", "adds up to 1")
STEP_FIXED = (
    *COMMON,
    "0 · The words",
    "1 · Word vectors X",
    "2 · Raw scores W* = X Xᵀ",
    "3 · Weights W",
    "4 · Context-aware",
    "x_1 \\\\ \\vdots",
    "add up to 1",
    "adds up to 1",
    "sum to 1",
    "sums to 1",
    "the sum is near 0",
)


@pytest.fixture(autouse=True)
def _model(model_ready):
    """Every page here is read with the model loaded (never its toy fallback)."""


def notices(text: str, prose: Prose) -> None:
    """The notices every page shows for odd input, counted independently."""
    _, dropped = ref.cleaned(text)
    if dropped:
        prose.has(f"{dropped} control character(s) were removed from the text.")
    _, _, total = ref.encode(text)
    if total > ref.WINDOW - 2:
        prose.has(
            f"The text is {total} word pieces; the model reads at most {ref.WINDOW} (with [CLS] and [SEP]), "
            f"so the last {total - (ref.WINDOW - 2)} are not shown."
        )
    if (k := ref.unknown(text)) > 0:
        prose.has(f"{k} piece(s) are not in the model's vocabulary and became [UNK]")


def test_the_models_window_is_what_the_notices_say():
    assert ref.model().max_seq_length == ref.WINDOW
    assert ref.model()[0].auto_model.config.max_position_embeddings == 512  # the Cost page's "512"


# The line a W view adds when W is nearly one-hot or nearly uniform (the page's wording; when it shows
# is recomputed below from W's row entropies).
ONE_HOT_NOTE = (
    "W is nearly one-hot: the vectors are long, so each word's dot product with itself dominates: "
    "try 1/√d or a higher T."
)
UNIFORM_NOTE = "W is nearly uniform: the scores are almost equal: try a lower T."


def spread_claim(prose: Prose, w: np.ndarray) -> None:
    """The one-hot line shows iff W's mean row entropy is ≤ 0.15 of log2 n, the uniform one iff ≥ 0.97."""
    n = w.shape[0]
    entropy = -(w * np.log2(np.where(w > 0, w, 1.0))).sum(axis=1)  # bits, 0 log 0 = 0
    share = float(entropy.mean() / np.log2(n)) if n > 1 else 0.5
    assert (ONE_HOT_NOTE in prose.text) == (share <= 0.15), share
    assert (UNIFORM_NOTE in prose.text) == (share >= 0.97), share
    prose.fixed(ONE_HOT_NOTE, UNIFORM_NOTE)


@pytest.mark.parametrize("text", SENTENCES[:4] + SENTENCES[5:])
def test_home_page_text(text):
    prose = Prose(app(None, s=text))
    notices(text, prose)
    spread_claim(prose, ref.seed_attention(ref.static(text)[1])[1])
    prose.fixed(*HOME_FIXED).done()


@pytest.mark.parametrize(("t", "scale", "note"), [("0.05", "none", ONE_HOT_NOTE), ("5", "sqrt-d", UNIFORM_NOTE)])
def test_home_page_says_when_w_is_nearly_one_hot_or_uniform(t, scale, note):
    """A low temperature sharpens W towards one-hot; 1/√d with a high one flattens it."""
    text = "the cat sat on the mat"
    prose = Prose(app(None, s=text, t=t, scale=scale))
    _, w, _ = ref.seed_attention(ref.static(text)[1], scale=scale, temperature=float(t))
    spread_claim(prose, w)
    assert note in prose.text


def weighted_average(prose: Prose, w_row: np.ndarray, q: int) -> None:
    """y_q = w.xxx x_k + … : the largest weights of row q, each at its own x, the rest as … ."""
    n = len(w_row)
    term = r"[0-9.]+\\,x_\{\d+\}"
    (terms, more) = prose.take(rf"y_\{{{q + 1}\}} = ({term}(?: \+ {term})*)( \+ \\dots)?")[0]
    listed = [(float(a), int(k) - 1) for a, k in re.findall(r"([0-9.]+)\\,x_\{(\d+)\}", terms)]
    assert len(listed) == min(n, 4) and bool(more) == (n > 4)
    assert len({k for _, k in listed}) == len(listed)
    for shown, k in listed:
        assert f"{shown:.3f}" == f"{w_row[k]:.3f}", (k, shown, w_row[k])
    rest = np.delete(w_row, [k for _, k in listed])
    assert rest.size == 0 or min(w_row[k] for _, k in listed) >= rest.max() - 1e-12  # the largest ones


def step_claims(prose: Prose, tokens, x, *, scale="none", temperature=1.0, source="MiniLM static (embedding layer)"):
    n, d = x.shape
    scores, w, y = ref.seed_attention(x, scale=scale, temperature=temperature)
    s_tex = "1" if scale == "none" else rf"\tfrac{{1}}{{\sqrt{{{d}}}}}"
    prose.has(rf"s = {s_tex},\; T = {temperature:g}")
    prose.has(f"{n} tokens from {source}.")
    prose.has(rf"x_{{{n}}} \end{{bmatrix}}", rf"\in \mathbb{{R}}^{{{n} \times {d}}}", f"vector of {d} numbers")
    i, j = (0, 1) if n > 1 else (0, 0)
    names = ref.labels(tokens)  # "the #2", as the page names a repeated word
    tex = [name.replace("#", r"\#") for name in names]  # as \text{…} writes it
    prose.has(
        rf"W^*_{{{i + 1}{j + 1}}} = x_{{\text{{{tex[i]}}}}} \cdot x_{{\text{{{tex[j]}}}}}", rf"= {scores[i, j]:.4f}"
    )
    above, below = int((scores > 1).sum()), int((scores < 0).sum())
    prose.has(f"{above} of the {n * n} scores are above 1 and {below} are below 0.")
    spread_claim(prose, w)
    negative = [r for r in range(n) if (scores[r] < 0).any()]
    if negative:
        r = negative[0]
        row = scores[r]
        prose.has(f"Row {r + 1} ({names[r]})", f"Dividing by its sum ({row.sum():.4f})")
        prose.has("  ".join(f"{v:+.3f}" for v in row / row.sum()))
    prose.has(rf"y_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}")
    prose.has("Row 1 of W:", f"the new vector of “{names[0]}”.")  # the first word is the query until one is chosen
    weighted_average(prose, w[0], 0)
    return scores, w, y


@pytest.mark.parametrize("text", SENTENCES)
def test_step_page_text(text):
    at = app(STEP, open="all", s=text)
    tokens, x = ref.static(text)
    prose = Prose(at)
    notices(text, prose)
    step_claims(prose, tokens, x)
    prose.fixed(*STEP_FIXED).done()


@pytest.mark.parametrize(("scale", "t"), [("sqrt-d", 0.5), ("none", 0.05), ("sqrt-d", 5.0)])
def test_step_page_text_with_scale_and_temperature(scale, t):
    text = "The cat sat on the mat because it was tired"
    at = app(STEP, open="all", s=text, scale=scale, t=str(t))
    tokens, x = ref.static(text)
    prose = Prose(at)
    step_claims(prose, tokens, x, scale=scale, temperature=t)
    prose.fixed(*STEP_FIXED).done()


def test_step_page_text_for_a_chosen_word():
    text = "dogs chase cats in the park"
    at = app(STEP, open="all", s=text)
    choose(at, "step_query", "cats")
    _, x = ref.static(text)
    _, w, _ = ref.seed_attention(x)
    prose = Prose(at)
    prose.has("Row 3 of W:")
    weighted_average(prose, w[2], 2)


@pytest.mark.parametrize("text", ["hi how are You", "a b", "one", "to be or not to be ok"])
def test_step_page_text_with_toy_vectors_written_out(text):
    """The toy embedding's two features: y written out as the weighted sum of every x (n ≤ 6)."""
    at = app(STEP, open="all", s=text, e="toy")
    tokens, x = ref.toy(text)
    n = len(tokens)
    prose = Prose(at)
    _, w, y = step_claims(prose, tokens, x, source="Toy 2-D")
    vec = lambda v: r"\begin{bmatrix}" + r" \\ ".join(f"{a:.3f}" for a in v) + r"\end{bmatrix}"  # noqa: E731
    if n <= 6:
        parts = " + ".join(rf"{w[0, k]:.3f}{vec(x[k])}" for k in range(n))
        prose.has(rf"y_{{1}} = {parts} = {vec(y[0])}")
    prose.fixed(*STEP_FIXED).done()


# --- Unparameterised vs learned ------------------------------------------------------------------

LEARNED_FIXED = (*COMMON, r"\sqrt{32}", "log₂ n", "0 means", "upper triangle is 0", "32 numbers", "√32")
LEARNED_SENTENCES = [
    "The cat sat on the mat because it was tired",
    "the the the the",
    "hello",
    "I love 😀 and 你好 too",
    " ".join(WORDS[i % len(WORDS)] for i in range(200)),
]
CHECK = re.compile(
    r"differ from MiniLM's own attention by at most (\d\.\de[+-]\d\d) \(all 72 heads\) "
    r"and the hidden states by at most (\d\.\de[+-]\d\d) \(all 6 layers\)"
)
CHECK_LIMIT = 1e-5  # float32 NumPy against float32 torch: seen 3e-7 (weights), 2e-6 (hidden)


labels = ref.labels  # a repeated token gets its count so far: "the #1", "the #2"


def independent_model_check(text: str) -> tuple[float, float]:
    """max |Δ| between attnviz's NumPy forward and the model's own attentions and hidden states."""
    from attnviz import ui
    from attnviz.model import bert

    ids, tokens, _ = ref.encode(text)
    ours = bert.forward(ui.bert_weights(ui.minilm()), np.asarray(ids), tokens)
    model_w, model_h = ref.heads(text, special=True), ref.hidden(text)
    attn = float(np.max(np.abs(np.stack(ours.attentions).astype(np.float64) - model_w)))
    hidden = float(np.max(np.abs(np.stack(ours.hidden).astype(np.float64) - model_h)))
    return attn, hidden


def model_check_text(prose: Prose, text: str) -> None:
    """The check's sentence (after "Check against the model" was pressed): the same word pieces, counted
    by the model's own tokenizer, and both numbers within CHECK_LIMIT and equal to the test's own max |Δ|."""
    prose.has(f"both tokenizers give the same {len(ref.encode(text)[0])} word pieces and ids")
    (attn, hidden) = prose.take(CHECK.pattern)[0]
    want_attn, want_hidden = independent_model_check(text)
    assert float(attn) <= CHECK_LIMIT and float(hidden) <= CHECK_LIMIT, (attn, hidden)
    assert want_attn <= CHECK_LIMIT and want_hidden <= CHECK_LIMIT
    # the same maximum (a different BLAS thread count may move the last float32 bits, so not to the digit)
    assert float(attn) == pytest.approx(want_attn, rel=0.3), (attn, want_attn)
    assert float(hidden) == pytest.approx(want_hidden, rel=0.3), (hidden, want_hidden)


@pytest.mark.parametrize("text", LEARNED_SENTENCES)
def test_learned_page_text_and_charts(text):
    at = app(LEARNED, s=text)
    at.button(key="learned_check").click().run()  # the check against the model runs when asked
    tokens = ref.static(text)[0]
    w = ref.heads(text)  # [6, 12, n, n]
    prose = Prose(at)
    notices(text, prose)
    prose.has(f"Layer 0, head 0: H is the input to layer 0. {ref.describe(w[0, 0], tokens)}")
    model_check_text(prose, text)
    prose.fixed(*LEARNED_FIXED).done()
    # the entropy bars: each row's entropy in bits, of the seed's W and of the head
    from tests.apptest_charts import decode, figure

    bars = figure(at, "learned_entropy")["data"]
    _, plain_w, _ = ref.seed_attention(ref.static(text)[1])
    np.testing.assert_allclose(decode(bars[0]["y"]), ref.entropy_bits(plain_w), atol=1e-9)
    np.testing.assert_allclose(decode(bars[1]["y"]), ref.entropy_bits(w[0, 0]), atol=1e-4)
    assert list(bars[0]["x"]) == [t.replace("<", "&lt;").replace(">", "&gt;") for t in labels(tokens)]


@pytest.mark.parametrize(("layer", "head"), [(0, 3), (2, 6), (4, 11), (5, 0)])
def test_learned_page_model_view_and_describe_head_on_real_heads(layer, head):
    text = "The trophy didn't fit in the suitcase because it was too big"
    at = app(LEARNED, s=text)
    at.number_input(key="learned_layer").set_value(layer).run()
    at.number_input(key="learned_head").set_value(head).run()
    at.get("button_group")[0].set_value("Model view: all 72 heads").run()
    at.button(key="learned_check").click().run()
    assert not at.exception
    tokens, w = ref.static(text)[0], ref.heads(text)
    prose = Prose(at)
    prose.has(ref.describe(w[layer, head], tokens))
    model_check_text(prose, text)
    prose.fixed(*LEARNED_FIXED).done()
    from tests.apptest_charts import decode, figure

    grid = figure(at, "learned_grid")["data"]
    assert len(grid) == 72
    for k, trace in enumerate(grid):  # layer by layer, head by head
        np.testing.assert_allclose(decode(trace["z"]).astype(float), w[k // 12, k % 12], atol=1e-5, err_msg=str(k))


@pytest.mark.parametrize("special", ["0", "1"])
def test_describe_head_on_every_real_head(special):
    """The pages' rule (attnviz.attention.patterns.describe) against the test's own reading of it, on all 72
    heads of the model's own attentions, with and without [CLS]/[SEP]."""
    from attnviz.attention import patterns

    for text in ("The cat sat on the mat because it was tired", "dogs bark", "the the the the"):
        tokens = ref.static(text, special=special == "1")[0]
        w = ref.heads(text, special=special == "1")
        for layer in range(6):
            for head in range(12):
                assert patterns.describe(w[layer, head], tokens) == ref.describe(w[layer, head], tokens), (
                    text,
                    layer,
                    head,
                )


@pytest.mark.parametrize("special", ["0", "1"])
def test_learned_page_causal_head_sentence(special):
    """With the causal mask on, the sentence reads the drawn W as a causal head: row 0 (one key) left out,
    no next token, by the test's own reading of the rule."""
    from tests.apptest_charts import heatmap

    text = "the cat sat on the mat and then the cat slept"
    at = app(LEARNED, s=text, special=special)
    at.toggle(key="learned_causal").set_value(True).run()
    for layer, head in ((0, 3), (2, 6), (5, 0)):
        at.number_input(key="learned_layer").set_value(layer).run()
        at.number_input(key="learned_head").set_value(head).run()
        assert not at.exception
        z, rows, _ = heatmap(at, "learned_right")
        assert np.all(np.triu(z, k=1) == 0)
        tokens = ref.static(text, special=special == "1")[0]
        assert len(rows) == len(tokens)
        said = ref.describe(z, tokens, mask=np.tril(np.ones(z.shape, bool)))
        assert "next token" not in said
        Prose(at).has(f"Layer {layer}, head {head}: H is the input to layer {layer}. {said}")


def test_learned_page_random_head_text():
    text = "one two three four five"
    at = app(LEARNED, s=text)
    at.radio(key="learned_source").set_value("random").run()
    at.button(key="learned_reroll").click().run()
    at.button(key="learned_check").click().run()
    # the random head as the README describes it: W_q, W_k ~ N(0, 1/d) from the seed, zero biases
    rng = np.random.default_rng(1)
    wqkv = rng.normal(0.0, 1.0 / np.sqrt(384), size=(3, 384, 32)).astype(np.float32)
    h = ref.hidden(text)[0].astype(np.float32)
    s = (h @ wqkv[0]).astype(np.float64) @ (h @ wqkv[1]).astype(np.float64).T / np.sqrt(32)
    w = ref.softmax_rows(s)[1:-1, 1:-1]
    w = w / w.sum(axis=1, keepdims=True)
    prose = Prose(at)
    prose.has(f"Random head (seed 1): H is the input to layer 0. {ref.describe(w, ref.static(text)[0])}")
    model_check_text(prose, text)
    prose.fixed(*LEARNED_FIXED).done()


def test_model_check_measures_a_real_difference(monkeypatch):
    """ui.model_check reports the largest |Δ|: a model whose attention is off by 0.01 somewhere says so."""
    from attnviz import ui

    text = "a check that can fail"
    model = ui.minilm()
    attn, hidden = ui.model_check(text, model)
    want_attn, want_hidden = independent_model_check(text)
    assert attn == pytest.approx(want_attn, rel=1e-6, abs=1e-12) and attn <= CHECK_LIMIT
    assert hidden == pytest.approx(want_hidden, rel=1e-6, abs=1e-12) and hidden <= CHECK_LIMIT

    class Off:
        """The model of record with one attention weight of layer 3 moved by 0.01."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def forward(self, ids, *, attentions=False):
            out = self.inner.forward(ids, attentions=attentions)
            out.attentions[3][0, 5, 1, 2] += 0.01
            return out

    reference = ui.reference()
    monkeypatch.setattr(ui.models, "reference", lambda: Off(reference))
    ui.model_check.clear()  # its cache is keyed by the text only
    ui.checked.clear()
    try:
        off = ui.model_check(text, model)
    finally:
        ui.model_check.clear()
        ui.checked.clear()
    assert off[0] == pytest.approx(0.01, abs=CHECK_LIMIT) and off[1] == pytest.approx(hidden)


# --- Geometry ------------------------------------------------------------------------------------

GEO_FIXED = (*COMMON, r"\tfrac{1}{2}", "Y_{k-1}")


def distances_claim(prose: Prose, x: np.ndarray, y: np.ndarray, tokens) -> None:
    """'Distance moved in the full d-dimensional space (mean m): word 0.123, …' against NumPy."""
    d = x.shape[1]
    dist = np.sqrt(((y - x) ** 2).sum(axis=1))
    (dim, mean, items, more) = prose.take(
        r"Distance moved in the full (\d+)-dimensional space \(mean (\d+\.\d{3})\): (.*?)( …)?\. Low temperature"
    )[0]
    assert int(dim) == d and mean == f"{dist.mean():.3f}"
    shown = re.findall(r"(.+?) (\d+\.\d{3})(?:, |$)", items)
    names = labels(tokens)
    assert len(shown) == min(len(tokens), 8) and bool(more) == (len(tokens) > 8)
    for name, value in shown:
        assert value == f"{dist[names.index(name)]:.3f}", (name, value)
    listed = [names.index(name) for name, _ in shown]
    rest = np.delete(dist, listed)
    assert rest.size == 0 or dist[listed].min() >= rest.max() - 1e-9  # the ones that moved furthest
    prose.has(f"the orange lines show what “{names[0]}” averages")  # the first word until one is chosen


def pca_claim(prose: Prose, x: np.ndarray, y: np.ndarray) -> None:
    both = np.vstack([x, y])
    s = np.linalg.svd(both - both.mean(axis=0), compute_uv=False)
    total = float((s**2).sum())
    kept = float((s[:2] ** 2).sum() / total) if total > 1e-20 else 1.0  # all points equal: nothing is lost
    prose.has(
        f"The {x.shape[1]}-dimensional vectors are projected onto the plane that keeps most of their spread: "
        f"it keeps {kept:.0%} of the variance, so distances in the picture are "
        f"{'roughly' if kept < 0.8 else 'mostly'} faithful."
    )


@pytest.mark.parametrize("text", [*SENTENCES[:6], "hi how are you and who are they"])
def test_geometry_page_text(text):
    at = app(GEO, s=text, open="repeat")
    tokens, x = ref.static(text)
    y = ref.seed_attention(x)[2]
    prose = Prose(at)
    notices(text, prose)
    pca_claim(prose, x, y)
    distances_claim(prose, x, y, tokens)
    prose.fixed(*GEO_FIXED).done()


@pytest.mark.parametrize(("layer", "head", "text"), [(0, 0, "the cat sat on the mat"), (3, 1, SENTENCES[1])])
def test_geometry_page_text_for_a_learned_head(layer, head, text):
    at = app(GEO, s=text, open="repeat")
    at.radio(key="geo_source").set_value("learned").run()
    at.number_input(key="geo_layer").set_value(layer).run()
    at.number_input(key="geo_head").set_value(head).run()
    assert not at.exception
    tokens = ref.static(text)[0]
    v, w = ref.values(text, layer, head), ref.heads(text)[layer, head]
    prose = Prose(at)
    pca_claim(prose, v, w @ v)
    distances_claim(prose, v, w @ v, tokens)
    prose.fixed(*GEO_FIXED).done()


@pytest.mark.parametrize("text", ["hi how are You", "one"])
def test_geometry_page_text_for_the_toy_plane(text):
    at = app(GEO, s=text, e="toy", open="repeat")
    tokens, x = ref.toy(text)
    y = ref.seed_attention(x)[2]
    prose = Prose(at)
    distances_claim(prose, x, y, tokens)
    prose.fixed(*GEO_FIXED).done()


def lcs(a, b) -> int:
    """Length of the longest common subsequence: how many pieces two sentences share in reading order."""
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    for i, s in enumerate(a):
        for j, t in enumerate(b):
            table[i + 1, j + 1] = table[i, j] + 1 if s == t else max(table[i, j + 1], table[i + 1, j])
    return int(table[-1, -1])


@pytest.mark.parametrize("where", [None, STEP, GEO])
def test_two_sentences_text(where):
    a, b = "the dog chased the cat", "a cat chased the dog home"
    at = app(where, s=a, s2=b, **({"open": "all"} if where in (STEP, GEO) else {}))
    (ta, xa), (tb, xb) = ref.static(a), ref.static(b)
    k = lcs(ta, tb)
    prose = Prose(at)
    if where == GEO:
        ya = ref.seed_attention(xa)[2]
        pca_claim(prose, xa, ya)
        distances_claim(prose, xa, ya, ta)
        prose.has(f"How far each of the {k} shared pieces moved in the full 384-dimensional space")
        prose.fixed(*GEO_FIXED).done()
        return
    prose.has(f"The {k} pieces the two sentences share, paired in reading order")
    wa, wb = ref.seed_attention(xa)[1], ref.seed_attention(xb)[1]
    word, rest = prose.take(r"“([^”]+)” attends most to (.*) in B\.")[0]
    a_part, b_part = rest.split(" in A, and to ")
    checked = 0
    for part, tokens, w in ((a_part, ta, wa), (b_part, tb, wb)):
        if tokens.count(word) != 1:  # a repeated word (labelled "the #1"): its row differs per sentence
            continue
        names, row = labels(tokens), w[tokens.index(word)]
        favourites = re.findall(r"“([^”]+)” (\d\.\d{3})", part)
        order = np.argsort(-row, kind="stable")[: len(favourites)]
        assert len(favourites) == min(3, len(tokens))
        assert [n for n, _ in favourites] == [names[j] for j in order]
        assert [v for _, v in favourites] == [f"{row[j]:.3f}" for j in order]
        checked += 1
    assert checked, f"the followed word {word!r} is repeated in both sentences: choose another pair"
    if where == STEP:
        step_claims(prose, ta, xa)
        prose.fixed(*STEP_FIXED).done()
    else:
        prose.fixed(*HOME_FIXED).done()
