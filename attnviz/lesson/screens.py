"""The classroom lesson: seed 002's walk-through as screens, one idea each, on the teacher's sentence.

Pure NumPy and plain text (no streamlit): the Lesson page shows one screen at a time, the handout
(attnviz.lesson.handout) writes them all into one HTML file, and the notebook API reuses the same numbers.
A screen's figure is built only when asked for (`Screen.figure()`), so a rerun pays for one.

Conventions as on the other pages: the words are the rows of X [n, d], W sums to 1 along its rows,
and the context-aware vectors are the rows of Y = W X.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attnviz import figures
from attnviz.attention import core, geometry
from attnviz.model import heads

if TYPE_CHECKING:
    import plotly.graph_objects as go

D_HEAD = 8  # the random queries, keys and values: few enough columns to read
QKV_SEED = 0  # the random projections are the same for every sentence and every visit


@dataclass(frozen=True)
class LearnedHead:
    """A trained model's head on the same sentence (its own word pieces)."""

    name: str  # e.g. "MiniLM layer 3, head 1"
    tokens: tuple[str, ...]  # m pieces
    weights: np.ndarray  # [m, m] rows sum to 1
    projection: tuple[int, int] | None = None  # the shape of the head's own W_q (and W_k, W_v): [d, d_head]


@dataclass(frozen=True)
class Question:
    """Predict, then reveal: the class picks one of `options`; `values` is what W says of each."""

    prompt: str
    options: tuple[str, ...]  # unique labels, one per token
    values: np.ndarray  # [n] the number W gives each option (a row of W, or its diagonal)
    measure: str  # what the values are, e.g. "W gives"

    @property
    def answer(self) -> int:
        return int(np.argmax(self.values))


@dataclass(frozen=True)
class Matrix:
    """A matrix of the screen, for export: name, rows, columns (None: features 1 … c), values [r, c]."""

    name: str
    rows: tuple[str, ...]
    cols: tuple[str, ...] | None
    values: np.ndarray


@dataclass(frozen=True)
class Screen:
    key: str  # stable name, e.g. "weights"
    title: str
    text: str  # plain text; it may quote the user's words, so escape it when rendering
    latex: str  # the formula for st.latex (no user text in it)
    formula: str  # the same formula in plain Unicode (for the handout: no MathJax offline)
    caption: str  # one plain sentence under the figure
    figure: Callable[[], go.Figure] | None  # builds the screen's one go.Figure
    matrices: tuple[Matrix, ...] = ()
    question: Question | None = None


@dataclass(frozen=True)
class Context:
    """Everything the screens are computed from."""

    trace: core.AttentionTrace  # the seed's attention on the sentence
    source: str  # where X came from, in words
    head: LearnedHead | None = None  # a trained head on the sentence, when a model is available


def quote(token: str) -> str:
    return f"“{token}”"


def reveal(question: Question, guess: int) -> str:
    """How a guess compares with W, in one sentence.

    "You guessed “you”; W gives “are” 0.41 (the largest), your choice 0.22."
    """
    best, values, names = question.answer, question.values, question.options
    if values[guess] == values[best]:  # a tie for the largest is right too
        return (
            f"You guessed {quote(names[guess])}: right. {question.measure} it {values[guess]:.2f}, "
            f"the largest of the {len(names)}."
        )
    return (
        f"You guessed {quote(names[guess])}; {question.measure} {quote(names[best])} {values[best]:.2f} "
        f"(the largest), your choice {values[guess]:.2f}."
    )


def question_row(weights: np.ndarray) -> int:
    """The query to ask about: the first row with a weight larger than its own (a surprise worth
    predicting), else the last row.  weights [n, n]"""
    n = weights.shape[0]
    for i in range(n):
        if weights[i].max() > weights[i, i]:  # strictly: a tie with itself is no surprise
            return i
    return n - 1


def negative_row(scores: np.ndarray) -> int | None:
    """The first row of W* with a negative score, or None.  scores [n, n]"""
    rows = np.flatnonzero((scores < 0).any(axis=1))
    return int(rows[0]) if rows.size else None


def mean_distance(points: np.ndarray) -> float:
    """The mean distance between two different points (0 for one point).  points [n, d]"""
    mean, _ = geometry.spread(np.asarray(points)[None])  # the Geometry page's measure, on one frame
    return float(mean[0])


LEARNED_HEAD = (3, 1)  # MiniLM's layer 3, head 1: the README's trophy/suitcase head


def learned_head(
    weights, pieces, show_special: bool, layer: int = LEARNED_HEAD[0], head: int = LEARNED_HEAD[1], *, trace=None
):
    """MiniLM's head (layer, head) on the sentence's word pieces, as shown ([CLS]/[SEP] kept or dropped
    and the rows renormalised).  weights: bert.BertWeights, pieces: embeddings.Pieces -> LearnedHead

    trace: a forward pass already run on these pieces (bert.BertTrace, at least layer + 1 layers), reused."""
    from attnviz.model import bert, qkv

    if trace is None:
        trace = bert.forward(weights, pieces.ids, pieces.tokens, layers=layer + 1)
    w = heads.visible(trace.layers[layer].weights[head], pieces.special, show_special).astype(np.float64)  # [m, m]
    w_q = qkv.head_slice(weights.layers[layer], weights.n_heads, head)["w_q"]  # [d, d_head] the head's own columns
    return LearnedHead(f"MiniLM layer {layer}, head {head}", pieces.shown_tokens(show_special), w, w_q.shape)


def to_csv(matrix: Matrix) -> str:
    """A matrix as CSV: a header row (the columns, or feature 1 … c), then one row per token.

    A label that a spreadsheet would read as a formula (= + - @ first) gets a leading apostrophe."""
    import csv
    import io

    def cell(label: str) -> str:
        return "'" + label if label[:1] in ("=", "+", "-", "@") else label

    values = np.asarray(matrix.values)
    cols = matrix.cols if matrix.cols is not None else tuple(f"feature {k + 1}" for k in range(values.shape[1]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([cell(matrix.name), *map(cell, figures.unique_labels(cols))])
    for label, row in zip(figures.unique_labels(matrix.rows), values):
        writer.writerow([cell(label), *(repr(float(v)) for v in row)])
    return out.getvalue()


def random_qkv(x: np.ndarray, tokens) -> core.HeadsTrace:
    """Random W_q, W_k, W_v [d, D_HEAD] (seeded): the shapes of a learned head, nothing learned yet."""
    d_head = min(D_HEAD, x.shape[1])
    return heads.random_head(np.asarray(x, dtype=np.float64), d_head, np.random.default_rng(QKV_SEED), tokens=tokens)


# --- the screens ---------------------------------------------------------------------------------


def _words(c: Context) -> Screen:
    t = c.trace
    return Screen(
        "words",
        "The words",
        f"The sentence becomes {t.n} tokens: {' | '.join(t.tokens)}. Self-attention will let each of them "
        "look at all the others.",
        r"\text{tokens } t_1, \dots, t_n",
        "tokens t₁, …, tₙ",
        f"{t.n} tokens from {c.source}.",
        None,
    )


def _embedding(c: Context) -> Screen:
    t = c.trace
    return Screen(
        "embedding",
        "The embedding layer",
        f"An embedding layer turns each token into a vector of {t.d} numbers. Each vector is made on its own: "
        "at this point no word knows anything about its neighbours.",
        rf"X = \begin{{bmatrix}} x_1 \\ \vdots \\ x_{{{t.n}}} \end{{bmatrix}} \in \mathbb{{R}}^{{{t.n} \times {t.d}}}",
        f"X = [x₁; …; x{_sub(t.n)}], one row per word: {t.n} × {t.d}",
        "X: one row per word, one column per feature; blue is negative, red positive.",
        lambda: figures.vectors_heatmap(t.x, t.tokens, value_name="x"),
        (Matrix("X", t.tokens, None, t.x),),
    )


def _dot(c: Context) -> Screen:
    t = c.trace
    i, j = (0, 1) if t.n > 1 else (0, 0)
    value = float(t.scores[i, j])
    return Screen(
        "dot",
        "Dot products",
        f"How alike are two words? Multiply their vectors feature by feature and add up: the dot product. "
        f"For {quote(t.tokens[i])} and {quote(t.tokens[j])} it is {value:.4f}. It is large when the two vectors "
        "point the same way, near 0 when they are unrelated, negative when they point apart.",
        rf"x_{{{i + 1}}} \cdot x_{{{j + 1}}} = \sum_{{k=1}}^{{{t.d}}} x_{{{i + 1}k}}\, x_{{{j + 1}k}} = {value:.4f}",
        f"x{_sub(i + 1)} · x{_sub(j + 1)} = Σₖ x{_sub(i + 1)}ₖ x{_sub(j + 1)}ₖ = {value:.4f}",
        "The two word vectors one above the other: the dot product multiplies each column's two numbers and adds them.",
        lambda: figures.vectors_heatmap(t.x[[i, j]], _pair_labels(t.tokens, i, j)),
    )


def _pair_labels(tokens, i: int, j: int) -> tuple[str, str]:
    """Rows i and j labelled as in every other chart of the sentence ("the #1" where "the" repeats); a
    one-word sentence's word twice, told apart by the labelling."""
    if i == j:
        first, second = figures.unique_labels([tokens[i]] * 2)
        return first, second
    labels = figures.unique_labels(tokens)
    return labels[i], labels[j]


def _scores(c: Context) -> Screen:
    t = c.trace
    above, below = int((t.scores > 1).sum()), int((t.scores < 0).sum())
    return Screen(
        "scores",
        "W*: every pair at once",
        f"Stack all the dot products in a table: W*ᵢⱼ = xᵢ · xⱼ. It is not normalised: {above} of the "
        f"{t.n * t.n} scores are above 1 and {below} are below 0.",
        r"W^* = X X^\top, \qquad W^*_{ij} = x_i \cdot x_j",
        "W* = X Xᵀ,  W*ᵢⱼ = xᵢ · xⱼ",
        "W*: row word against column word; red where they point the same way, blue where apart.",
        lambda: figures.scores_heatmap(t.scores, t.tokens, value_name="W*"),
        (Matrix("W*", t.tokens, t.tokens, t.scores),),
    )


def _softmax(c: Context) -> Screen:
    t = c.trace
    r = negative_row(t.scores)
    row = t.scores[0 if r is None else r]
    total = float(row.sum())
    soft = core.softmax(row * t.scale / t.temperature)
    if r is None:
        text = (
            "We want each row to be a recipe for an average: weights that are positive and add up to 1. "
            "Here every score happens to be positive, but dot products can be negative, and dividing by the "
            "row sum would then give negative weights. The exponential makes every score positive first and "
            "keeps their order; dividing by the sum makes the row add up to 1."
        )
    else:
        divided = row / total
        text = (
            f"We want each row to be a recipe for an average: weights that are positive and add up to 1. "
            f"Row {r + 1} ({quote(t.tokens[r])}) has a negative score. Dividing it by its sum ({total:.4f}) gives "
            f"'weights' from {divided.min():.3f} to {divided.max():.3f}: not a recipe. The softmax makes every "
            f"score positive first (the exponential keeps their order), then divides: from {soft.min():.3f} "
            f"to {soft.max():.3f}, adding up to 1."
        )
    rows = ("divide by the sum", "softmax")
    return Screen(
        "softmax",
        "Why a softmax",
        text,
        r"W_{ij} = \frac{\exp(s\,W^*_{ij}/T)}{\sum_k \exp(s\,W^*_{ik}/T)}",
        "Wᵢⱼ = exp(s·W*ᵢⱼ / T) / Σₖ exp(s·W*ᵢₖ / T)",
        "One row of W* made into weights two ways: divided by its sum (top) and by the softmax (bottom).",
        lambda: figures.heatmap(
            np.vstack([row / total if total else np.full(t.n, np.nan), soft]),
            list(rows),
            figures.token_labels(t.tokens),
            signed=True,
            row_name="how",
            col_name="key",
            value_name="weight",
        ),
    )


def _weights(c: Context) -> Screen:
    t = c.trace
    q = question_row(t.weights)
    labels = tuple(figures.unique_labels(t.tokens))
    return Screen(
        "weights",
        "W: the attention weights",
        f"Each row of W is a word's recipe: how much it takes from every word, positive and adding up to 1 "
        f"(s = {t.scale:.4g}, T = {t.temperature:g}).",
        r"\begin{gathered} W = \operatorname{softmax}\!\left(s\, X X^\top / T\right) \text{ by rows} \\"
        r" \textstyle\sum_j W_{ij} = 1 \end{gathered}",
        "W = softmax(s·X Xᵀ / T) by rows,  Σⱼ Wᵢⱼ = 1",
        "W: row i is how much word i takes from each word (the columns); each row adds up to 1. "
        "The colours run from zero to the largest weight, so a nearly even row still shows its pattern.",
        lambda: figures.weights_heatmap(t.weights, t.tokens, relative=True, square=True),
        (Matrix("W", t.tokens, t.tokens, t.weights),),
        Question(
            f"Which word does {quote(labels[q])} attend to most?",
            labels,
            t.weights[q],
            "W gives",
        ),
    )


def _output(c: Context) -> Screen:
    t = c.trace
    return Screen(
        "output",
        "Y = W X: context-aware vectors",
        "Each word's new vector is the weighted average of all the word vectors, with its row of W as the "
        "weights: every word now carries a little of its context. (The seed writes Xᵀ W; with the words as "
        "the rows of X and W summing to 1 along its rows, the averages are the rows of W X: Xᵀ W would "
        "weight by W's columns, which do not add up to 1.)",
        rf"y_i = \sum_{{j=1}}^{{{t.n}}} W_{{ij}}\, x_j, \qquad Y = W X \in \mathbb{{R}}^{{{t.n} \times {t.d}}}",
        f"yᵢ = Σⱼ Wᵢⱼ xⱼ,  Y = W X: {t.n} × {t.d}",
        "Y: the new vectors, one row per word, in the same columns as X.",
        lambda: figures.vectors_heatmap(t.output, t.tokens, value_name="y"),
        (Matrix("Y", t.tokens, None, t.output),),
    )


def _moving(c: Context) -> Screen:
    t = c.trace
    before, after = mean_distance(t.x), mean_distance(t.output)
    return Screen(
        "moving",
        "The words move together",
        f"Every new vector is an average of the old ones, so the words move toward each other: the mean "
        f"distance between two words falls from {before:.3f} to {after:.3f} (in all {t.d} dimensions).",
        r"\begin{gathered} y_i = \textstyle\sum_j W_{ij}\, x_j \\ \Rightarrow\ y_i \text{ lies among the } x_j"
        r" \end{gathered}",
        "yᵢ = Σⱼ Wᵢⱼ xⱼ: each yᵢ lies among the xⱼ",
        "Hollow points: the words before attention (X); filled: after (Y = W X); each arrow is one word's move. "
        "The picture shows two dimensions; real heads have 64 or 128, where we cannot draw them.",
        lambda: _geometry_figure(t),
    )


def _geometry_figure(t: core.AttentionTrace):
    x = geometry.in_own_span(t.x)  # the same distances with n numbers per word
    y = t.weights @ x
    plane = geometry.fit_pca(np.vstack([x, y]))
    return figures.geometry(plane(x), plane(y), t.weights, t.tokens, axes=plane.axes)


def _parameters(c: Context) -> Screen:
    t = c.trace
    diag = np.diag(t.weights).copy()
    labels = tuple(figures.unique_labels(t.tokens))
    return Screen(
        "parameters",
        "Why parameters",
        f"Nothing here was learned: W comes from X alone, so the same words always attend the same way, "
        f"whatever the task. And a word's dot product with itself, |xᵢ|², is often its largest, so words "
        f"mostly keep themselves: the self-weights Wᵢᵢ average {diag.mean():.2f}. To learn what to look "
        "for, attention needs weights of its own.",
        r"W_{ii} = \frac{\exp(s\,|x_i|^2/T)}{\sum_k \exp(s\,x_i\cdot x_k/T)}",
        "Wᵢᵢ = exp(s·|xᵢ|² / T) / Σₖ exp(s·xᵢ·xₖ / T)",
        "How much of itself each word keeps: the diagonal of W.",
        lambda: figures.row_bars(diag, t.tokens),
        question=Question("Which word keeps the most of itself (the largest Wᵢᵢ)?", labels, diag, "W keeps"),
    )


def _qkv(c: Context) -> Screen:
    t = c.trace
    h = random_qkv(t.x, t.tokens)
    d, dh = t.x.shape[1], h.q.shape[-1]  # Q = X W_q: W_q is [columns of X, columns of Q]
    real = ""
    if c.head is not None and c.head.projection is not None:
        real = f"; a head of MiniLM has them {c.head.projection[0]} × {c.head.projection[1]}"
    return Screen(
        "qkv",
        "Queries, keys and values",
        f"Give attention three matrices to learn, W_q, W_k, W_v ({d} × {dh} here). Each word asks with its query "
        f"q = x W_q, is found by its key k = x W_k, and hands over its value v = x W_v. Here they are random "
        f"(nothing learned yet) and {dh} columns wide, few enough to read{real}.",
        r"\begin{gathered} Q = X W_q,\quad K = X W_k,\quad V = X W_v \\"
        r" W = \operatorname{softmax}\!\left(Q K^\top / \sqrt{d}\right), \quad Z = W V \end{gathered}",
        "Q = X W_q,  K = X W_k,  V = X W_v;  W = softmax(Q Kᵀ / √d),  Z = W V",
        f"Q, K and V for the sentence ({t.n} × {dh} each), from random projections of X.",
        lambda: figures.qkv(h.q[0], h.k[0], h.v[0], t.tokens, query=0),
        (
            Matrix("Q", t.tokens, None, h.q[0]),
            Matrix("K", t.tokens, None, h.k[0]),
            Matrix("V", t.tokens, None, h.v[0]),
        ),
    )


def _learned(c: Context) -> Screen:
    t = c.trace
    if c.head is None:
        h = random_qkv(t.x, t.tokens)
        return Screen(
            "learned",
            "A learned head",
            "No trained model is loaded, so this is the head of random W_q, W_k, W_v: its W has no reason to "
            "look anywhere in particular. A trained head's W shows patterns (the previous word, the end of "
            "the sentence, a related word) that the training found useful.",
            r"W = \operatorname{softmax}\!\left(Q K^\top / \sqrt{d}\right)",
            "W = softmax(Q Kᵀ / √d)",
            "W of the random head: row i is how much word i takes from each word.",
            lambda: figures.weights_heatmap(h.weights[0], t.tokens),
            (Matrix("W (random head)", t.tokens, t.tokens, h.weights[0]),),
        )
    head = c.head
    top = int(np.argmax(head.weights.mean(axis=0)))
    return Screen(
        "learned",
        "A learned head",
        f"{head.name}, trained on a large amount of text, on the same sentence: its W was shaped by training, "
        f"not by the dot products of X. On average the words give {head.weights[:, top].mean():.2f} of their "
        f"attention to {quote(head.tokens[top])}, the piece this head looks at most.",
        r"W = \operatorname{softmax}\!\left(Q K^\top / \sqrt{32}\right)",
        "W = softmax(Q Kᵀ / √32)",
        f"W of {head.name}: row i is how much word piece i takes from each piece.",
        lambda: figures.weights_heatmap(head.weights, head.tokens),
        (Matrix(f"W ({head.name})", head.tokens, head.tokens, head.weights),),
    )


def _recap(c: Context) -> Screen:
    t = c.trace
    return Screen(
        "recap",
        "The whole of it",
        f"Words → vectors X → scores X Xᵀ → weights W by a softmax along each row → new vectors Y = W X. "
        f"For {t.n} words that is {t.n * t.n} weights: the cost grows with the square of the length. "
        "A Transformer adds learned queries, keys and values, many heads side by side, and many layers.",
        r"Y = \operatorname{softmax}\!\left(\frac{s\,X X^\top}{T}\right) X",
        "Y = softmax(s·X Xᵀ / T) X",
        "",
        None,
    )


SCREENS: tuple[Callable[[Context], Screen], ...] = (
    _words,
    _embedding,
    _dot,
    _scores,
    _softmax,
    _weights,
    _output,
    _moving,
    _parameters,
    _qkv,
    _learned,
    _recap,
)


def screen(i: int, context: Context) -> Screen:
    """Screen i (0-based) for the context; only that screen's numbers are computed."""
    return SCREENS[i](context)


def screens(context: Context) -> list[Screen]:
    return [make(context) for make in SCREENS]


def _sub(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
