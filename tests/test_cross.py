"""Two sentences: cross-attention (unparameterised and through a learned head), shared pieces, and the
learned cross-attention against an independent torch computation from the model's own hidden states."""

import numpy as np
import pytest
import torch

from attnviz.attention import core, cross
from attnviz.model import bert, qkv
from attnviz.model.embeddings import bert_weights

TROPHY_BIG = "The trophy didn't fit in the suitcase because it was too big"
TROPHY_SMALL = "The trophy didn't fit in the suitcase because it was too small"
PAIRS = [
    (TROPHY_BIG, TROPHY_SMALL),
    ("the cat sat on the mat", "le chat est assis sur le tapis"),
    ("hi", "Attention is all you need!"),
]


@pytest.fixture(scope="module")
def weights(minilm):
    return bert_weights(minilm)


@pytest.mark.parametrize("scale", ["none", "sqrt-d", 0.3])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_cross_attention_with_itself_is_self_attention(scale, temperature):
    x = np.random.default_rng(0).normal(size=(5, 7))
    self_tr = core.self_attention(x, scale=scale, temperature=temperature)
    cross_tr = core.cross_attention(x, x, scale=scale, temperature=temperature)
    np.testing.assert_array_equal(cross_tr.scores, self_tr.scores)
    np.testing.assert_allclose(cross_tr.weights, self_tr.weights, atol=1e-15)
    np.testing.assert_allclose(cross_tr.output, self_tr.output, atol=1e-15)


def test_cross_attention_by_hand():
    xa = np.array([[1.0, 0.0], [0.0, 2.0]])
    xb = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    tr = core.cross_attention(xa, xb, ["a1", "a2"], ["b1", "b2", "b3"], temperature=2.0)
    np.testing.assert_array_equal(tr.scores, [[1, 2, 0], [2, 0, 0]])
    e = np.exp(np.array([[1, 2, 0], [2, 0, 0]]) / 2.0)
    np.testing.assert_allclose(tr.weights, e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(tr.output, tr.weights @ xb)
    assert tr.weights.shape == (2, 3) and tr.queries == ("a1", "a2") and tr.keys == ("b1", "b2", "b3")
    with pytest.raises(core.AttentionError, match="features"):
        core.cross_attention(xa, np.ones((2, 3)))
    with pytest.raises(core.AttentionError, match="no tokens"):
        core.cross_attention(xa, np.ones((0, 2)))


def _source(minilm, weights, text, layer, head):
    pieces = minilm.tokenize(text)
    trace = bert.forward(weights, pieces.ids, pieces.tokens, layers=layer)
    return pieces, qkv.minilm_source(weights, trace, layer, head)


@pytest.mark.parametrize("text", ["the cat sat on the mat", TROPHY_BIG])
@pytest.mark.parametrize("special", [True, False])
def test_learned_cross_with_itself_is_the_models_self_attention(minilm, weights, text, special):
    layer, head = 3, 7
    pieces, src = _source(minilm, weights, text, layer, head)
    keep = pieces.shown(special)
    tr = qkv.head_trace(src, context=src, keep=keep, keep_context=keep)
    model = minilm.forward(pieces.ids, attentions=True).attentions[layer][0, head].numpy().astype(float)
    if not special:
        model = model[1:-1, 1:-1] / model[1:-1, 1:-1].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tr.weights[0], model, atol=1e-5)


def torch_cross(minilm, a: str, b: str, layer: int, head: int, *, special: bool = True):
    """Independent: the model's own hidden states and nn.Linear weights, in torch."""
    ha = minilm.forward(minilm.tokenize(a).ids, attentions=True).hidden_states[layer][0]
    hb = minilm.forward(minilm.tokenize(b).ids, attentions=True).hidden_states[layer][0]
    sa = minilm.bert.encoder.layer[layer].attention.self
    cols = slice(32 * head, 32 * (head + 1))
    with torch.no_grad():
        q = sa.query(ha)[:, cols]
        k, v = sa.key(hb)[:, cols], sa.value(hb)[:, cols]
        if not special:
            q, k, v = q[1:-1], k[1:-1], v[1:-1]
        s = q @ k.T / 32**0.5
        w = torch.softmax(s, dim=-1)
        return s.numpy(), w.numpy(), (w @ v).numpy()


@pytest.mark.parametrize("a,b", PAIRS)
@pytest.mark.parametrize("layer,head", [(0, 0), (2, 5), (5, 11)])
def test_learned_cross_attention_matches_torch(minilm, weights, a, b, layer, head):
    pa, sa = _source(minilm, weights, a, layer, head)
    pb, sb = _source(minilm, weights, b, layer, head)
    for special in (True, False):
        tr = qkv.head_trace(sa, context=sb, keep=pa.shown(special), keep_context=pb.shown(special))
        s, w, z = torch_cross(minilm, a, b, layer, head, special=special)
        assert tr.weights[0].shape == (len(pa.shown_tokens(special)), len(pb.shown_tokens(special)))
        assert np.abs(tr.scores[0] - s).max() <= 1e-5
        assert np.abs(tr.weights[0] - w).max() <= 1e-5
        assert np.abs(tr.output[0] - z).max() <= 1e-5


def test_shared_pieces_of_the_trophy_pair(minilm):
    ta = minilm.tokenize(TROPHY_BIG).tokens
    tb = minilm.tokenize(TROPHY_SMALL).tokens
    shared = cross.shared_pieces(ta, tb)
    assert "big" in ta and "small" in tb
    assert shared.tokens == tuple(t for t in ta if t != "big")
    assert [tb[j] for j in shared.b] == list(shared.tokens)
    assert shared.a.tolist() == [i for i, t in enumerate(ta) if t != "big"]


def test_shared_pieces_pair_repeats_in_order():
    shared = cross.shared_pieces(["the", "cat", "saw", "the", "dog"], ["the", "dog", "saw", "the", "cat"])
    for i, j in zip(shared.a, shared.b):
        assert ["the", "cat", "saw", "the", "dog"][i] == ["the", "dog", "saw", "the", "cat"][j]
    assert list(shared.a) == sorted(shared.a) and list(shared.b) == sorted(shared.b)
    assert len(cross.shared_pieces(["a"], ["b"])) == 0


def test_shared_difference_and_favourites():
    wa = core.softmax(np.random.default_rng(1).normal(size=(4, 4)))
    wb = core.softmax(np.random.default_rng(2).normal(size=(3, 3)))
    shared = cross.Shared(np.array([0, 2]), np.array([1, 2]), ("x", "y"))
    diff = cross.shared_difference(wa, wb, shared)
    np.testing.assert_allclose(
        diff, [[wb[1, 1] - wa[0, 0], wb[1, 2] - wa[0, 2]], [wb[2, 1] - wa[2, 0], wb[2, 2] - wa[2, 2]]]
    )
    assert cross.most_changed(np.array([[0.1, -0.1], [0.3, 0.0]])) == 1
    assert cross.top_keys(np.array([0.2, 0.5, 0.3]), ["a", "b", "c"], top=2) == [("b", 0.5), ("c", 0.3)]


def test_foreign_text_is_recognised(minilm):
    assert not cross.looks_foreign(minilm.tokenize(TROPHY_BIG).tokens)
    assert cross.looks_foreign(minilm.tokenize("Die Trophäe passte nicht in den Koffer").tokens)
    assert cross.looks_foreign(minilm.tokenize("奖杯放不进手提箱").tokens)  # [UNK]
    assert cross.fragmentation(("[CLS]", "tr", "##op", "##hae", "[UNK]", "[SEP]")) == (2, 2, 1)


def test_multi_head_attention_with_a_context_has_rectangular_weights():
    rng = np.random.default_rng(3)
    w = [rng.normal(size=s) for s in [(4, 4), (4,)] * 3]
    tr = core.multi_head_attention(rng.normal(size=(2, 4)), *w, n_heads=2, context=rng.normal(size=(5, 4)))
    assert tr.q.shape == (2, 2, 2) and tr.k.shape == tr.v.shape == (2, 5, 2)
    assert tr.weights.shape == (2, 2, 5) and tr.output.shape == (2, 2, 2)
    np.testing.assert_allclose(tr.weights.sum(axis=-1), 1.0)


def test_the_readme_trophy_numbers(minilm):
    """README: what "it" attends to in MiniLM's layer 3, head 1 ([CLS]/[SEP] dropped, rows renormalised)."""
    for text, trophy, suitcase in ((TROPHY_BIG, 0.653, 0.267), (TROPHY_SMALL, 0.694, 0.222)):
        pieces = minilm.tokenize(text)
        w = minilm.forward(pieces.ids, attentions=True).attentions[3][0, 1].numpy()[1:-1, 1:-1]
        w = w / w.sum(axis=1, keepdims=True)
        tokens = pieces.tokens[1:-1]
        row = w[tokens.index("it")]
        assert round(float(row[tokens.index("trophy")]), 3) == trophy
        assert round(float(row[tokens.index("suitcase")]), 3) == suitcase
        assert [tokens[j] for j in np.argsort(-row)[:2]] == ["trophy", "suitcase"]
