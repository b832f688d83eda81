"""The Vision page under AppTest: shared links, odd settings, the query patch, and training the classifier.

Every number the page writes in prose is recomputed here with plain NumPy (patches cut by hand, the
softmax written out) or from scikit-learn's own data. AppTest does not run a fragment's timer, so each
`at.run()` stands for one tick of it while a run is going.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from streamlit.testing.v1 import AppTest

from attnviz import ui
from attnviz.learn import classifier
from tests.apptest_charts import decode, figure, heatmap, picker
from tests.test_cli_vision import plain_attention
from tests.test_pages import app as pages_app
from tests.test_pages import run_until_done

PAGE = "pages/7_Vision.py"
DIGITS = load_digits()


def app(**params) -> AppTest:
    return pages_app(PAGE, **params)


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def check_view(at, index: int, p: int, *, positions=False, s=1.0, t=1.0, query=None):
    """The heatmap, the painted row and every number in the prose, against NumPy."""
    image = DIGITS.images[index]
    labels, _, w = plain_attention(image, p, positions=positions, s=s, t=t)
    k = len(labels)
    z, rows, cols = heatmap(at, "vision_w")
    assert rows == cols == labels
    np.testing.assert_allclose(z, w, atol=1e-12)
    g = 8 // p
    patches = [image[r * p : r * p + p, c * p : c * p + p] for r in range(g) for c in range(g)]
    ink = np.array([x.sum() for x in patches])
    q = int(np.argmax(ink)) if query is None else query
    assert picker(at, "vision_query").value == q
    paint = figure(at, "vision_paint")["data"]
    np.testing.assert_array_equal(decode(paint[0]["z"]), image)
    painted = decode(paint[1]["z"])
    for j in range(k):  # each patch's pixels carry the query's weight on that patch
        r, c = divmod(j, g)
        np.testing.assert_allclose(painted[r * p : r * p + p, c * p : c * p + p], w[q, j], atol=1e-12)
    d = p * p + (k if positions else 0)
    md = at.markdown[0].value
    assert f"Digit #{index} is a **{DIGITS.target[index]}**" in md
    assert f"**{k} patches** of {p} × {p} pixels" in md and f"d = {d} numbers" in md
    text = captions(at)
    order = np.argsort(-w[q], kind="stable")[:3]
    top = ", ".join(f"{labels[j]} ({w[q, j]:.3f})" for j in order)
    assert f"Patch {labels[q]}'s row of W painted back" in text and f"It takes most from {top}." in text
    blank = sum(int(not x.any()) for x in patches)
    if blank:
        assert f"{blank} of the {k} patches are blank" in text and f"1/{k} = {1 / k:.4f} each" in text
    else:
        assert "No patch is blank here" in text
    return w


def test_shared_link_shows_the_digit_and_its_patches():
    at = app(i="5", p="2", s="a sentence left alone")
    w = check_view(at, 5, 2)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # the sidebar: no sentence box on this page, temperature and scale stay, the sentence stays in the link
    assert not [t for t in at.sidebar.text_input if t.label == "Sentence"]
    assert at.sidebar.slider[0].label == "Temperature T"
    assert at.query_params["s"] == "a sentence left alone" and at.query_params["i"] == "5"
    assert at.query_params["q"] == str(picker(at, "vision_query").value)


@pytest.mark.parametrize(
    ("params", "index", "p", "positions", "s", "t"),
    [
        ({"i": "1796", "p": "4", "pos": "1", "scale": "sqrt-d", "t": "0.5"}, 1796, 4, True, 1 / np.sqrt(20), 0.5),
        ({"i": "42", "p": "1", "t": "0.05"}, 42, 1, False, 1.0, 0.05),  # 64 one-pixel patches, very sharp
        ({"i": "99999", "p": "3", "pos": "yes"}, 1796, 2, True, 1.0, 1.0),  # clamped, and an unknown size ignored
        ({"i": "abc", "p": "<b>", "q": "63"}, 0, 2, False, 1.0, 1.0),  # nonsense: defaults; q beyond k: re-chosen
    ],
)
def test_odd_links_and_settings(params, index, p, positions, s, t):
    at = app(**params)
    check_view(at, index, p, positions=positions, s=s, t=t)


def test_choosing_a_query_patch_and_another_digit():
    at = app(i="17", p="2")
    picker(at, "vision_query").set_value(6).run()
    assert not at.exception
    check_view(at, 17, 2, query=6)
    assert at.query_params["q"] == "6"
    at.number_input(key="_w_vision_index").set_value(300).run()  # a new digit: the query is chosen again
    check_view(at, 300, 2)
    at.toggle(key="_w_vision_pos").set_value(True).run()
    check_view(at, 300, 2, positions=True)
    assert "adds exactly 1 to each patch's score with itself" in captions(at)
    at.button(key="vision_random").click().run()
    assert not at.exception
    check_view(at, at.number_input(key="_w_vision_index").value, 2, positions=True)


def train(at: AppTest, max_ticks: int = 100) -> int:
    return run_until_done(at, "vision_train", "vision_run", max_ticks=max_ticks)


def test_train_shows_accuracy_confusions_and_attention():
    ui.finished_classifiers().clear()
    at = app(seed="4")
    assert at.info[0].value.startswith("Press Train")
    ticks = train(at)
    assert 1 + ticks == 20  # one epoch a tick; the press itself trains the first
    mine = classifier.train(classifier.Config(seed=4))
    targets = DIGITS.target[mine.test_indices]
    right = int(np.sum(mine.predictions == targets))
    assert right / 450 >= 0.90
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{right / 450:.1%}" and metrics["Right"] == f"{right} of 450"
    first, last = mine.losses[0], mine.losses[-1]
    short = lambda x: f"{x:.2f}" if x >= 0.01 else f"{x:.1e}"  # noqa: E731
    assert metrics["Loss, first → last step"] == f"{short(first)} → {short(last)}"
    n_train = 1797 - 450
    steps = 20 * -(-n_train // 32)
    assert steps == 860 == len(mine.losses)
    md = "\n".join(m.value for m in at.markdown)
    assert f"{20} passes over the {n_train} training digits ({steps} steps); 450 test digits" in md
    assert "learning rate 0.005, batches of 32" in md and "D = 16 numbers" in md
    np.testing.assert_allclose(decode(figure(at, "vision_loss")["data"][0]["y"]), mine.losses, rtol=1e-12)
    counts = np.zeros((10, 10), int)
    for a, b in zip(targets, mine.predictions):
        counts[a, b] += 1
    z, rows, cols = heatmap(at, "vision_confusion")
    assert rows == cols == [str(i) for i in range(10)]
    np.testing.assert_array_equal(z, counts)
    text = captions(at)
    assert f"The diagonal holds the {right} right answers." in text
    off = counts - np.diag(np.diag(counts))
    most = off.max()
    pairs = [(a, b) for a in range(10) for b in range(10) if off[a, b] == most]
    listed = ", ".join(f"a {a} read as a {b}" for a, b in pairs[:3]) + (
        f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
    )
    assert f"({most} times" in text and f"): {listed}." in text
    received = mine.weights[:8].mean(axis=1)  # [8, 16]
    brightest = ", ".join(f"r{j // 4}c{j % 4}" for j in received.argmax(axis=1))
    assert f"The brightest patch of each: {brightest}." in text
    assert f"ln 10 = {np.log(10):.2f}" in text and "1/16 = 0.0625" in text
    gallery = figure(at, "vision_gallery")["data"]
    np.testing.assert_array_equal(decode(gallery[0]["z"]), DIGITS.images[mine.test_indices[0]])
    np.testing.assert_allclose(decode(gallery[1]["z"])[2:4, 4:6], received[0, 6], atol=1e-12)

    # the same seed in another session: from the server's cache, at once
    again = app(seed="4")
    again.button(key="vision_train").click().run()
    assert not again.session_state["vision_run"].running
    assert {m.label: m.value for m in again.metric}["Right"] == f"{right} of 450"


def test_stop_keeps_the_run_and_says_so():
    ui.finished_classifiers().clear()
    at = app(seed="1")
    at.button(key="vision_train").click().run()
    at.run()
    at.button(key="vision_stop").click().run()
    assert not at.exception
    run = at.session_state["vision_run"]
    assert not run.running and run.result is None
    assert at.warning[0].value.startswith(f"Stopped at epoch {run.trainer.epoch} of 20")
    assert not at.metric
