"""FAVOR+ linear attention and the cost measurements: the kernel estimate is unbiased, its error falls
with more features, rows sum to 1, no n × n array is formed, the causal variant is the masked matrix."""

import tracemalloc

import numpy as np
import pytest

from attnviz.attention import core, cost, linear
from attnviz.attention.core import AttentionError


def vectors(n: int, d: int, seed: int = 0, size: float = 0.3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) * size


def test_features_are_positive_and_unbiased_for_the_softmax_kernel():
    q, k = vectors(3, 8, 1, 0.4), vectors(4, 8, 2, 0.4)
    omegas = [linear.draw(64, 8, seed) for seed in range(3000)]
    phis = [(linear.features(q, om), linear.features(k, om)) for om in omegas]
    assert all((pq > 0).all() and (pk > 0).all() for pq, pk in phis)
    draws = np.stack([pq @ pk.T for pq, pk in phis])  # [3000, 3, 4]: one estimate of exp(q·k) per seed
    standard_error = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - np.exp(q @ k.T)) <= 4 * standard_error)  # unbiased, to 4 s.e.
    assert np.all(standard_error < 0.02 * np.exp(q @ k.T))  # and the test is sharp enough to mean something


@pytest.mark.parametrize("orthogonal", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.1])
def test_error_falls_as_features_grow(orthogonal, temperature):
    x = vectors(12, 16, 3)
    exact = core.self_attention(x, scale="sqrt-d", temperature=temperature).weights
    factor = 1.0 / np.sqrt(16) / temperature

    def mean_error(m: int) -> float:  # averaged over seeds, so one lucky draw cannot decide
        return np.mean(
            [np.abs(linear.approximate_weights(x, m, s, factor=factor, orthogonal=orthogonal) - exact).mean()
             for s in range(8)]
        )  # fmt: skip

    errors = [mean_error(m) for m in (16, 256, 4096)]
    assert errors[0] > errors[1] > errors[2]
    if temperature == 1.0:  # at 0.1 these random vectors are long enough to keep the estimate noisy
        assert errors[2] <= 0.25 * errors[0]


@pytest.mark.parametrize("text", ["hi how are you", "The trophy didn't fit in the suitcase because it was too big"])
@pytest.mark.parametrize("scale", ["none", "sqrt-d"])
@pytest.mark.parametrize("temperature", [1.0, 0.1])
def test_on_typed_sentences_4096_features_cut_the_error_fourfold(minilm, text, scale, temperature):
    """The issue's target on MiniLM's static vectors: mean |Δ| at m = 4096 ≤ 0.25 × at m = 16."""
    x = minilm.static(text).vectors
    exact = core.self_attention(x, scale=scale, temperature=temperature).weights
    factor = core.scale_factor(scale, x.shape[1]) / temperature

    def mean_error(m: int) -> float:
        return np.mean([np.abs(linear.approximate_weights(x, m, s, factor=factor) - exact).mean() for s in range(4)])

    assert mean_error(4096) <= 0.25 * mean_error(16)


def test_implied_matrix_rows_sum_to_one_and_reproduce_the_output():
    x = vectors(9, 6, 4)
    trace = linear.favor(x, x, x, linear.draw(32, 6, 0), factor=0.7)
    w = linear.implied_weights(trace)
    assert (w > 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(trace.output, w @ x, atol=1e-12)


def test_causal_prefix_sums_equal_the_masked_implied_matrix():
    x = vectors(300, 8, 5)  # more than one block of the prefix sums
    omega = linear.draw(48, 8, 1)
    causal = linear.favor(x, x, x, omega, causal=True)
    w = linear.implied_weights(causal, causal=True)
    assert np.all(np.triu(w, k=1) == 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(causal.output, w @ x, atol=1e-10)
    full = linear.implied_weights(linear.favor(x, x, x, omega))
    masked = np.tril(full)
    np.testing.assert_allclose(w, masked / masked.sum(axis=1, keepdims=True), atol=1e-12)


def whole_length_favor(q, k, v, omega, factor, centre, block):
    """The streamed FAVOR+ as it was written before it streamed its inputs too: q and k scaled (and k
    centred) whole, then features a block at a time with a running max for the keys. Plain NumPy."""
    r = np.sqrt(factor)
    k = k - k.mean(axis=0) if centre else k
    q, k = q * r, k * r
    m = len(omega)

    def log_phi(x):
        return x @ omega.T - 0.5 * np.sum(x * x, axis=-1, keepdims=True) - 0.5 * np.log(m)

    kv, z, c = np.zeros((m, v.shape[1])), np.zeros(m), -np.inf
    for a in range(0, len(k), block):
        log_k = log_phi(k[a : a + block])
        c_new = max(c, float(log_k.max()))
        if c_new > c:
            kv, z, c = kv * np.exp(c - c_new), z * np.exp(c - c_new), c_new
        phi_k = np.exp(log_k - c)
        kv += phi_k.T @ v[a : a + block]
        z += phi_k.sum(axis=0)
    out = np.empty((len(q), v.shape[1]))
    for a in range(0, len(q), block):
        log_q = log_phi(q[a : a + block])
        phi_q = np.exp(log_q - log_q.max(axis=-1, keepdims=True))
        out[a : a + block] = (phi_q @ kv) / (phi_q @ z)[:, None]
    return out


@pytest.mark.parametrize(
    ("n", "n_k", "d", "d_v", "m", "factor", "centre", "block"),
    [(700, 700, 16, 16, 64, 0.5, True, 128), (3000, 2000, 64, 67, 256, 1 / 8, True, 512),
     (5, 9, 8, 3, 3, 2.0, False, 2), (1025, 1025, 128, 128, 16, 0.01, True, 512)],
)  # fmt: skip
def test_streamed_linear_attention_is_unchanged_to_the_last_bit(n, n_k, d, d_v, m, factor, centre, block):
    rng = np.random.default_rng(n)
    q, k, v = rng.normal(size=(n, d)), rng.normal(size=(n_k, d)), rng.normal(size=(n_k, d_v))
    omega = linear.draw(m, d, 3)
    got = linear.linear_attention(q, k, v, omega, factor=factor, centre=centre, block=block)
    np.testing.assert_array_equal(got, whole_length_favor(q, k, v, omega, factor, centre, block))


def test_streamed_linear_attention_equals_favor():
    x = vectors(700, 16, 6)
    omega = linear.draw(64, 16, 2)
    reference = linear.favor(x, x, x, omega, factor=0.5).output
    np.testing.assert_allclose(linear.linear_attention(x, x, x, omega, factor=0.5, block=128), reference, atol=1e-12)


def working_memory(fn, *args, **kwargs) -> int:
    """The most bytes fn(*args) held at once (tracemalloc), its inputs (made before) and its result left out."""
    tracemalloc.start()
    try:
        out = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - out.nbytes


def held_by_linear(n: int, d: int, m: int) -> int:
    """What linear attention holds at its peak on random [n, d] inputs with m features (tracemalloc)."""
    rng = np.random.default_rng(n)
    q, k, v = rng.normal(size=(3, n, d)) / np.sqrt(d)
    omega = linear.gaussian_features(m, d, rng)
    return working_memory(linear.linear_attention, q, k, v, omega, factor=1 / np.sqrt(d))


MEASURED_N = (256, 512, 1024, 2048, 4096, 8192)


@pytest.mark.parametrize(("d", "m"), [(16, 16), (16, 2048), (64, 256), (128, 64), (128, 2048)])
def test_linear_memory_is_what_tracemalloc_sees_and_stops_growing_with_n(d, m):
    """The memory chart's linear line and `cost --json`'s linear_bytes (both cost.linear_bytes) within 2× of
    what linear attention holds at every n, and that no longer grows with n once n passes one block."""
    held = {n: held_by_linear(n, d, m) for n in MEASURED_N}
    for n in MEASURED_N:
        assert 0.5 * held[n] <= cost.linear_bytes(n, m, d) <= 2 * held[n], (n, held[n], cost.linear_bytes(n, m, d))
    assert held[8192] <= 1.02 * held[linear.BLOCK]  # flat beyond one block: nothing [n, ·] besides the output
    assert held[8192] < 0.05 * cost.exact_bytes(8192)  # m = 2048 features: 9–13 MB beside 512 MiB


def test_exact_memory_is_the_n_by_n_matrix():
    for n in MEASURED_N:
        q, k, v = np.random.default_rng(n).normal(size=(3, n, 16)) / 4
        held = working_memory(cost.exact_attention, q, k, v)
        assert 0.5 * held <= cost.exact_bytes(n) <= 2 * held, (n, held)


def test_exact_attention_for_timing_is_the_core_s():
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(3, 20, 8))
    w = core.softmax(q @ k.T / np.sqrt(8))
    np.testing.assert_allclose(cost.exact_attention(q, k, v), w @ v, atol=1e-12)


def test_cost_arithmetic():
    assert cost.exact_bytes(4096) == 8 * 4096**2
    assert cost.largest_n(16 * 2**30) == 46341  # 46341² × 8 bytes > 16 GiB ≥ 46340² × 8
    assert cost.exact_bytes(cost.largest_n(2**30)) > 2**30 >= cost.exact_bytes(cost.largest_n(2**30) - 1)
    assert cost.slope([512, 1024, 2048], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    points = [cost.Point(n, 8, 4, e, lin, 1, 0, 0) for n, e, lin in [(16, 1, 2), (32, 3, 2), (64, 1, 2), (128, 9, 3)]]
    assert cost.crossover(points) == 128  # faster at 32 but not from there on


@pytest.mark.parametrize(
    ("exact", "lin", "words"),
    [(2.04, 1.07, ("2.04, about 2", "1.07, about 1")),
     (1.62, 0.74, ("1.62, below 2 though its work grows as n²", "0.74, below 1 though", "a fixed cost per call")),
     (2.31, 1.28, ("2.31, above 2", "1.28, above 1 though its work grows exactly as n"))],
)  # fmt: skip
def test_slopes_are_described_as_fitted(exact, lin, words):
    said = cost.describe_slopes(exact, lin)
    assert all(w in said for w in words), said
    assert "fitted for n ≥ 512, once two" in cost.describe_slopes(float("nan"), float("nan"))


def test_the_error_fall_is_described_from_its_fit():
    ms = np.array([4.0, 16, 64, 256, 1024, 4096])
    for power, words in ((-0.5, "−0.50: it falls about as 1/√m"), (-0.4, "−0.40: it falls more slowly than 1/√m"),
                         (-0.62, "−0.62: it falls faster than 1/√m")):  # fmt: skip
        assert words in cost.describe_error_fall(ms, 0.3 * ms**power)
    assert "exact here at every m" in cost.describe_error_fall(ms, np.zeros(6))
    assert "No slope" in cost.describe_error_fall(ms, np.array([0.1, 0.05, 0.0, 0.01, 0.005, 0.002]))


def test_the_products_line_is_described_from_the_points():
    points = [cost.Point(n, 8, 4, exact_s=e, linear_s=1.0, products_s=p, exact_bytes=0, linear_bytes=0)
              for n, e, p in ((512, 3e-4, 1e-4), (1024, 6e-4, 4e-4), (2048, 4e-3, 2e-3))]  # fmt: skip
    said = cost.describe_products(points)
    rates = [4 * n * n * 8 / p / 1e9 for n, p in ((512, 1e-4), (1024, 4e-4), (2048, 2e-3))]
    assert f"{min(rates):.1f}–{max(rates):.1f} billion operations per second" in said
    assert "takes 1.50–3.00× as long: the rest is the softmax's passes" in said
    slow = [
        *points[:2],
        cost.Point(4096, 8, 4, exact_s=1.0, linear_s=1.0, products_s=1.1, exact_bytes=0, linear_bytes=0),
    ]
    assert "less than the products alone at n = 4,096: timing noise" in cost.describe_products(slow)


def test_measure_is_bounded_and_sane():
    p = cost.measure(256, 16, 32, budget_s=0.05)
    assert p.exact_s > 0 and p.linear_s > 0 and p.products_s > 0
    assert p.exact_bytes == 8 * 256**2 and p.linear_bytes < p.exact_bytes


@pytest.mark.parametrize("m", [0, -3, 2.5])
def test_bad_feature_counts_say_so(m):
    with pytest.raises(AttentionError, match="random features"):
        linear.draw(m, 4, 0)
