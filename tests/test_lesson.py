"""The lesson's screens, the reveal sentence, CSV and the handout, against numbers computed here by hand
or with plain NumPy; the CLI's --handout as a subprocess."""

import csv
import io
import re
import subprocess
import sys

import numpy as np
import pytest

from attnviz import lesson
from attnviz.attention import core
from attnviz.lesson import handout

X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])  # four words in two features
TOKENS = ("hi", "how", "are", "you")


def numpy_weights(x: np.ndarray, factor: float = 1.0) -> np.ndarray:
    s = factor * (x @ x.T)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+", text)]


@pytest.fixture
def context() -> lesson.Context:
    return lesson.Context(core.self_attention(X, TOKENS), "hand-made vectors")


def test_there_are_twelve_screens_with_the_seeds_ideas(context):
    keys = [s.key for s in lesson.screens(context)]
    assert keys == ["words", "embedding", "dot", "scores", "softmax", "weights", "output", "moving",
                    "parameters", "qkv", "learned", "recap"]  # fmt: skip
    assert all(lesson.screen(i, context).key == k for i, k in enumerate(keys))


def test_every_number_in_the_screens_text_by_hand(context):
    w = numpy_weights(X)
    s = {sc.key: sc for sc in lesson.screens(context)}
    assert "4 tokens: hi | how | are | you" in s["words"].text
    assert numbers(s["dot"].text) == [0.0]  # x1 · x2 = 1·0 + 0·1
    assert "0.0000" in s["dot"].latex
    # X Xᵀ = [[1,0,1,-1],[0,1,1,.5],[1,1,2,-.5],[-1,.5,-.5,1.25]]: 2 and 1.25 above 1, four negatives
    assert "2 of the 16 scores are above 1 and 4 are below 0" in s["scores"].text
    # row 1 (hi) has -1; its sum is 1: divided = [1, 0, 1, -1]; softmax of [1, 0, 1, -1]
    soft = np.exp([1, 0, 1, -1]) / np.exp([1, 0, 1, -1]).sum()
    assert numbers(s["softmax"].text) == [1.0, -1.0, 1.0, round(soft.min(), 3), round(soft.max(), 3)]
    y = w @ X
    dist = lambda p: np.mean([np.linalg.norm(p[i] - p[j]) for i in range(4) for j in range(4) if i != j])  # noqa: E731
    assert numbers(s["moving"].text) == [round(dist(X), 3), round(dist(y), 3)]
    assert numbers(s["parameters"].text) == [round(np.mean(np.diag(w)), 2)]


def test_reveal_compares_the_guess_with_w(context):
    w = numpy_weights(X)
    q = lesson.screen(5, context).question
    row = next((i for i in range(4) if w[i].max() > w[i, i]), 3)
    np.testing.assert_allclose(q.values, w[row])
    best = int(np.argmax(w[row]))
    wrong = (best + 1) % 4
    assert lesson.reveal(q, wrong) == (
        f"You guessed “{TOKENS[wrong]}”; W gives “{TOKENS[best]}” {w[row, best]:.2f} (the largest), "
        f"your choice {w[row, wrong]:.2f}."
    )
    assert lesson.reveal(q, best).startswith(f"You guessed “{TOKENS[best]}”: right. W gives it {w[row, best]:.2f}")
    diag = lesson.screen(8, context).question
    np.testing.assert_allclose(diag.values, np.diag(w))


def test_reveal_by_hand():
    q = lesson.Question("?", ("a", "b", "c"), np.array([0.2, 0.41, 0.39]), "W gives")
    assert lesson.reveal(q, 0) == "You guessed “a”; W gives “b” 0.41 (the largest), your choice 0.20."
    assert lesson.reveal(q, 1) == "You guessed “b”: right. W gives it 0.41, the largest of the 3."
    tie = lesson.Question("?", ("a", "b"), np.array([0.5, 0.5]), "W gives")
    assert lesson.reveal(tie, 1).startswith("You guessed “b”: right.")


def test_question_row_and_negative_row():
    assert lesson.question_row(np.eye(3)) == 2  # every word on itself: ask about the last
    assert lesson.question_row(np.array([[0.9, 0.1], [0.7, 0.3]])) == 1
    assert lesson.question_row(np.array([[0.4, 0.4, 0.2], [0.3, 0.3, 0.4], [0, 0, 1]])) == 1  # a tie is no surprise
    assert lesson.negative_row(np.array([[1.0, 2.0], [3.0, -1.0]])) == 1
    assert lesson.negative_row(np.ones((2, 2))) is None


def test_mean_distance_by_hand():
    assert lesson.mean_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == 5.0
    assert lesson.mean_distance(np.zeros((1, 3))) == 0.0


def test_screens_with_one_token_and_no_negative_scores():
    c = lesson.Context(core.self_attention(np.array([[2.0, 1.0]]), ("solo",)), "x")
    for s in lesson.screens(c):
        if s.figure is not None:
            s.figure().to_html(include_plotlyjs=False)
    assert "every score happens to be positive" in lesson.screen(4, c).text


def test_every_screen_figure_exports(context):
    for s in lesson.screens(context):
        if s.figure is not None:
            assert "Plotly.newPlot" in s.figure().to_html(include_plotlyjs=False), s.key
        assert s.caption or s.figure is None


def test_csv_round_trip_and_formula_cells():
    m = lesson.Matrix("W", ("=cmd", "a,b", "a,b"), ("=cmd", "a,b", "a,b"), numpy_weights(X[:3]))
    rows = list(csv.reader(io.StringIO(lesson.to_csv(m))))
    assert rows[0] == ["W", "'=cmd", "a,b #1", "a,b #2"]
    assert [r[0] for r in rows[1:]] == ["'=cmd", "a,b #1", "a,b #2"]
    np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], dtype=float), m.values)
    features = list(csv.reader(io.StringIO(lesson.to_csv(lesson.Matrix("X", TOKENS, None, X)))))
    assert features[0] == ["X", "feature 1", "feature 2"]


def test_learned_head_matches_the_models_own_attention(minilm):
    from attnviz.model.embeddings import bert_weights

    pieces = minilm.tokenize("the cat sat on the mat")
    head = lesson.learned_head(bert_weights(minilm), pieces, True)
    theirs = minilm.forward(pieces.ids, attentions=True).attentions[3][0, 1].numpy()  # torch, eager
    np.testing.assert_allclose(head.weights, theirs, atol=1e-5)
    hidden = lesson.learned_head(bert_weights(minilm), pieces, False)
    inner = theirs[1:-1, 1:-1] / theirs[1:-1, 1:-1].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(hidden.weights, inner, atol=1e-5)
    assert hidden.tokens == ("the", "cat", "sat", "on", "the", "mat")
    # the head's own W_q: the model's query projection, its rows for one head of the 12 (torch's [out, in])
    query = minilm.model[0].auto_model.encoder.layer[3].attention.self.query.weight
    assert head.projection == (query.shape[1], query.shape[0] // 12) == (384, 32)


@pytest.mark.parametrize(("d", "projection"), [(2, None), (5, (5, 3)), (384, (384, 32)), (20, (20, 8))])
def test_the_qkv_screen_gives_the_shapes_of_its_own_arrays(d, projection):
    """Screen 10: W_q's shape from X and Q as computed, and a real head's only when one is loaded (issue 20:
    it said a 384 × 8 projection had "the shapes of a real head", which are 384 × 32)."""
    x = np.random.default_rng(d).normal(size=(4, d))
    head = None if projection is None else lesson.LearnedHead("MiniLM layer 3, head 1", TOKENS, np.eye(4), projection)
    screen = lesson.screen(9, lesson.Context(core.self_attention(x, TOKENS), "x", head))
    q = lesson.random_qkv(x, TOKENS).q[0]  # [4, d_head]
    assert f"W_q, W_k, W_v ({d} × {q.shape[1]} here)" in screen.text
    assert f"and {q.shape[1]} columns wide, few enough to read" in screen.text
    assert f"({len(TOKENS)} × {q.shape[1]} each)" in screen.caption
    if projection is None:
        assert "MiniLM" not in screen.text and "real head" not in screen.text
    else:
        assert screen.text.endswith(f"; a head of MiniLM has them {projection[0]} × {projection[1]}.")


HOSTILE = ("<script>alert(1)</script>", "a&b", '"><img src=x onerror=alert(2)>')


def test_handout_escapes_the_users_text():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    c = lesson.Context(core.self_attention(x, HOSTILE), "<b>source</b>")
    page = handout.render(c, plotlyjs="/* plotly.js */")
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>source</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a&amp;b" in page
    assert page.count("<script") == 1 + sum(1 for s in lesson.screens(c) if s.figure is not None)
    table = re.search(r'<table id="weights-table">.*?</table>', page).group(0)
    cells = [float(v) for v in re.findall(r"<td>([-\d.]+)</td>", table)]
    np.testing.assert_allclose(np.array(cells).reshape(3, 3), numpy_weights(x), atol=5e-4)


def test_handout_inlines_plotly_and_fetches_nothing():
    page = handout.render(lesson.Context(core.self_attention(X, TOKENS), "x"))
    plotlyjs = handout.CARTESIAN.read_text(encoding="utf-8")  # tests/test_handout.py: why this one
    assert page.count(plotlyjs) == 1  # plotly.js itself, once
    rest = page.replace(plotlyjs, "")
    assert "<script src" not in rest and "http" not in rest and "mathjax" not in rest.lower()


def run_cli(*args: str, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cli_writes_the_handout(tmp_path):
    out = tmp_path / "lesson.html"
    r = run_cli("hi how <b>are</b> you", "--embedding", "toy", "--handout", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote the handout to {out}" in r.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<b>are</b>" not in page
    assert "W = softmax" in r.stdout  # the usual table still follows


def test_cli_handout_errors(tmp_path):
    r = run_cli("hi", "--embedding", "toy", "--handout", str(tmp_path / "missing" / "x.html"))
    assert r.returncode == 2 and "cannot write the handout" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("hi", "--layer", "1", "--head", "1", "--handout", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "--handout goes with" in r.stderr
    r = run_cli("   ", "--embedding", "toy", "--handout", str(tmp_path / "y.html"))
    assert r.returncode == 2 and not (tmp_path / "y.html").exists()


def test_every_screens_chart_labels_a_repeated_word_as_the_other_pages_do():
    """The dot-product screen labelled its two rows from the two words alone: "the" where every other chart
    of "the cat saw the dog" says "the #1" (found by the browser sweep)."""
    tokens = ("the", "cat", "saw", "the", "dog")
    x = np.vstack([X, X[:1]])  # the two "the" share a vector, as static embeddings do
    c = lesson.Context(core.self_attention(x, tokens), "hand-made vectors")
    labels = ["the #1", "cat", "saw", "the #2", "dog"]
    for s in lesson.screens(c):
        if s.figure is None:
            continue
        for trace in s.figure().data:
            for axis in ("x", "y"):
                shown = getattr(trace, axis, None)
                if shown is not None and len(shown) and all(isinstance(v, str) for v in shown):
                    words = [v for v in shown if v.split(" #")[0] in tokens]
                    assert all(v in labels for v in words), (s.key, axis, list(shown))
    one = lesson.Context(core.self_attention(X[:1], ("hi",)), "hand-made vectors")
    assert list(lesson.screen(2, one).figure().data[0].y) == ["hi #1", "hi #2"]  # x · x: one word twice
