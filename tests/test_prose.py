"""Every number in the text of the Home, Step by step, Unparameterised vs learned and Geometry pages,
recomputed independently (tests/reference.py: the model through sentence-transformers and Hugging Face,
and plain NumPy), on ordinary, long and odd sentences. A number the page writes that no test
recomputes fails too (tests/prose.py)."""

import re

import numpy as np
import pytest

from tests import reference as ref
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


@pytest.mark.parametrize("text", SENTENCES[:4] + SENTENCES[5:])
def test_home_page_text(text):
    prose = Prose(app(None, s=text))
    notices(text, prose)
    prose.fixed(*HOME_FIXED).done()


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
    prose.has(rf"W^*_{{{i + 1}{j + 1}}} = x_", rf"= {scores[i, j]:.4f}")
    above, below = int((scores > 1).sum()), int((scores < 0).sum())
    prose.has(f"{above} of the {n * n} scores are above 1 and {below} are below 0.")
    negative = [r for r in range(n) if (scores[r] < 0).any()]
    if negative:
        r = negative[0]
        row = scores[r]
        prose.has(f"Row {r + 1} (", f"Dividing by its sum ({row.sum():.4f})")
        prose.has("  ".join(f"{v:+.3f}" for v in row / row.sum()))
    prose.has(rf"y_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}")
    prose.has("Row 1 of W:")  # the first word is the query until one is chosen
    weighted_average(prose, w[0], 0)
    return scores, w, y


@pytest.mark.parametrize("text", SENTENCES)
def test_step_page_text(text):
    at = app(STEP, s=text)
    tokens, x = ref.static(text)
    prose = Prose(at)
    notices(text, prose)
    step_claims(prose, tokens, x)
    prose.fixed(*STEP_FIXED).done()


@pytest.mark.parametrize(("scale", "t"), [("sqrt-d", 0.5), ("none", 0.05), ("sqrt-d", 5.0)])
def test_step_page_text_with_scale_and_temperature(scale, t):
    text = "The cat sat on the mat because it was tired"
    at = app(STEP, s=text, scale=scale, t=str(t))
    tokens, x = ref.static(text)
    prose = Prose(at)
    step_claims(prose, tokens, x, scale=scale, temperature=t)
    prose.fixed(*STEP_FIXED).done()


def test_step_page_text_for_a_chosen_word():
    text = "dogs chase cats in the park"
    at = app(STEP, s=text)
    at.selectbox(key="step_query").set_value("cats").run()
    _, x = ref.static(text)
    _, w, _ = ref.seed_attention(x)
    prose = Prose(at)
    prose.has("Row 3 of W:")
    weighted_average(prose, w[2], 2)


@pytest.mark.parametrize("text", ["hi how are You", "a b", "one", "to be or not to be ok"])
def test_step_page_text_with_toy_vectors_written_out(text):
    """The toy embedding's two features: y written out as the weighted sum of every x (n ≤ 6)."""
    at = app(STEP, s=text, e="toy")
    tokens, x = ref.toy(text)
    n = len(tokens)
    prose = Prose(at)
    _, w, y = step_claims(prose, tokens, x, source="Toy 2-D")
    vec = lambda v: r"\begin{bmatrix}" + r" \\ ".join(f"{a:.3f}" for a in v) + r"\end{bmatrix}"  # noqa: E731
    if n <= 6:
        parts = " + ".join(rf"{w[0, k]:.3f}{vec(x[k])}" for k in range(n))
        prose.has(rf"y_{{1}} = {parts} = {vec(y[0])}")
    prose.fixed(*STEP_FIXED).done()
