"""Random heads, the weights as shown, and the neuron view's arithmetic (the description: test_patterns.py)."""

import numpy as np

from attnviz.attention import core
from attnviz.model import heads


def test_random_head_is_seeded_and_shaped():
    x = np.random.default_rng(1).normal(size=(5, 384)).astype(np.float32)
    a = heads.random_head(x, 32, np.random.default_rng(7))
    b = heads.random_head(x, 32, np.random.default_rng(7))
    c = heads.random_head(x, 32, np.random.default_rng(8))
    assert a.weights.shape == (1, 5, 5) and a.q.shape == (1, 5, 32)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.allclose(a.weights, c.weights)


def test_visible_drops_markers_and_renormalises():
    w = core.softmax(np.random.default_rng(0).normal(size=(2, 4, 4)))
    special = np.array([True, False, False, True])
    v = heads.visible(w, special, show_special=False)
    assert v.shape == (2, 2, 2)
    np.testing.assert_allclose(v.sum(axis=-1), 1.0)
    np.testing.assert_allclose(v[0, 0], w[0, 1, 1:3] / w[0, 1, 1:3].sum())
    assert heads.visible(w, special, show_special=True) is w


def test_breakdown_adds_up():
    x = np.random.default_rng(2).normal(size=(4, 8))
    tr = core.multi_head_attention(
        x,
        *[np.random.default_rng(i).normal(size=s) for i, s in enumerate([(8, 8), (8,), (8, 8), (8,), (8, 8), (8,)])],
        n_heads=2,
    )
    bd = heads.breakdown(tr, head=1, query=2)
    np.testing.assert_allclose(bd.products.sum(axis=1), bd.dots)
    np.testing.assert_allclose(bd.dots, tr.q[1, 2] @ tr.k[1].T)
    np.testing.assert_allclose(core.softmax(bd.scaled), bd.weights, atol=1e-12)
    np.testing.assert_allclose(bd.scaled, tr.scores[1, 2])
