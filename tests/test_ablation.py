"""Removing heads: the ablated sentence embedding against sentence-transformers with forward hooks, what
moves downstream, the importance of each head, and the pruning curve point by point."""

import collections

import numpy as np
import pytest

from attnviz.model import ablation, bert
from tests import heads_reference as ref

TEXTS = [
    "The violinist tuned her instrument before the concert began.",
    "Can a submarine see whales in the dark?",
    "Ünïcödé, emoji 🙂 and 漢字 get through too.",
]


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize(
    "removed", [((0, 2),), ((1, 8), (1, 0), (4, 5)), tuple((la, h) for la in range(6) for h in range(0, 12, 3))]
)
def test_the_ablated_embedding_is_sentence_transformers_with_the_same_columns_removed(served, minilm, removed, uniform):
    for text in TEXTS:
        pieces = served.tokenize(text)
        intact = bert.forward(served.weights, pieces.ids, pieces.tokens)
        ab = ablation.ablate(served.weights, pieces.ids, pieces.tokens, intact, removed, uniform=uniform)
        want = ref.embedding(minilm, text, removed, uniform=uniform)
        np.testing.assert_allclose(ablation.embedding(ab.trace), want, atol=1e-4)
        assert ab.cosine == pytest.approx(ref.cosine(want, ref.embedding(minilm, text)), abs=1e-4)


def test_the_intact_embedding_is_sentence_transformers(served, minilm):
    for text in TEXTS:
        pieces = served.tokenize(text)
        got = ablation.embedding(bert.forward(served.weights, pieces.ids))
        np.testing.assert_allclose(got, ref.embedding(minilm, text), atol=1e-5)
        assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-6)


def test_nothing_below_the_lowest_removed_head_moves_and_zeroed_heads_keep_their_pattern(served):
    pieces = served.tokenize(TEXTS[0])
    intact = bert.forward(served.weights, pieces.ids, pieces.tokens)
    ab = ablation.ablate(served.weights, pieces.ids, pieces.tokens, intact, [(2, 3), (4, 1)])
    assert np.all(ab.layer_cosine[:3] == pytest.approx(1.0, abs=1e-7))  # embeddings, after layers 0 and 1
    assert ab.layer_cosine[3] < 1 - 1e-4
    assert np.all(ab.pattern_change[:3] == 0.0)  # layer 2's patterns are computed before its heads are removed
    assert ab.pattern_change[3:].max() > 0.01
    uni = ablation.ablate(served.weights, pieces.ids, pieces.tokens, intact, [(2, 3)], uniform=True)
    n = len(pieces.ids)
    np.testing.assert_allclose(uni.trace.attentions[2, 3], np.full((n, n), 1 / n), atol=1e-7)
    w = intact.attentions[2, 3].astype(np.float64)
    assert uni.pattern_change[2, 3] == pytest.approx(0.5 * np.abs(w - 1 / n).sum(-1).mean(), abs=1e-6)


def test_parse_heads():
    assert ablation.parse_heads(" 1.8, 0.2,1.8 ") == ((0, 2), (1, 8))
    assert ablation.parse_heads("") == ()
    for bad in ("6.0", "0.12", "x", "1-2", "0.2.1"):
        with pytest.raises(ValueError):
            ablation.parse_heads(bad)


def test_the_paraphrase_task_is_bundled_and_the_intact_model_solves_it(served):
    triples = ablation.load_paraphrases()
    assert len(triples) == 40 and all(len(set(t)) == 3 for t in triples)
    texts = ablation.texts(served.weights, [s for t in triples for s in t], served.tokenize)
    assert ablation.paraphrase_score(texts.intact) == 1.0
    e = np.eye(4)
    assert ablation.paraphrase_score(np.array([e[0], e[0] * 0.9 + e[1] * 0.1, e[1]] * 2)) == 1.0
    assert ablation.paraphrase_score(np.array([e[0], e[1], e[0] * 0.9 + e[1] * 0.1])) == 0.0


@pytest.fixture(scope="module")
def small(served):
    sentences = [
        "The cat slept on the warm windowsill.",
        "Two trains left the station at noon.",
        "Why is the sky blue?",
    ]
    triples = ablation.load_paraphrases()[:3]
    corpus = ablation.texts(served.weights, sentences, served.tokenize)
    tri = ablation.texts(served.weights, [s for t in triples for s in t], served.tokenize)
    return sentences, triples, corpus, tri


def last(steps):
    """Run a generator to its end; its last value."""
    return collections.deque(steps, maxlen=1)[0]


def _alone(served, sentences, removed, uniform=False):
    out = []
    for s in sentences:
        p = served.tokenize(s)
        out.append(ablation.embedding(bert.forward(served.weights, p.ids, remove=removed, uniform=uniform)))
    return np.array(out)


def test_texts_start_at_the_lowest_removed_layer_and_give_each_sentence_alone(served, small):
    sentences, _, corpus, _ = small
    for removed, uniform in (([(3, 4), (5, 0)], False), ([(0, 1)], True)):
        np.testing.assert_allclose(
            corpus.embeddings(served.weights, removed, uniform=uniform), _alone(served, sentences, removed, uniform),
            atol=2e-5,
        )  # fmt: skip


def test_importance_is_the_drop_each_removal_causes(served, small):
    sentences, _, corpus, _ = small
    steps = ablation.importance_steps(served.weights, corpus)
    got = dict(next(steps) for _ in range(3))  # layer 0's heads 0-2
    intact = _alone(served, sentences, [])
    for head, value in got.items():
        moved = _alone(served, sentences, [head])
        want = 1 - np.mean([ref.cosine(a, b) for a, b in zip(moved, intact)])
        assert value == pytest.approx(want, abs=1e-5)


def test_pruning_order():
    imp = np.arange(72.0)[::-1].reshape(6, 12)  # the last head is the least important
    order = ablation.pruning_order(imp)
    assert order[0] == (5, 11) and order[-1] == (0, 0) and len(set(order)) == 72
    r1, r2 = ablation.pruning_order(imp, seed=3), ablation.pruning_order(imp, seed=3)
    assert r1 == r2 != ablation.pruning_order(imp, seed=4) and sorted(r1) == sorted(order)


def test_the_pruning_curve_point_by_point(served, small):
    sentences, triples, corpus, tri = small
    rng = np.random.default_rng(0)
    imp = rng.random((6, 12))
    steps = ablation.curve_steps(served.weights, corpus, tri, imp, seed=5)
    curve = next(steps)
    assert curve.fractions == [0.0] and curve.cosine["importance"] == [1.0] and curve.paraphrase["random"] == [1.0]
    curve = next(steps)  # 10%: 7 heads removed
    removed = ablation.pruning_order(imp, seed=5)[:7]
    want = _alone(served, sentences, removed)
    assert curve.cosine["random"][1] == pytest.approx(
        np.mean([ref.cosine(a, b) for a, b in zip(want, corpus.intact)]), abs=1e-5
    )
    flat = [s for t in triples for s in t]
    emb = _alone(served, flat, ablation.pruning_order(imp)[:7])
    wins = [ref.cosine(emb[3 * i], emb[3 * i + 1]) > ref.cosine(emb[3 * i], emb[3 * i + 2]) for i in range(3)]
    assert curve.paraphrase["importance"][1] == pytest.approx(np.mean(wins))
    curve = last(steps)
    assert curve.fractions == list(ablation.FRACTIONS)
    assert curve.cosine["importance"][-1] == curve.cosine["random"][-1]  # every head gone: one model


def test_the_curve_resumes_where_it_stopped(served, small):
    _, _, corpus, tri = small
    imp = np.random.default_rng(1).random((6, 12))
    whole = last(ablation.curve_steps(served.weights, corpus, tri, imp, seed=2))
    part = ablation.Curve()
    steps = ablation.curve_steps(served.weights, corpus, tri, imp, seed=2, curve=part)
    for _ in range(4):
        next(steps)
    part = last(ablation.curve_steps(served.weights, corpus, tri, imp, seed=2, curve=part))
    assert part.fractions == whole.fractions
    np.testing.assert_allclose(part.cosine["random"], whole.cosine["random"])


def test_describe_says_where_the_curve_bends_from_its_own_numbers():
    c = ablation.Curve()
    c.fractions = list(ablation.FRACTIONS)
    c.paraphrase = {"importance": [1, 1, 1, 0.975, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7],
                    "random": [1, 0.9] + [0.8] * 9}  # fmt: skip
    c.cosine = {"importance": [1 - f / 2 for f in c.fractions], "random": [1 - f for f in c.fractions]}
    text = c.describe()
    assert "Removed least important first, 30% of the heads can go before the paraphrase score falls 5 points" in text
    assert "at 40% it is 95.0%" in text
    assert "In a random order, 0% of the heads can go" in text and "at 10% it is 90.0%" in text
    assert (
        "With 30% removed, the corpus's embeddings keep a mean cosine of 0.85 to intact in importance order and 0.70"
        in text
    )
    c.paraphrase = {"importance": [1.0] * 11, "random": [1.0] * 11}
    assert "never falls 5 points below intact" in c.describe()
    assert ablation.Curve().describe() == ""
