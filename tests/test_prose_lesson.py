"""The prose guard on the Lesson page: every number each screen's text prints, recomputed."""

import numpy as np
import pytest

from attnviz import ui
from tests import reference as ref
from tests.prose import COMMON, Prose
from tests.test_pages import app
from tests.test_prose import notices

LESSON, VISION, QKS = "pages/0_Lesson.py", "pages/7_Vision.py", "pages/8_Query_key_space.py"


N = 12  # the lesson's screens
TITLES = (
    "The words",
    "The embedding layer",
    "Dot products",
    "W*: every pair at once",
    "Why a softmax",
    "W: the attention weights",
    "Y = W X: context-aware vectors",
    "The words move together",
    "Why parameters",
    "Queries, keys and values",
    "A learned head",
    "The whole of it",
)
LESSON_FIXED = (
    *COMMON,
    r"t_1",
    "x_1",
    "near 0",
    "add up to 1",
    "adding up to 1",
    "adds up to 1",
    "summing to 1",
    r"W_{ij} = 1",
    r"|x_i|^2",
    "64 or 128",
    r"\sqrt{32}",
)


@pytest.fixture(scope="module", autouse=True)
def _warm(minilm):
    """The model and the Query/key space corpus, loaded once for the module."""
    ui.qk_corpus(ui.model_future().result(timeout=300)).future.result()


def guess_box(at):
    return next(s for s in at.selectbox if str(s.key or "").startswith("lesson_guess_"))


def mean_distance(p: np.ndarray) -> float:
    n = len(p)
    d = [np.linalg.norm(p[i] - p[j]) for i in range(n) for j in range(n) if i != j]
    return float(np.mean(d)) if d else 0.0


def lesson_claims(prose: Prose, text: str, i: int) -> None:
    """Screen i's numbers from the model's own embedding table, the seed's attention written out."""
    tokens, x = ref.static(text)
    n, d = x.shape
    scores, w, y = ref.seed_attention(x)
    prose.has(f"{i} · {TITLES[i - 1]}", f"Screen {i} of {N}")
    if i == 1:
        prose.has(f"The sentence becomes {n} tokens: {' | '.join(tokens)}.")
    elif i == 2:
        prose.has(f"a vector of {d} numbers", rf"x_{{{n}}} \end{{bmatrix}} \in \mathbb{{R}}^{{{n} \times {d}}}")
    elif i == 3:
        a, b = (0, 1) if n > 1 else (0, 0)
        v = f"{x[a] @ x[b]:.4f}"
        prose.has(f"For “{tokens[a]}” and “{tokens[b]}” it is {v}.")
        prose.has(rf"x_{{{a + 1}}} \cdot x_{{{b + 1}}} = \sum_{{k=1}}^{{{d}}} x_{{{a + 1}k}}\, x_{{{b + 1}k}} = {v}")
    elif i == 4:
        prose.has(
            f"{int((scores > 1).sum())} of the {n * n} scores are above 1 and {int((scores < 0).sum())} are below 0."
        )
    elif i == 5:
        negative = [r for r in range(n) if (scores[r] < 0).any()]
        if negative:
            r = negative[0]
            row = scores[r]
            soft = ref.softmax_rows(row[None])[0]
            prose.has(
                f"Row {r + 1} (“{tokens[r]}”) has a negative score. Dividing it by its sum ({row.sum():.4f}) gives "
                f"'weights' from {(row / row.sum()).min():.3f} to {(row / row.sum()).max():.3f}",
                f"from {soft.min():.3f} to {soft.max():.3f}, adding up to 1.",
            )
        else:
            assert "Here every score happens to be positive" in prose
    elif i == 6:
        prose.has("(s = 1, T = 1)")
    elif i == 7:
        prose.has(rf"y_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}\, x_j, \qquad Y = W X \in \mathbb{{R}}^{{{n} \times {d}}}")
    elif i == 8:
        prose.has(f"falls from {mean_distance(x):.3f} to {mean_distance(y):.3f} (in all {d} dimensions).")
    elif i == 9:
        prose.has(f"the self-weights Wᵢᵢ average {np.mean(np.diag(w)):.2f}.")
    elif i == 10:
        dh = min(8, d)  # the lesson's random head: 8 columns (structural)
        config = ref.model()[0].auto_model.config  # a real head's W_q: hidden size × hidden size / heads
        real = (config.hidden_size, config.hidden_size // config.num_attention_heads)
        prose.has(f"W_q, W_k, W_v ({d} × {dh} here)", f"Q, K and V for the sentence ({n} × {dh} each)")
        prose.has(f"and {dh} columns wide, few enough to read; a head of MiniLM has them {real[0]} × {real[1]}.")
    elif i == 11:
        h = ref.heads(text)[3, 1]  # the README's head, from the model's own attentions
        top = int(np.argmax(h.mean(axis=0)))
        prose.has(
            "MiniLM layer 3, head 1, trained",
            f"On average the words give {h[:, top].mean():.2f} of their attention to “{tokens[top]}”",
            "W of MiniLM layer 3, head 1:",
        )
    elif i == 12:
        prose.has(f"For {n} words that is {n * n} weights")


def lesson_reveal(at, prose_text: str, i: int) -> Prose:
    """Guess the first option, Reveal, and check what the page says of the guess."""
    tokens, x = ref.static(prose_text)
    _, w, _ = ref.seed_attention(x)
    box = guess_box(at)
    box.set_value(box.options[0]).run()
    at.button(key="lesson_reveal").click().run()
    assert not at.exception
    if i == 6:
        q = next((r for r in range(len(tokens)) if w[r].max() > w[r, r]), len(tokens) - 1)
        values, measure = w[q], "W gives"
    else:
        values, measure = np.diag(w), "W keeps"
    names, best = list(box.options), int(np.argmax(values))
    prose = Prose(at)
    if values[0] == values[best]:
        prose.has(f"You guessed “{names[0]}”: right. {measure} it {values[0]:.2f}, the largest of the {len(names)}.")
    else:
        prose.has(
            f"You guessed “{names[0]}”; {measure} “{names[best]}” {values[best]:.2f} (the largest), "
            f"your choice {values[0]:.2f}."
        )
    return prose


@pytest.mark.parametrize(
    ("text", "screens"),
    [
        ("the dog chased the ball across the park", range(1, N + 1)),
        ("I love 😀 and 你好 too", (1, 3, 5, 9, 11)),
        ("hello", (3, 5, 8, 12)),
    ],
)
def test_lesson_text(text, screens):
    for i in screens:
        at = app(LESSON, s=text, screen=str(i))
        assert not at.exception
        prose = Prose(at)
        lesson_claims(prose, text, i)
        notices(text, prose)
        prose.fixed(*LESSON_FIXED).done()
        if i in (6, 9):
            prose = lesson_reveal(at, text, i)
            lesson_claims(prose, text, i)
            notices(text, prose)
            prose.fixed(*LESSON_FIXED).done()
