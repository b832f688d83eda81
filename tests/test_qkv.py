"""The Query, key, value walk-through: every step of one head and its layer against the model in torch."""

import numpy as np
import pytest
import torch

from attnviz.attention import core
from attnviz.model import bert, qkv
from attnviz.model.embeddings import bert_weights

TEXT = "The trophy didn't fit in the suitcase because it was too big"


@pytest.fixture(scope="module")
def weights(minilm):
    return bert_weights(minilm)


def source(minilm, weights, text, layer, head, **kw):
    pieces = minilm.tokenize(text)
    return qkv.minilm_source(weights, bert.forward(weights, pieces.ids, pieces.tokens, layers=layer), layer, head, **kw)


def torch_layer(minilm, text, layer):
    """The model's own modules on its own hidden state: every intermediate of the layer."""
    out = minilm.forward(minilm.tokenize(text).ids, attentions=True)
    h = out.hidden_states[layer][0]
    mod = minilm.bert.encoder.layer[layer]
    sa = mod.attention.self
    with torch.no_grad():
        split = lambda t: t.reshape(len(h), 12, 32).transpose(0, 1)  # noqa: E731  [12, n, 32]
        q, k, v = split(sa.query(h)), split(sa.key(h)), split(sa.value(h))
        w = torch.softmax(q @ k.transpose(1, 2) / 32**0.5, dim=-1)
        merged = (w @ v).transpose(0, 1).reshape(len(h), 384)
        mixed = mod.attention.output.dense(merged)
        normed = mod.attention.output.LayerNorm(mixed + h)
    return {
        "h": h.numpy(),
        "q": q.numpy(),
        "k": k.numpy(),
        "v": v.numpy(),
        "weights": w.numpy(),
        "model_weights": out.attentions[layer][0].numpy(),
        "merged": merged.numpy(),
        "mixed": mixed.numpy(),
        "normed": normed.numpy(),
        "next": out.hidden_states[layer + 1][0].numpy(),
    }


@pytest.mark.parametrize("layer,head", [(0, 0), (2, 5), (5, 11)])
def test_every_step_matches_the_model(minilm, weights, layer, head):
    src = source(minilm, weights, TEXT, layer, head)
    ref = torch_layer(minilm, TEXT, layer)
    tr = qkv.head_trace(src)
    close = lambda ours, theirs: np.abs(np.asarray(ours) - theirs).max() <= 1e-5  # noqa: E731
    assert close(src.h, ref["h"])
    assert tr.q.shape == (1, len(src.tokens), 32)
    assert close(tr.q[0], ref["q"][head]) and close(tr.k[0], ref["k"][head]) and close(tr.v[0], ref["v"][head])
    assert close(tr.weights[0], ref["model_weights"][head])
    assert close(tr.scores[0], ref["q"][head] @ ref["k"][head].T / np.sqrt(32))
    walk = qkv.layer_walk(src)
    assert close(walk.merged, ref["merged"]) and close(walk.mixed, ref["mixed"])
    assert close(walk.normed, ref["normed"]) and close(walk.next_input, ref["next"])
    np.testing.assert_allclose(walk.merged[:, 32 * head : 32 * (head + 1)], tr.output[0], atol=1e-6)


def test_follow_adds_up(minilm, weights):
    src = source(minilm, weights, TEXT, 1, 4)
    tr = qkv.head_trace(src)
    query = src.tokens.index("it")
    f = qkv.follow(tr, query)
    np.testing.assert_allclose(f.score.q, tr.q[0, query])
    np.testing.assert_allclose(f.score.dots, tr.k[0] @ tr.q[0, query], rtol=1e-5)
    np.testing.assert_allclose(f.score.scaled, tr.scores[0, query], rtol=1e-5)
    np.testing.assert_allclose(f.score.weights, core.softmax(f.score.dots / np.sqrt(32)), atol=1e-6)
    np.testing.assert_allclose(f.terms, f.score.weights[:, None] * tr.v[0])
    np.testing.assert_allclose(f.z, tr.output[0, query], atol=1e-6)


def test_random_projections_are_seeded_and_keep_the_rest_of_the_layer(minilm, weights):
    lw = weights.layers[2]
    a, b, c = (qkv.randomised(lw, np.random.default_rng(s)) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.w_q, b.w_q)
    assert not np.allclose(a.w_q, c.w_q) and not np.allclose(a.w_q, lw.w_q)
    assert a.w_o is lw.w_o and a.w_1 is lw.w_1 and not a.b_q.any()
    pieces = minilm.tokenize(TEXT)
    trace = bert.forward(weights, pieces.ids, pieces.tokens, layers=2)
    src = qkv.minilm_source(weights, trace, 2, 3, projections=a)
    assert src.name.startswith("random") and src.h is trace.hidden[2]
    np.testing.assert_array_equal(src.w_q, a.w_q[:, 96:128])
    np.testing.assert_allclose(qkv.head_trace(src).weights[0].sum(axis=1), 1.0, atol=1e-6)


def test_forward_can_stop_at_a_layer(minilm, weights):
    pieces = minilm.tokenize(TEXT)
    full = bert.forward(weights, pieces.ids, pieces.tokens)
    part = bert.forward(weights, pieces.ids, pieces.tokens, layers=2)
    assert len(part.hidden) == 3 and len(part.layers) == 2
    np.testing.assert_array_equal(part.hidden[2], full.hidden[2])


def test_a_head_without_a_layer(minilm, weights):
    """A pluggable source may be a bare head: the walk then ends at Z."""
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 8))
    m = [rng.normal(size=s) for s in [(8, 2), (2,)] * 3]
    src = qkv.HeadSource("a tiny head", ("a", "b", "c", "d"), h, *m)
    assert qkv.layer_walk(src) is None
    tr = qkv.head_trace(src)
    np.testing.assert_allclose(tr.q[0], h @ m[0] + m[1])
    np.testing.assert_allclose(tr.output[0], tr.weights[0] @ (h @ m[4] + m[5]))


def test_out_of_range_head_is_a_clear_error(minilm, weights):
    pieces = minilm.tokenize("hi")
    trace = bert.forward(weights, pieces.ids, pieces.tokens, layers=0)
    with pytest.raises(core.AttentionError, match="layers 0-5 and heads 0-11"):
        qkv.minilm_source(weights, trace, 0, 12)
