"""The price of attention, measured: time and memory of exact softmax attention against n, beside
FAVOR+ linear attention (attnviz.attention.linear), on this machine. NumPy only.

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

from attnviz.attention import linear

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


def describe_slopes(exact: float, lin: float, *, from_n: int = 512) -> str:
    """The fitted slopes (`slope`, n ≥ from_n) in words that are true of them: the work of exact attention
    grows as n², linear attention's exactly as n (the same blocks, one after another), so a slope off
    that says the machine's speed changed with n, not the work."""
    if not np.isfinite(exact):
        return f"The slopes are fitted for n ≥ {from_n}, once two such sizes are measured"
    if abs(exact - 2) <= 0.1:
        e = "about 2: time ∝ n², as its n × n matrix says"
    elif exact < 2:
        e = (
            "below 2 though its work grows as n²: a cost that grows more slowly (each call's fixed steps) still "
            "counts at these sizes, or the machine was slower during the smaller ones"
        )
    else:
        e = (
            "above 2 though its work grows as n²: the machine ran the larger sizes more slowly (an n × n matrix "
            "outgrowing the processor's caches, or other work on this shared server)"
        )
    if abs(lin - 1) <= 0.1:
        li = "about 1: time ∝ n"
    elif lin < 1:
        li = (
            f"below 1 though its work grows exactly as n (the same blocks of {linear.BLOCK} rows, one after "
            "another): a fixed cost per call still counts at these sizes, or the machine was slower during the "
            "smaller ones; the work does not grow more slowly than n"
        )
    else:
        li = (
            "above 1 though its work grows exactly as n: the machine ran the larger sizes more slowly (other "
            "work on this shared server, or memory traffic)"
        )
    return f"For n ≥ {from_n} the exact line's slope is {exact:.2f}, {e}; the linear one's is {lin:.2f}, {li}"


def describe_products(points: list[Point]) -> str:
    """The dotted line (exact attention's two products alone) and how far the measured exact time is
    from it, from the points drawn."""
    ns = np.array([p.n for p in points], dtype=float)
    rates = 4 * ns**2 * points[0].d / np.array([p.products_s for p in points])
    times = np.array([p.exact_s / p.products_s for p in points])
    said = (
        f"The dotted line is exact attention's two matrix products alone (Q Kᵀ and W V: 4·n²·d operations), "
        f"timed on the same inputs: {rates.min() / 1e9:.1f}–{rates.max() / 1e9:.1f} billion operations per "
        f"second here. The whole takes {times.min():.2f}–{times.max():.2f}× as long"
    )
    if times.min() >= 1:
        return (
            said + ": the rest is the softmax's passes over the n × n scores (scale, max, subtract, exp, sum, divide)."
        )
    below = ", ".join(f"{p.n:,}" for p, t in zip(points, times) if t < 1)
    return (
        said + f", less than the products alone at n = {below}: timing noise on this shared machine, since the "
        "whole does the same products and the softmax's passes besides."
    )


def describe_error_fall(ms, errors) -> str:
    """How an error curve against m falls, from its fitted log-log slope over every m drawn, against the
    −0.5 of 1/√m (the rate of an average of m independent features once m is large).  ms, errors: [k]"""
    ms, errors = np.asarray(ms, dtype=float), np.asarray(errors, dtype=float)
    if np.all(errors == 0):
        return "There is none: the estimate is exact here at every m, each row having a single key to weigh"
    if not np.all(errors > 0):
        return "No slope is fitted: the error is 0 at some m"
    fit = slope(ms, errors, from_n=ms.min())
    shown = f"{fit:.2f}".replace("-", "−")  # a minus sign, as printed
    said = f"Fitted over m = {ms.min():.0f} … {ms.max():.0f}, its slope on these log–log axes is {shown}"
    if abs(fit + 0.5) <= 0.05:
        return said + ": it falls about as 1/√m (a slope of −0.5)"
    if fit > -0.5:
        return said + (
            ": it falls more slowly than 1/√m (a slope of −0.5). Each feature is the exponential of a Gaussian, "
            "heavy-tailed, and more so for longer q and k (as without the 1/√d scale or at a low temperature), so "
            "an average of m of them settles into 1/√m only at larger m"
        )
    return said + ": it falls faster than 1/√m (a slope of −0.5) would"
