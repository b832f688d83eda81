"""Reading attention heads: random heads to compare with, the weights as shown, one score taken apart.

(The plain description of a head's W is attnviz.attention.patterns.)

NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.attention.core import HeadsTrace, drop_and_renormalise, multi_head_attention


def random_head(x: np.ndarray, d_head: int, rng: np.random.Generator, *, mask=None, tokens=None) -> HeadsTrace:
    """One head with random W_q, W_k, W_v of the learned shapes [d, d_head] and zero biases.

    Entries ~ N(0, 1/d) (Glorot-like), so q·k / √d_head has about unit spread on LayerNorm'd input:
    patterns appear, but they are noise, not something learned. x: [n, d] -> HeadsTrace (h = 1)
    """
    d = x.shape[1]
    w = rng.normal(0.0, 1.0 / np.sqrt(d), size=(3, d, d_head)).astype(x.dtype)
    zero = np.zeros(d_head, dtype=x.dtype)
    return multi_head_attention(x, w[0], zero, w[1], zero, w[2], zero, n_heads=1, mask=mask, tokens=tokens)


def visible(weights: np.ndarray, special: np.ndarray, show_special: bool) -> np.ndarray:
    """The weights as shown: with [CLS]/[SEP], or without them and each row renormalised.

    weights [..., n, n], special [n] bool -> [..., n, n] or [..., k, k]
    """
    return weights if show_special else drop_and_renormalise(weights, ~np.asarray(special))


@dataclass(frozen=True)
class ScoreBreakdown:
    """Where one query's weights come from, for one head (the neuron view)."""

    q: np.ndarray  # [d_head]  the query vector
    k: np.ndarray  # [n, d_head]  every key vector
    products: np.ndarray  # [n, d_head]  q * k, element by element
    dots: np.ndarray  # [n]  q · k = the sum of each row of products
    scaled: np.ndarray  # [n]  q · k / √d_head (-inf where masked)
    weights: np.ndarray  # [n]  softmax(scaled)


def breakdown(trace: HeadsTrace, head: int, query: int) -> ScoreBreakdown:
    """Take apart one row of one head: q, k, q×k, the dot products, the scaling, the softmax."""
    q, k = trace.q[head, query], trace.k[head]
    products = q[None, :] * k  # [n, dh]
    dots = products.sum(axis=1)
    scaled = dots / np.sqrt(q.shape[0])
    if trace.mask is not None:
        scaled = np.where(trace.mask[query], scaled, -np.inf)
    return ScoreBreakdown(q, k, products, dots, scaled, trace.weights[head, query])
