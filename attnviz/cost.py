"""The price of attention, measured: time and memory of exact softmax attention against n, beside
FAVOR+ linear attention (attnviz.linear), on this machine. NumPy only.

Exact attention forms the [n, n] score matrix: 4·n²·d floating-point operations (Q Kᵀ and W V, a
multiply and an add each) and 8·n² bytes in float64. Linear attention (streamed) forms [block, m]
features a block of rows at a time and an [m, d] summary: O(n·m·d) time, and memory that stops
growing with n once n passes the block (`linear_bytes`). Each measurement is a median of repeats, bounded
by a time budget, so a caller can measure one n at a time and stay responsive between them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from attnviz import linear

SIZES = tuple(2**k for k in range(4, 13))  # n = 16 … 4096
FLOAT = 8  # bytes: everything here is float64, as in the rest of the app
MEMORY = {"a laptop (16 GiB)": 16 * 2**30, "a GPU (80 GiB)": 80 * 2**30}
MODEL_LIMITS = (
    "all-MiniLM-L6-v2 reads at most 256 word pieces per text (the sentence-transformers window; "
    "longer text is cut) and has position vectors for 512."
)


def exact_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """softmax(Q Kᵀ / √d) V, written to keep one [n, n] array.  q, k: [n, d], v: [n, d_v] -> [n, d_v]"""
    s = q @ k.T  # [n, n]: the price
    s *= 1.0 / np.sqrt(q.shape[1])
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=1, keepdims=True)
    return s @ v


def exact_bytes(n: int) -> int:
    """The [n, n] matrix exact attention forms."""
    return FLOAT * n * n


def products(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact attention's two matrix products alone, (Q Kᵀ) V: the same shapes and 4·n²·d operations,
    without the softmax's passes between them.  q, k: [n, d], v: [n, d_v] -> [n, d_v]"""
    return (q @ k.T) @ v


def linear_bytes(n: int, m: int, d: int, *, block: int = linear.BLOCK) -> int:
    """What linear.linear_attention holds at its peak besides its inputs and its output [n, d] (which
    exact attention needs as well; checked against tracemalloc in tests/test_linear.py), d = d_v:
    the summary φ(K)ᵀ V [m, d], Σ φ(K) [m] and the keys' mean [d], and one block of b = min(n, block)
    rows at a time: its features [b, m] and the largest of (a) the block's rows [b, d] with their
    squares [b, d] or NumPy's ufunc buffer (at most np.getbufsize() numbers), (b) the block's
    φ(K)ᵀ V [m, d] before it is added, (c) the block's output [b, d] and normaliser [b]."""
    b = min(n, block)
    step = max(b * d + max(b * d, min(b * m, np.getbufsize())), m * d, b * d + b)
    return FLOAT * (m * d + m + d + b * m + step)


def largest_n(memory_bytes: int) -> int:
    """The n at which one [n, n] float64 matrix no longer fits in that much memory."""
    return int(np.floor(np.sqrt(memory_bytes / FLOAT))) + 1


def _median_times(*fns, budget_s: float, min_reps: int = 3, max_reps: int = 50) -> list[float]:
    """Median seconds of each fn(), the fns taking turns (so a slow spell of a shared machine hits them
    alike), repeated until budget_s per fn is spent (at least min_reps turns)."""
    for fn in fns:
        fn()  # warm-up: first-touch allocation and caches
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < min_reps or (time.perf_counter() - start < budget_s * len(fns) and len(times[0]) < max_reps):
        for fn, spent in zip(fns, times):
            t = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


@dataclass(frozen=True)
class Point:
    """Exact and linear attention at one n."""

    n: int
    d: int
    m: int
    exact_s: float
    linear_s: float
    products_s: float  # exact attention's two matrix products alone (`products`), on the same inputs
    exact_bytes: int
    linear_bytes: int


def measure(n: int, d: int, m: int, *, seed: int = 0, budget_s: float = 0.3) -> Point:
    """Time exact attention, linear attention and exact's two products alone on random inputs [n, d]
    (entries N(0, 1/d), so scores stay moderate)."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((n, d)) / np.sqrt(d) for _ in range(3))
    omega = linear.gaussian_features(m, d, rng)
    factor = 1.0 / np.sqrt(d)
    exact_s, linear_s, products_s = _median_times(
        lambda: exact_attention(q, k, v),
        lambda: linear.linear_attention(q, k, v, omega, factor=factor),
        lambda: products(q, k, v),
        budget_s=budget_s,
    )
    return Point(
        n=n,
        d=d,
        m=m,
        exact_s=exact_s,
        linear_s=linear_s,
        products_s=products_s,
        exact_bytes=exact_bytes(n),
        linear_bytes=linear_bytes(n, m, d),
    )


def flop_rate(*, size: int = 512, budget_s: float = 0.3) -> float:
    """This machine's floating-point operations per second on a [size, size] matrix product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    return 2 * size**3 / _median_times(lambda: a @ b, budget_s=budget_s)[0]


def slope(ns, seconds, *, from_n: int = 512) -> float:
    """The slope of log(y) against log(x) for x ≥ from_n: for times against n, 2 means time ∝ n²; for
    an error against m, −0.5 means error ∝ 1/√m. NaN with fewer than two such points."""
    ns, seconds = np.asarray(ns, dtype=float), np.asarray(seconds, dtype=float)
    keep = ns >= from_n
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[keep]), np.log(seconds[keep]), 1)[0])


def crossover(points: list[Point]) -> int | None:
    """The smallest n from which linear attention is faster than exact at every larger n measured."""
    faster = [p.linear_s < p.exact_s for p in points]
    for i in range(len(points)):
        if all(faster[i:]):
            return points[i].n
    return None
