"""MiniLM recomputed in NumPy: every head and every hidden state equals the model's own."""

import numpy as np
import pytest

from attnviz.attention import core
from attnviz.model import bert
from attnviz.model.embeddings import bert_weights

SENTENCES = [
    "hi how are you",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "Attention is all you need; recurrence is not! " * 10,  # ~120 pieces
    "word " * 300,  # cut to the 256-piece window, no padding
]


@pytest.fixture(scope="module")
def weights(minilm):
    return bert_weights(minilm)


def test_shapes(weights):
    assert weights.n_layers == 6 and weights.n_heads == 12 and weights.d_head == 32


@pytest.mark.parametrize("text", SENTENCES)
def test_every_head_and_hidden_state_matches_the_model(minilm, weights, text):
    pieces = minilm.tokenize(text)
    ours = bert.forward(weights, pieces.ids, pieces.tokens)
    theirs = minilm.forward(pieces.ids, attentions=True)
    n = len(pieces.ids)
    assert ours.attentions.shape == (6, 12, n, n)
    model_attn = np.stack([a[0].numpy() for a in theirs.attentions])
    assert np.abs(ours.attentions - model_attn).max() <= 1e-5
    assert len(ours.hidden) == len(theirs.hidden_states) == 7
    for layer, (a, b) in enumerate(zip(ours.hidden, theirs.hidden_states)):
        assert np.abs(a - b[0].numpy()).max() <= 1e-5, f"hidden state {layer}"
    np.testing.assert_allclose(ours.attentions.sum(axis=-1), 1.0, atol=1e-5)


def test_layer_trace_keeps_q_k_v_per_head(minilm, weights):
    pieces = minilm.tokenize("the cat sat")
    layer = bert.forward(weights, pieces.ids, pieces.tokens).layers[2]
    assert layer.q.shape == layer.k.shape == layer.v.shape == (12, 5, 32)
    # the weights are softmax(q kᵀ / √32) of the stored q and k
    np.testing.assert_allclose(
        layer.weights, core.softmax(layer.q @ layer.k.transpose(0, 2, 1) / np.sqrt(32)), atol=1e-6
    )
    np.testing.assert_allclose(layer.output, layer.weights @ layer.v, atol=1e-6)


def test_causal_forward_never_looks_ahead(minilm, weights):
    pieces = minilm.tokenize("the cat sat on the mat")
    n = len(pieces.ids)
    tr = bert.forward(weights, pieces.ids, mask=core.causal_mask(n))
    assert np.all(np.triu(tr.attentions, k=1) == 0)
    # changing a later word leaves every earlier hidden state as it was
    other = minilm.tokenize("the cat sat on the rug")
    tr2 = bert.forward(weights, other.ids, mask=core.causal_mask(n))
    np.testing.assert_allclose(tr.hidden[-1][: n - 2], tr2.hidden[-1][: n - 2], atol=1e-6)


def test_gelu_and_erf():
    import math

    x = np.linspace(-6, 6, 1001)
    np.testing.assert_allclose(bert.erf(x), [math.erf(v) for v in x], atol=2e-7)
    np.testing.assert_allclose(
        bert.gelu(np.array([0.0, 1.0])), [0.0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))], atol=1e-7
    )


def test_layer_norm():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    y = bert.layer_norm(x, np.ones(4), np.zeros(4), 1e-12)
    np.testing.assert_allclose(y.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(), 1, atol=1e-9)


def test_multi_head_attention_by_hand():
    # 2 heads of 1 feature: head 0 sees feature 0, head 1 feature 1.
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    eye, zero = np.eye(2), np.zeros(2)
    tr = core.multi_head_attention(x, eye, zero, eye, zero, eye, zero, n_heads=2)
    np.testing.assert_allclose(tr.scores[0], [[1, 0], [0, 0]])  # q k / √1
    np.testing.assert_allclose(tr.weights[1, 1], core.softmax(np.array([0.0, 4.0])))
    assert tr.merged.shape == (2, 2)
    with pytest.raises(core.AttentionError, match="heads"):
        core.multi_head_attention(x, eye, zero, eye, zero, eye, zero, n_heads=3)
