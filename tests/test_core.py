"""The maths: invariants, a hand-computed example, scale, temperature, masks, stability."""

import math

import numpy as np
import pytest

from attnviz.attention import core

RNG = np.random.default_rng(0)


def test_hand_computed_three_tokens():
    # x1 = (1, 0), x2 = (0, 1), x3 = (1, 1): W* = [[1,0,1],[0,1,1],[1,1,2]] by hand.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tr = core.self_attention(x, ["a", "b", "c"])
    np.testing.assert_array_equal(tr.scores, [[1, 0, 1], [0, 1, 1], [1, 1, 2]])
    e = math.e
    big, small = e / (2 * e + 1), 1 / (2 * e + 1)  # row 1: exp(1), exp(0), exp(1) over their sum
    mid, top = 1 / (2 + e), e / (2 + e)  # row 3: exp(1), exp(1), exp(2) over their sum
    expected_w = [[big, small, big], [small, big, big], [mid, mid, top]]
    np.testing.assert_allclose(tr.weights, expected_w, rtol=1e-12)
    # y1 = big·x1 + small·x2 + big·x3 = (2·big, small + big)
    np.testing.assert_allclose(tr.output[0], [2 * big, small + big], rtol=1e-12)
    np.testing.assert_allclose(tr.output[2], [mid + top, mid + top], rtol=1e-12)
    assert tr.tokens == ("a", "b", "c")


@pytest.mark.parametrize("n,d", [(1, 1), (1, 384), (4, 2), (7, 3), (256, 384)])
def test_shapes_and_rows_sum_to_one(n, d):
    x = RNG.normal(size=(n, d))
    tr = core.self_attention(x, scale="sqrt-d")
    assert tr.scores.shape == tr.weights.shape == (n, n)
    assert tr.output.shape == (n, d)
    np.testing.assert_allclose(tr.weights.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(tr.weights >= 0)
    np.testing.assert_allclose(tr.output, tr.weights @ x, atol=1e-12)
    np.testing.assert_allclose(tr.scores, tr.scores.T)  # X Xᵀ is symmetric; W is not in general


def test_output_rows_are_weighted_averages_inside_the_hull():
    x = RNG.normal(size=(5, 2))
    tr = core.self_attention(x)
    assert np.all(tr.output.min(axis=0) >= x.min(axis=0) - 1e-12)
    assert np.all(tr.output.max(axis=0) <= x.max(axis=0) + 1e-12)


def test_scale_sqrt_d_equals_scores_over_sqrt_d():
    x = RNG.normal(size=(4, 16))
    a = core.self_attention(x, scale="sqrt-d")
    b = core.self_attention(x, scale=0.25)
    np.testing.assert_allclose(a.weights, b.weights)
    assert a.scale == pytest.approx(0.25)
    np.testing.assert_allclose(a.logits, a.scores / 4)


def test_temperature_divides_the_scores():
    x = RNG.normal(size=(4, 3))
    hot = core.self_attention(x, temperature=2.0)
    np.testing.assert_allclose(hot.weights, core.softmax(x @ x.T / 2.0))
    # low temperature -> one-hot on each row's largest score; high -> uniform
    cold = core.self_attention(x, temperature=1e-3)
    np.testing.assert_allclose(cold.weights, np.eye(4)[np.argmax(x @ x.T, axis=1)], atol=1e-9)
    flat = core.self_attention(x, temperature=1e6)
    np.testing.assert_allclose(flat.weights, 0.25, atol=1e-5)


def test_causal_mask_zeroes_the_future():
    x = RNG.normal(size=(5, 3))
    tr = core.self_attention(x, mask=core.causal_mask(5))
    assert np.all(np.triu(tr.weights, k=1) == 0)
    np.testing.assert_allclose(tr.weights.sum(axis=1), 1.0)
    assert tr.weights[0, 0] == 1.0  # the first token can only see itself
    # the visible part is the softmax over the visible scores alone
    np.testing.assert_allclose(tr.weights[2, :3], core.softmax(tr.scores[2, :3]))
    assert np.isneginf(tr.logits[0, 1])


def test_fully_masked_row_is_a_clear_error():
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    with pytest.raises(core.AttentionError, match=r"Row 1 \('b'\) is fully masked"):
        core.self_attention(np.eye(3), ["a", "b", "c"], mask=mask)


def test_mask_of_wrong_shape_is_an_error():
    with pytest.raises(core.AttentionError, match="mask"):
        core.self_attention(np.eye(3), mask=np.ones((2, 2), dtype=bool))


@pytest.mark.parametrize("magnitude", [1e3, 1e6, 1e100])
def test_huge_scores_do_not_overflow(magnitude):
    x = np.array([[magnitude, 0.0], [0.0, magnitude], [magnitude, magnitude]])
    tr = core.self_attention(x)
    assert np.all(np.isfinite(tr.weights))
    np.testing.assert_allclose(tr.weights.sum(axis=1), 1.0)
    assert tr.weights[2, 2] == pytest.approx(1.0)


def test_tiny_temperature_has_no_nan():
    x = RNG.normal(size=(6, 384)) * 3
    tr = core.self_attention(x, temperature=core.TEMPERATURE_RANGE[0])
    assert np.all(np.isfinite(tr.weights))
    np.testing.assert_allclose(tr.weights.sum(axis=1), 1.0)


def test_softmax_of_equal_scores_is_uniform_and_of_huge_gaps_is_one_hot():
    np.testing.assert_allclose(core.softmax(np.zeros((2, 4))), 0.25)
    np.testing.assert_allclose(core.softmax(np.array([[0.0, 1e308]])), [[0.0, 1.0]])


def test_identical_tokens_attend_evenly():
    x = np.tile([[0.3, -0.7]], (4, 1))
    tr = core.self_attention(x)
    np.testing.assert_allclose(tr.weights, 0.25)
    np.testing.assert_allclose(tr.output, x)


def test_single_token_attends_to_itself():
    tr = core.self_attention(np.array([[2.0, -1.0]]), ["hi"])
    assert tr.weights.tolist() == [[1.0]]
    np.testing.assert_allclose(tr.output, [[2.0, -1.0]])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"scale": "cube"}, "scale"),
        ({"scale": -2.0}, "scale"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, match):
    with pytest.raises(core.AttentionError, match=match):
        core.self_attention(np.eye(2), **kwargs)


@pytest.mark.parametrize("x", [np.zeros((0, 3)), np.zeros(3), np.array([[np.nan, 1.0]]), np.array([[1e200]])])
def test_bad_vectors_are_clear_errors(x):
    with pytest.raises(core.AttentionError):
        core.self_attention(x)


def test_trace_is_frozen():
    tr = core.self_attention(np.eye(2))
    with pytest.raises(AttributeError):
        tr.weights = None


def test_row_entropy():
    w = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(core.row_entropy(w), [0.0, 2.0, 1.0])


def test_drop_and_renormalise_equals_dropping_before_the_softmax():
    x = RNG.normal(size=(6, 4))
    keep = np.array([False, True, True, True, True, False])
    full = core.self_attention(x)
    dropped = core.self_attention(x[keep])
    np.testing.assert_allclose(core.drop_and_renormalise(full.weights, keep), dropped.weights, atol=1e-12)
    with pytest.raises(core.AttentionError):
        core.drop_and_renormalise(full.weights, np.zeros(6, dtype=bool))
