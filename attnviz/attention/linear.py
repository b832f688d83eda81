"""Linear attention, Performer-style (FAVOR+): softmax attention without the n × n matrix, in NumPy.

Softmax attention weighs key j for query i by exp(q_i · k_j). Positive random features turn that
kernel into a dot product of two feature vectors (Choromanski et al. 2021, "Rethinking Attention with
Performers"):

    φ(x) = exp(Ωx − |x|²/2) / √m          Ω: [m, d], rows ω ~ N(0, I_d)           φ(x): [m]
    E[φ(q) · φ(k)] = exp(q · k)            unbiased, and every feature is positive

so Y = D⁻¹ φ(Q) (φ(K)ᵀ V) with D = diag(φ(Q) (φ(K)ᵀ 1)): first an [m, d_v] summary of the keys and
values, then one row per query, O(n m d) time and no [n, n] array. The scale s and temperature T are
folded into the inputs (q and k each times √(s/T)), so exp(q·k s/T) is what is approximated. The
causal (GPT-style) variant keeps running sums over the keys, chunk by chunk. (Here the keys' mean,
below, is taken over the whole sequence: one constant per query, so still exact in what it removes,
though a truly streaming decoder would use a running mean.)

As in FAVOR+, the rows of Ω are orthogonal in blocks (less variance, same mean; plain Gaussian rows
are an option). One more free improvement: every key is shifted by the keys' mean first. That
changes each query's scores by one constant, which a softmax ignores, and shortens the keys, which
lowers the estimate's variance (AttentionViz uses the same freedom to draw queries and keys).

The price: φ(q)·φ(k) is a Monte-Carlo estimate whose variance grows like exp(|q + k|²), so long
vectors, a large scale or a low temperature make it noisy; more features m make it better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.attention.core import AttentionError

CHUNK = 128  # rows per block of the causal prefix sums: [CHUNK, CHUNK] is the largest square formed
BLOCK = 512  # rows per block of the streamed linear attention: [BLOCK, m] is the largest array it forms


def gaussian_features(m: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Ω [m, d] with i.i.d. N(0, 1) entries."""
    return rng.standard_normal((m, d))


def orthogonal_features(m: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Ω [m, d] whose rows are orthogonal within each block of d (Performer's ORF), each row rescaled to
    the length of a Gaussian vector so every ω is still marginally N(0, I_d): lower variance, same mean."""
    blocks = []
    for _ in range(-(-m // d)):  # ceil(m / d) blocks of d orthogonal directions
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        blocks.append((q * np.sign(np.diag(r))).T)  # the sign fix makes Q uniformly random (Haar)
    directions = np.concatenate(blocks)[:m]  # [m, d] unit rows
    lengths = np.linalg.norm(rng.standard_normal((m, d)), axis=1)  # chi(d) lengths
    return directions * lengths[:, None]


def log_features(x: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """log φ(x) = Ωx − |x|²/2 − log √m for every row of x.  x: [n, d], Ω: [m, d] -> [n, m]"""
    out = x @ omega.T  # [n, m], then shifted in place: one [n, m] array, not three
    out -= 0.5 * np.sum(x * x, axis=-1, keepdims=True)
    out -= 0.5 * np.log(omega.shape[0])
    return out


def features(x: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """φ(x) = exp(Ωx − |x|²/2) / √m, as in the formula (may overflow for long x; favor() stabilises).
    x: [n, d], Ω: [m, d] -> [n, m]"""
    return np.exp(log_features(x, omega))


def _root(factor: float) -> float:
    """√factor, by which q and k are each multiplied: q·k·factor = (√factor q)·(√factor k)."""
    if not np.isfinite(factor) or factor <= 0:
        raise AttentionError(f"The scale over the temperature must be a positive number, not {factor!r}.")
    return np.sqrt(factor)


def _folded(q: np.ndarray, k: np.ndarray, factor: float, centre: bool) -> tuple[np.ndarray, np.ndarray]:
    """q and k times √factor; the keys centred if asked (the keys' mean: one constant per query)."""
    r = _root(factor)
    k = np.asarray(k, dtype=np.float64)
    if centre:
        k = k - k.mean(axis=0)  # q·(k_j − c) = q·k_j − q·c: the same softmax for every query
    return np.asarray(q, dtype=np.float64) * r, k * r


def _feature_maps(q, k, omega) -> tuple[np.ndarray, np.ndarray]:
    """φ(Q) [n, m] and φ(K) [n_k, m], each shifted by its own constant (a row max for the queries, one
    global max for the keys) so nothing overflows: the constants cancel in the normalised weights."""
    log_k = log_features(k, omega)
    return query_features(q, omega), np.exp(log_k - log_k.max())


def query_features(q: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """φ(q) for each row, divided by that row's largest feature (it cancels in the row's weights).
    q: [n, d], Ω: [m, d] -> [n, m]"""
    log_q = log_features(q, omega)
    log_q -= log_q.max(axis=-1, keepdims=True)
    return np.exp(log_q, out=log_q)


@dataclass(frozen=True)
class LinearTrace:
    """FAVOR+ attention for one sequence; no [n, n] array in it (see `implied_weights` for that)."""

    phi_q: np.ndarray  # [n, m] query features
    phi_k: np.ndarray  # [n_k, m] key features
    kv: np.ndarray  # [m, d_v] φ(K)ᵀ V, the keys and values summarised (non-causal)
    normaliser: np.ndarray  # [n] φ(q_i) · Σ_j φ(k_j): each query's total weight
    output: np.ndarray  # [n, d_v] Y ≈ softmax(s Q Kᵀ / T) V


def favor(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    omega: np.ndarray,
    *,
    factor: float = 1.0,
    causal: bool = False,
    centre: bool = True,
) -> LinearTrace:
    """Linear attention Y ≈ softmax(factor · Q Kᵀ) V with random features Ω.

    q: [n, d], k: [n_k, d], v: [n_k, d_v], Ω: [m, d] -> LinearTrace (output [n, d_v]); O(n m d).
    causal: query i sees keys 0..i only (then n_k must equal n). centre: shift the keys by their mean.
    """
    q, k = _folded(q, k, factor, centre)
    v = np.asarray(v, dtype=np.float64)
    phi_q, phi_k = _feature_maps(q, k, omega)
    kv = phi_k.T @ v  # [m, d_v]
    if causal:
        if len(q) != len(k):
            raise AttentionError("Causal attention needs as many keys as queries.")
        with np.errstate(invalid="ignore", divide="ignore"):  # checked just below, in words
            out, norm = _causal(phi_q, phi_k, v)
    else:
        norm = phi_q @ phi_k.sum(axis=0)  # [n]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (phi_q @ kv) / norm[:, None]  # [n, d_v]
    _check_normaliser(norm)
    return LinearTrace(phi_q=phi_q, phi_k=phi_k, kv=kv, normaliser=norm, output=out)


def _check_normaliser(norm: np.ndarray) -> None:
    """Every query's total weight must be a positive number: with very long (or very sharply scaled)
    vectors the features' exponents spread past what float64 holds and some sums underflow to 0."""
    if not np.all(np.isfinite(norm) & (norm > 0)):
        raise AttentionError(
            "The random-feature estimate underflows here: the scores are too spread out (the temperature is "
            "very low or the vectors very long) for exp() in float64. Raise the temperature or use 1/√d."
        )


def _causal(phi_q: np.ndarray, phi_k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums over the keys, a block of CHUNK rows at a time:  y_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i,
    S_i = Σ_{j ≤ i} φ(k_j) v_jᵀ [m, d_v], z_i = Σ_{j ≤ i} φ(k_j) [m]. Inside a block the few pairs are
    done directly with a [b, b] lower triangle; the running sums carry everything before it."""
    n, m = phi_q.shape
    out = np.empty((n, v.shape[1]))
    norm = np.empty(n)
    s = np.zeros((m, v.shape[1]))  # Σ φ(k_j) v_jᵀ over the blocks so far
    z = np.zeros(m)  # Σ φ(k_j)
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        pq, pk, vb = phi_q[a:b], phi_k[a:b], v[a:b]
        local = np.tril(pq @ pk.T)  # [b - a, b - a] the pairs inside the block, j ≤ i
        out[a:b] = pq @ s + local @ vb
        norm[a:b] = pq @ z + local.sum(axis=1)
        s += pk.T @ vb
        z += pk.sum(axis=0)
    return out / norm[:, None], norm


def linear_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    omega: np.ndarray,
    *,
    factor: float = 1.0,
    centre: bool = True,
    block: int = BLOCK,
) -> np.ndarray:
    """The same Y as favor(...).output (non-causal), streamed: keys and queries a block of rows at a
    time, each block centred and scaled on its own, so besides the output the memory used is that of
    one block ([block, m] features, [block, d] rows) and the [m, d_v] summary, whatever n is
    (cost.linear_bytes counts it), and the work grows exactly linearly in n.

    The keys' stabiliser is a running max: when a block raises it, the sums so far are rescaled by
    exp(old − new) (as an online softmax does). q: [n, d], k: [n_k, d], v: [n_k, d_v] -> [n, d_v]
    """
    r = _root(factor)
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    shift = k.mean(axis=0, dtype=np.float64) if centre else None  # [d]
    m = omega.shape[0]
    out = np.empty((len(q), v.shape[1]))  # [n, d_v] the answer, made first: all else is the working memory
    kv, z, c = np.zeros((m, v.shape[1])), np.zeros(m), -np.inf  # Σ φ(k) vᵀ, Σ φ(k), the running max
    for a in range(0, len(k), block):
        log_k = log_features(_rows(k, a, block, r, shift), omega)  # [b, m]
        c_new = max(c, float(log_k.max()))
        if c_new > c:
            shrink = np.exp(c - c_new)  # 0 on the first block
            kv *= shrink
            z *= shrink
            c = c_new
        log_k -= c
        phi_k = np.exp(log_k, out=log_k)  # [b, m], in place
        kv += phi_k.T @ np.asarray(v[a : a + block], dtype=np.float64)
        z += phi_k.sum(axis=0)
        del log_k, phi_k  # before the next block's are made: one block's features at a time
    for a in range(0, len(q), block):
        phi_q = query_features(_rows(q, a, block, r), omega)  # [b, m]
        norm = phi_q @ z
        _check_normaliser(norm)
        np.divide(phi_q @ kv, norm[:, None], out=out[a : a + block])
        del phi_q
    return out


def _rows(x: np.ndarray, a: int, block: int, r: float, shift: np.ndarray | None = None) -> np.ndarray:
    """Rows a … a + block of x in float64, minus shift if given, times r (as _folded does to all of x).
    x: [n, d] -> [b, d]"""
    rows = np.asarray(x[a : a + block], dtype=np.float64)
    if shift is not None:
        rows = rows - shift
    return rows * r


def implied_weights(trace: LinearTrace, *, causal: bool = False) -> np.ndarray:
    """The attention matrix FAVOR+ uses without forming it: φ(q_i)·φ(k_j) / Σ_l φ(q_i)·φ(k_l).

    -> [n, n_k], rows sum to 1. For display and checks on short sentences only (it is n × n).
    """
    a = trace.phi_q @ trace.phi_k.T  # [n, n_k]
    if causal:
        a = np.tril(a)
    return a / a.sum(axis=1, keepdims=True)


def draw(m: int, d: int, seed: int, *, orthogonal: bool = True) -> np.ndarray:
    """The m random features for a seed.  -> Ω [m, d]"""
    if not isinstance(m, int | np.integer) or m < 1:
        raise AttentionError(f"The number of random features must be a whole number ≥ 1, not {m!r}.")
    rng = np.random.default_rng(seed)
    return orthogonal_features(m, d, rng) if orthogonal else gaussian_features(m, d, rng)


def approximate_weights(
    x: np.ndarray, m: int, seed: int, *, factor: float = 1.0, orthogonal: bool = True, causal: bool = False
) -> np.ndarray:
    """The matrix FAVOR+ implies for the seed's self-attention softmax(factor · X Xᵀ).  x: [n, d] -> [n, n]"""
    x = np.asarray(x, dtype=np.float64)
    trace = favor(x, x, x, draw(m, x.shape[1], seed, orthogonal=orthogonal), factor=factor, causal=causal)
    return implied_weights(trace, causal=causal)


def error_curve(
    x: np.ndarray,
    exact: np.ndarray,
    ms,
    *,
    factor: float,
    seeds: int = 3,
    orthogonal: bool = True,
    causal: bool = False,
) -> dict[str, np.ndarray]:
    """How far FAVOR+ is from the exact W as the number of features grows, averaged over seeds.

    x: [n, d], exact: [n, n], ms: k feature counts -> {"mean |Δ|": [k], "largest |Δ|": [k]}
    """
    mean, largest = [], []
    for m in ms:
        deltas = [
            np.abs(approximate_weights(x, int(m), s, factor=factor, orthogonal=orthogonal, causal=causal) - exact)
            for s in range(seeds)
        ]
        mean.append(np.mean([d.mean() for d in deltas]))
        largest.append(np.mean([d.max() for d in deltas]))
    return {"mean |Δ|": np.asarray(mean), "largest |Δ|": np.asarray(largest)}
