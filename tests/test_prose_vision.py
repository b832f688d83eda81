"""The prose guard on the Vision page: every number its captions print, recomputed (baselines included)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from attnviz import ui
from tests import reference as ref
from tests.prose import COMMON, Prose
from tests.test_pages import app
from tests.test_vision_apptest import train

LESSON, VISION, QKS = "pages/0_Lesson.py", "pages/7_Vision.py", "pages/8_Query_key_space.py"


DIGITS = load_digits()


@pytest.fixture(scope="module", autouse=True)
def _warm(minilm):
    """The model and the Query/key space corpus, loaded once for the module."""
    ui.qk_corpus(ui.model_future().result(timeout=300)).future.result()


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
