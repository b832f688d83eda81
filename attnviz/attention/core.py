"""The attention maths, in NumPy only.

The seed's walk-through, for word vectors stacked as the rows of X [n, d]:

    W* = X Xᵀ                      raw scores, W*ij = xi · xj        [n, n]
    W  = softmax_rows(W* · s / T)  each row sums to 1                [n, n]
    Y  = W X                       row i is a weighted average of X  [n, d]

s is the scale (1, the seed's plain form, or 1/√d) and T the temperature.
The seed writes the last step as Xᵀ W; with words as *rows* of X and W normalised
along its rows, the weighted averages are the rows of W X (the columns of Xᵀ Wᵀ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Scale = Literal["none", "sqrt-d"]
SCALES: tuple[Scale, ...] = ("none", "sqrt-d")
TEMPERATURE_RANGE = (0.05, 5.0)


class AttentionError(ValueError):
    """Input the maths cannot take, with a message a user can act on."""


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax: subtract the max so exp never overflows.

    z: [..., n] (may hold -inf for masked entries; not a whole slice) -> same shape, sums to 1 along axis
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    m = np.max(z, axis=axis, keepdims=True)
    if not np.all(np.isfinite(m)):
        raise AttentionError("A row of scores is entirely masked (or not finite), so there is nothing to attend to.")
    e = np.exp(z - m)  # the max entry becomes exp(0) = 1, so the sum is >= 1
    return e / np.sum(e, axis=axis, keepdims=True)


def scale_factor(scale: Scale | float, d: int) -> float:
    """'none' -> 1 (the seed), 'sqrt-d' -> 1/√d (the Transformer's), or a number as given."""
    if isinstance(scale, str):
        if scale == "none":
            return 1.0
        if scale == "sqrt-d":
            return 1.0 / np.sqrt(d)
        raise AttentionError(f"Unknown scale {scale!r}; use one of {', '.join(SCALES)}.")
    if not np.isfinite(scale) or scale <= 0:
        raise AttentionError(f"The scale must be a positive number, not {scale!r}.")
    return float(scale)


def causal_mask(n: int) -> np.ndarray:
    """GPT-style mask: token i may look at tokens 0..i only.  -> [n, n] bool, True = may attend"""
    return np.tril(np.ones((n, n), dtype=bool))


def _check_temperature(temperature: float) -> float:
    if not np.isfinite(temperature) or temperature <= 0:
        raise AttentionError(f"The temperature must be a positive number, not {temperature!r}.")
    return float(temperature)


def masked_logits(
    scores: np.ndarray, *, factor: float, temperature: float, mask: np.ndarray | None, tokens=()
) -> np.ndarray:
    """scores [..., n, m] -> scores · factor / T, with -inf where mask is False.

    A row whose every entry is masked is an error that names the row.
    """
    logits = scores * (factor / _check_temperature(temperature))
    if mask is None:
        return logits
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != scores.shape[-2:]:
        raise AttentionError(f"The mask has shape {mask.shape}; the scores have {scores.shape[-2:]}.")
    empty = np.flatnonzero(~mask.any(axis=-1))
    if empty.size:
        i = int(empty[0])
        who = f" ({tokens[i]!r})" if i < len(tokens) else ""
        raise AttentionError(f"Row {i}{who} is fully masked: it may attend to no token, so its weights are undefined.")
    return np.where(mask, logits, -np.inf)


@dataclass(frozen=True)
class AttentionTrace:
    """Every intermediate of one unparameterised self-attention, named."""

    tokens: tuple[str, ...]
    x: np.ndarray  # [n, d] the word vectors, one per row
    scores: np.ndarray  # [n, n] raw W* = X Xᵀ, before scale and temperature
    logits: np.ndarray  # [n, n] W* · scale / T, -inf where masked: what the softmax sees
    weights: np.ndarray  # [n, n] W, rows sum to 1
    output: np.ndarray  # [n, d] Y = W X
    scale: float  # the factor applied to the scores (1 or 1/√d)
    temperature: float
    mask: np.ndarray | None  # [n, n] bool, True = may attend; None = all

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def d(self) -> int:
        return self.x.shape[1]


def _token_names(tokens, n: int) -> tuple[str, ...]:
    """The tokens as a tuple, or x1 … xn when none are given."""
    return tuple(tokens) if tokens is not None else tuple(f"x{i + 1}" for i in range(n))


def _check_vectors(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise AttentionError(f"Expected word vectors as a 2-D array [n, d], got shape {x.shape}.")
    if x.shape[0] == 0:
        raise AttentionError("There are no tokens to attend over: type a sentence.")
    if not np.all(np.isfinite(x)):
        raise AttentionError("The word vectors contain NaN or infinite values.")
    return x


def self_attention(
    x: np.ndarray,
    tokens: tuple[str, ...] | list[str] | None = None,
    *,
    scale: Scale | float = "none",
    temperature: float = 1.0,
    mask: np.ndarray | None = None,
) -> AttentionTrace:
    """Unparameterised self-attention, the seed's W = rownorm(X Xᵀ), Y = W X.

    x: [n, d], tokens: n strings -> AttentionTrace(scores [n, n], weights [n, n], output [n, d])
    """
    x = _check_vectors(x)
    tokens = _token_names(tokens, x.shape[0])
    if len(tokens) != x.shape[0]:
        raise AttentionError(f"{len(tokens)} tokens for {x.shape[0]} vectors.")
    scores, factor, logits, weights, output = _attend(x, x, scale, temperature, mask, tokens)
    return AttentionTrace(
        tokens=tokens,
        x=x,
        scores=scores,
        logits=logits,
        weights=weights,
        output=output,
        scale=factor,
        temperature=float(temperature),
        mask=None if mask is None else np.asarray(mask, dtype=bool),
    )


def _attend(xq: np.ndarray, xk: np.ndarray, scale, temperature, mask, tokens):
    """The unparameterised attention of queries xq [n, d] over keys (= values) xk [m, d].

    -> (scores [n, m] raw xq xkᵀ, factor s, logits [n, m], weights [n, m], output [n, d] = W xk)
    """
    with np.errstate(over="ignore"):  # checked just below, with a message
        scores = xq @ xk.T  # [n, m]  W*ij = qi · kj
    if not np.all(np.isfinite(scores)):
        raise AttentionError("The dot products overflow: the word vectors are too large.")
    factor = scale_factor(scale, xq.shape[1])
    logits = masked_logits(scores, factor=factor, temperature=temperature, mask=mask, tokens=tokens)
    weights = softmax(logits, axis=-1)  # [n, m]
    return scores, factor, logits, weights, weights @ xk  # output [n, d]  yi = Σj Wij xj


@dataclass(frozen=True)
class CrossTrace:
    """Every intermediate of one unparameterised cross-attention A -> B, named.

    Queries come from sentence A, keys and values from sentence B: W = softmax(s X_A X_Bᵀ / T) by
    rows, Y = W X_B. With B = A this is self-attention.
    """

    queries: tuple[str, ...]  # A's tokens, the rows
    keys: tuple[str, ...]  # B's tokens, the columns
    xa: np.ndarray  # [nA, d]
    xb: np.ndarray  # [nB, d]
    scores: np.ndarray  # [nA, nB] raw X_A X_Bᵀ, before scale and temperature
    logits: np.ndarray  # [nA, nB] what the softmax sees
    weights: np.ndarray  # [nA, nB] rows sum to 1
    output: np.ndarray  # [nA, d] Y = W X_B: each A word as a weighted average of B's vectors
    scale: float
    temperature: float


def cross_attention(
    xa: np.ndarray,
    xb: np.ndarray,
    queries: tuple[str, ...] | list[str] | None = None,
    keys: tuple[str, ...] | list[str] | None = None,
    *,
    scale: Scale | float = "none",
    temperature: float = 1.0,
) -> CrossTrace:
    """Unparameterised cross-attention: A's words ask, B's words answer.

    xa: [nA, d], xb: [nB, d] -> CrossTrace(scores [nA, nB], weights [nA, nB], output [nA, d])
    """
    xa, xb = _check_vectors(xa), _check_vectors(xb)
    if xa.shape[1] != xb.shape[1]:
        raise AttentionError(f"The two sentences' vectors have {xa.shape[1]} and {xb.shape[1]} features.")
    queries, keys = _token_names(queries, xa.shape[0]), _token_names(keys, xb.shape[0])
    scores, factor, logits, weights, output = _attend(xa, xb, scale, temperature, None, queries)
    return CrossTrace(
        queries=queries,
        keys=keys,
        xa=xa,
        xb=xb,
        scores=scores,
        logits=logits,
        weights=weights,
        output=output,
        scale=factor,
        temperature=float(temperature),
    )


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """How spread each row's attention is, in bits.  weights [..., n] -> [...]

    0 = all weight on one token; log2(n) = spread evenly over n tokens.
    """
    w = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(w > 0, w * np.log2(w), 0.0)
    return -terms.sum(axis=-1)


ONE_HOT_BELOW = 0.15  # mean row entropy over its maximum log2(n): below this, W is nearly one-hot
UNIFORM_ABOVE = 0.97  # above this, nearly uniform (every weight near 1/n)
SPREAD_NOTES = {
    "one-hot": "W is nearly one-hot: the vectors are long, so each word's dot product with itself dominates: "
    "try 1/√d or a higher T.",
    "uniform": "W is nearly uniform: the scores are almost equal: try a lower T.",
}


def spread(weights: np.ndarray) -> str | None:
    """ "one-hot", "uniform" or None (in between), from W's row entropies.  weights [n, n] (rows sum to 1)

    The mean row entropy is compared with its largest possible value, log2(n): near 0 every row puts
    (almost) all its weight on one token; near 1 every row spreads it evenly. One token: None.
    """
    n = np.asarray(weights).shape[-1]
    if n < 2:
        return None
    share = float(np.mean(row_entropy(weights)) / np.log2(n))
    if share <= ONE_HOT_BELOW:
        return "one-hot"
    if share >= UNIFORM_ABOVE:
        return "uniform"
    return None


def spread_note(weights: np.ndarray) -> str | None:
    """The plain line a W view shows when W is nearly one-hot or nearly uniform (else None)."""
    kind = spread(weights)
    return None if kind is None else SPREAD_NOTES[kind]


def drop_and_renormalise(weights: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Remove tokens (rows and columns) and rescale each row to sum to 1 again.

    weights [..., n, n], keep [n] bool -> [..., k, k]. For a softmax this equals
    dropping those tokens' scores before the softmax.
    """
    keep = np.asarray(keep, dtype=bool)
    if not keep.any():
        raise AttentionError("Every token would be dropped; nothing is left to show.")
    w = np.asarray(weights)[..., keep, :][..., :, keep]
    total = w.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise AttentionError("A row puts all its weight on dropped tokens; it cannot be renormalised.")
    return w / total


# --- learned (parametric) attention ------------------------------------------------------------


@dataclass(frozen=True)
class HeadsTrace:
    """Every intermediate of one multi-head attention layer, per head, named.

    Q = X W_q + b_q, K = X W_k + b_k, V = X W_v + b_v, split into h heads of d_head;
    W = softmax(Q Kᵀ / √d_head) by rows; output = W V per head, then the heads side by side.
    """

    tokens: tuple[str, ...]
    q: np.ndarray  # [h, n, d_head]
    k: np.ndarray  # [h, m, d_head] (m = n, or the context's length for cross-attention)
    v: np.ndarray  # [h, m, d_head]
    scores: np.ndarray  # [h, n, m] Q Kᵀ / √d_head: what the softmax sees (before the mask)
    weights: np.ndarray  # [h, n, m] rows sum to 1
    output: np.ndarray  # [h, n, d_head] W V
    mask: np.ndarray | None  # [n, n] bool, True = may attend

    @property
    def merged(self) -> np.ndarray:
        """The heads' outputs side by side.  -> [n, h * d_head]"""
        h, n, dh = self.output.shape
        return self.output.transpose(1, 0, 2).reshape(n, h * dh)


def split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    """[n, h * d_head] -> [h, n, d_head]"""
    n, d = x.shape
    if d % n_heads:
        raise AttentionError(f"{d} features do not split into {n_heads} equal heads.")
    return x.reshape(n, n_heads, d // n_heads).transpose(1, 0, 2)


def multi_head_attention(
    x: np.ndarray,
    w_q: np.ndarray,
    b_q: np.ndarray,
    w_k: np.ndarray,
    b_k: np.ndarray,
    w_v: np.ndarray,
    b_v: np.ndarray,
    *,
    n_heads: int,
    tokens: tuple[str, ...] | list[str] | None = None,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> HeadsTrace:
    """Learned self-attention with h heads; with a context, cross-attention (keys and values from it).

    x: [n, d_in], context: [m, d_in] (default x), w_*: [d_in, h * d_head], b_*: [h * d_head]
    -> HeadsTrace (q [h, n, d_head], k and v [h, m, d_head], weights [h, n, m])
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise AttentionError(f"Expected vectors [n, d] with n >= 1, got shape {x.shape}.")
    n = x.shape[0]
    tokens = _token_names(tokens, n)
    q = split_heads(x @ w_q + b_q, n_heads)  # [h, n, dh]
    kv = x if context is None else np.asarray(context)  # [m, d_in]
    if kv.ndim != 2 or kv.shape[0] == 0:
        raise AttentionError(f"Expected key/value vectors [m, d] with m >= 1, got shape {kv.shape}.")
    k = split_heads(kv @ w_k + b_k, n_heads)  # [h, m, dh]
    v = split_heads(kv @ w_v + b_v, n_heads)  # [h, m, dh]
    d_head = q.shape[-1]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(d_head).astype(q.dtype)  # [h, n, m]
    logits = masked_logits(scores, factor=1.0, temperature=1.0, mask=mask, tokens=tokens)
    weights = softmax(logits, axis=-1)  # [h, n, m]
    return HeadsTrace(
        tokens=tokens,
        q=q,
        k=k,
        v=v,
        scores=scores,
        weights=weights,
        output=weights @ v,  # [h, n, dh]  each query's weighted sum of the (context's) values
        mask=None if mask is None else np.asarray(mask, dtype=bool),
    )
