"""Every number in the text of the Lesson, Vision and Query/key space pages, recomputed independently
(tests/reference.py: the model through sentence-transformers and Hugging Face; scikit-learn's digits and
plain NumPy; tests/test_qkspace.reference from the model's torch modules), and every other digit on those
pages accounted for (tests/prose.py)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from attnviz import ui
from tests import reference as ref
from tests.prose import COMMON, Prose
from tests.test_pages import app
from tests.test_prose import notices
from tests.test_qkspace import reference as qk_reference
from tests.test_vision_apptest import train

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
DIGITS = load_digits()


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


VISION_FIXED = (
    *COMMON,
    "Seed 000",
    "8 × 8 handwritten digits",
    "pixels / 16",
    r"\tfrac{1}{16}",
    "adds up to 1",
    "adds exactly 1 to each patch's score with itself and 0 elsewhere",
    "to 10 scores",
    "among 10",
)
# The classifier the page describes (README): 4 × 4 patches of 2 × 2 pixels, D = 16, Adam 0.005, batches of 32,
# 20 epochs, a test set of 450 digits.
TRAIN_TEXT = (
    "One attention layer learns to read the digits: 16 patches of 2 × 2 pixels, each embedded in D = 16 numbers "
    "plus a learned position embedding, one attention layer with a residual, then a readout of all 16 patches to "
    "10 scores. Gradients written out by hand, Adam, learning rate 0.005, batches of 32: 20 passes over the "
    f"{len(DIGITS.target) - 450} training digits ({20 * -(-(len(DIGITS.target) - 450) // 32)} steps); "
    "450 test digits it never sees while training."
)


def vision_claims(prose: Prose, index: int, p: int, positions: bool) -> None:
    """The patches cut by hand from scikit-learn's image, softmax(X Xᵀ) written out."""
    image = DIGITS.images[index]
    g = 8 // p
    cells = [(r, c) for r in range(g) for c in range(g)]
    x = np.array([image[r * p : r * p + p, c * p : c * p + p].ravel() / 16 for r, c in cells])
    k = len(cells)
    if positions:
        x = np.hstack([x, np.eye(k)])
    w = ref.softmax_rows(x @ x.T)
    labels = [f"r{r}c{c}" for r, c in cells]
    ink = np.array([image[r * p : r * p + p, c * p : c * p + p].sum() for r, c in cells])
    q = int(np.argmax(ink))
    where = f", then its one-hot index (d = {p * p} + {k})" if positions else ""
    prose.has(
        f"Digit #{index} is a **{DIGITS.target[index]}**. Cut into **{k} patches** of {p} × {p} pixels",
        f"a vector of d = {x.shape[1]} numbers: its pixels / 16 in reading order{where}.",
        rf"\mathrm{{image}}[{p}r : {p}r{{+}}{p},\; {p}c : {p}c{{+}}{p}]",
        "s = 1,\\; T = 1",
        f"W over the {k} patches",
    )
    order = np.argsort(-w[q], kind="stable")[:3]
    prose.has(
        f"Patch {labels[q]}'s row of W painted back",
        "It takes most from " + ", ".join(f"{labels[j]} ({w[q, j]:.3f})" for j in order) + ".",
    )
    blank = int((ink == 0).sum())
    if blank:
        prose.has(
            f"{blank} of the {k} patches are blank (every pixel 0): their scores are all 0", f"1/{k} = {1 / k:.4f} each"
        )
        if positions:
            prose.has("except 1 with themselves")
    else:
        assert "No patch is blank here" in prose
    prose.has(TRAIN_TEXT)


@pytest.mark.parametrize("index", [3, 1796])
def test_vision_text(index):
    for p in (1, 2, 4):
        for positions in (False, True):
            at = app(VISION, i=str(index), p=str(p), pos="1" if positions else "0")
            assert not at.exception
            prose = Prose(at)
            vision_claims(prose, index, p, positions)
            prose.fixed(*VISION_FIXED).done()


def test_vision_text_after_training():
    """The trained run's numbers, recomputed from its predictions, losses and attention and scikit-learn's labels
    (whether training itself is right is tests/test_vision.py's job)."""
    at = app(VISION, i="0", p="2", seed="0")
    train(at)
    result = at.session_state["vision_run"].result
    targets = DIGITS.target[result.test_indices]
    assert len(targets) == 450 and np.array_equal(result.targets, targets)
    right = int((result.predictions == targets).sum())
    short = lambda v: f"{v:.2f}" if v >= 0.01 else f"{v:.1e}"  # noqa: E731
    prose = Prose(at)
    vision_claims(prose, 0, 2, False)
    prose.has(
        f"Test accuracy: {right / 450:.1%}",
        f"Right: {right} of 450",
        f"Loss, first → last step: {short(result.losses[0])} → {short(result.losses[-1])}",
        f"ln 10 = {np.log(10):.2f}",
        f"The diagonal holds the {right} right answers.",
    )
    counts = np.zeros((10, 10), int)
    for a, b in zip(targets, result.predictions):
        counts[a, b] += 1
    off = counts - np.diag(np.diag(counts))
    most = int(off.max())
    if most:
        pairs = [f"a {a} read as a {b}" for a in range(10) for b in range(10) if off[a, b] == most]
        more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
        plural, each = ("s", " each") if len(pairs) > 1 else ("", "")
        prose.has(f"The most frequent mistake{plural} ({most} times{each}): {', '.join(pairs[:3])}{more}.")
    baseline_claims(prose, result.predictions, targets)
    received = result.weights[:8].mean(axis=1)  # [8, 16]
    prose.has(
        "The first 8 test digits",
        "averaged over the 16 queries (even attention would give every patch 1/16 = 0.0625)",
        "The brightest patch of each: " + ", ".join(f"r{j // 4}c{j % 4}" for j in received.argmax(axis=1)) + ".",
    )
    prose.fixed(*VISION_FIXED).done()


def sklearn_baselines() -> tuple[float, float, float]:
    """1-NN, 5-NN and logistic regression (L2, C = 1, scikit-learn solved tightly), on pixels / 16 of
    train_test_split(test_size=0.25, random_state=0): the page's baselines, independently."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    from tests.test_baselines import by_hand

    x_train, x_test, y_train, y_test = train_test_split(DIGITS.data / 16, DIGITS.target, test_size=0.25, random_state=0)
    # k-NN with ties at the k-th place resolved by training order (the page's rule), by hand; scikit-learn's
    # own vote differs only at such ties (tests/test_baselines.py)
    knn = [float(np.mean(by_hand(x_train, y_train, x_test, k) == y_test)) for k in (1, 5)]
    for k, acc in zip((1, 5), knn):
        assert acc == pytest.approx(KNeighborsClassifier(k).fit(x_train, y_train).score(x_test, y_test), abs=2 / 450)
    logistic = LogisticRegression(C=1.0, tol=1e-10, max_iter=100_000).fit(x_train, y_train).score(x_test, y_test)
    return knn[0], knn[1], logistic


def baseline_claims(prose: Prose, predictions: np.ndarray, targets: np.ndarray) -> None:
    """The baselines' caption, its branches written out from the page's rule."""
    nn1, nn5, logistic = sklearn_baselines()
    accuracy = float(np.mean(predictions == targets))
    gap = accuracy - logistic
    if gap == 0:
        versus = "as many as"
    else:
        versus = f"{abs(gap) * 100:.1f} percentage points {'more' if gap > 0 else 'less'} than"
    if gap >= 0.01:
        adds = f"So here its attention layer is worth {gap * 100:.1f} points"
    else:
        adds = f"So its attention adds {'little' if gap > 0 else 'no'} accuracy here"
    lookup = "the nearest training digit does better" if accuracy < nn1 else "it matches the nearest-digit lookup"
    prose.has(
        f"Beside it, on the same {len(targets)} test digits and from the same pixels / 16: the nearest training digit "
        f"reads {nn1:.1%}, a vote of the 5 nearest {nn5:.1%}, and logistic regression (a softmax of one linear map of "
        f"the {DIGITS.data.shape[1]} pixels) {logistic:.1%}.",
        f"with it, it reads {versus} logistic regression. {adds}, and {lookup}.",
    )


QKS_FIXED = (
    *COMMON,
    r"\sqrt{32}",
    "the 32 numbers",
    "s^2",
    "keys by 1/s",
    "|q|² + |k|² − 2 q · k",
    "(-1 would put every pair on one falling line)",
    "|k′|²/2",
    "100 corpus sentences",  # the bundled corpus (tests/test_qkspace: 100 different sentences)
)


@pytest.mark.parametrize(("layer", "head", "method"), [(0, 0, "pca"), (3, 1, "pca"), (2, 4, "tsne")])
def test_query_key_space_text(layer, head, method):
    import time

    from attnviz import qkspace
    from tests.apptest_charts import figure
    from tests.test_qkspace import torch_sentence

    text = "The dog chased the cat because it was hungry"
    params = {} if (layer, head) == (0, 0) else {"layer": str(layer), "head": str(head)}
    at = app(QKS, s=text, **params, **({"proj": method} if method == "tsne" else {}))
    for _ in range(600 if method == "tsne" else 0):  # AppTest does not run the fragment's timer: a run a tick
        if figure(at, "qks_plane")["layout"]["xaxis"]["title"]["text"] == "t-SNE 1":
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception
    r = qk_reference(text, layer, head, special=False)
    if method == "tsne":  # t-SNE sees the seeded sentences of the corpus, not all of it
        sentences = qkspace.load_corpus()
        chosen = qkspace.tsne_subset(len(sentences))
        shown = sum(int((~torch_sentence(sentences[i])["special"]).sum()) for i in chosen)
    tokens, n = r["tokens"], len(r["tokens"])
    tokens = ref.labels(tokens)  # a repeated piece is labelled with its count: “the #1”, “the #2”
    w = r["weights"][0]  # the first query is followed by default
    order = np.argsort(-w, kind="stable")[:3]
    prose = Prose(at)
    a, b = r["explained"]
    if method == "tsne":
        prose.has(
            f"the {n} pieces of your sentence; faint, the {shown} pieces of {len(chosen)} corpus sentences",
            f"t-SNE (seed 0) of your sentence and {len(chosen)} corpus sentences",
        )
    else:
        prose.has(
            f"the {n} pieces of your sentence; faint, the {r['corpus_pieces']} pieces of",
            f"PCA keeps {a:.1%} and {b:.1%} of the spread",
        )
    prose.has(
        f"Layer {layer}, head {head}: blue circles are queries",
        f"|t| = {np.linalg.norm(r['t']):.3f}",
        f"s = {r['s']:.4f}",
        rf"\right|}} = {r['mean_norm']:.3f}",
        f"(here {r['mean_norm']:.3f})",
        f"mean length {r['typed_q_norm']:.3f} for its queries and {r['typed_k_norm']:.3f} for its keys",
        f"The query of “{tokens[0]}” gives its largest weights to "
        + ", ".join(f"“{tokens[j]}” {w[j]:.3f}" for j in order),
    )
    mixed, after, before = prose.take(
        r"(What that buys is that queries and keys mix|For this head they do not mix more): in all 32 dimensions, "
        rf"(\d+\.\d)% of the corpus's {r['corpus_pieces']} queries have a key as their nearest neighbour, against "
        r"(\d+\.\d)% before the moves"
    )[0]
    # within one query of the test's own count (the model's float32 vectors, read by torch here, by NumPy there)
    one = 100 / r["corpus_pieces"] + 0.05
    assert abs(float(after) - 100 * r["key_nearest"]) <= one and abs(float(before) - 100 * r["key_nearest_raw"]) <= one
    assert mixed.startswith("What") == (r["key_nearest"] > r["key_nearest_raw"])
    prose.has(
        f"the correlation of the distance with q · k is {r['correlation']:.2f} after the moves and "
        f"{r['correlation_raw']:.2f} before"
    )
    prose.fixed(*QKS_FIXED).done()
