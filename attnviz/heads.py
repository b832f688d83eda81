"""Reading attention heads: random heads to compare with, a plain description, one score taken apart.

NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.core import HeadsTrace, drop_and_renormalise, multi_head_attention, row_entropy


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
class Pattern:
    name: str
    share: float  # mean weight (over queries) that the pattern accounts for


def patterns(weights: np.ndarray, tokens: tuple[str, ...]) -> list[Pattern]:
    """How much of the attention each simple pattern explains, largest first.  weights [n, n]"""
    n = len(tokens)
    w = np.asarray(weights, dtype=np.float64)
    idx = np.arange(n)
    found = [
        Pattern("itself", float(np.mean(w[idx, idx]))),
        Pattern("the previous token", float(np.mean(w[idx[1:], idx[1:] - 1])) if n > 1 else 0.0),
        Pattern("the next token", float(np.mean(w[idx[:-1], idx[:-1] + 1])) if n > 1 else 0.0),
    ]
    for marker in ("[CLS]", "[SEP]"):
        cols = [j for j, t in enumerate(tokens) if t == marker]
        if cols:
            found.append(Pattern(marker, float(np.mean(w[:, cols].sum(axis=1)))))
    if n > 1:
        found.append(Pattern("one token that every word looks at", float(w.mean(axis=0).max())))
    return sorted(found, key=lambda p: -p.share)


def describe_head(weights: np.ndarray, tokens: tuple[str, ...]) -> str:
    """One sentence on what a head seems to do, derived from its weights [n, n]."""
    n = len(tokens)
    if n == 1:
        return "With a single token, every head can only attend to it."
    spread = float(np.mean(row_entropy(weights)) / np.log2(n))
    top = patterns(weights, tokens)[0]
    if top.name == "one token that every word looks at":
        j = int(np.argmax(np.asarray(weights).mean(axis=0)))
        top = Pattern(f"“{tokens[j]}”", top.share)
    if top.share >= 0.5:
        return f"Mostly attends to {top.name}: on average {top.share:.0%} of each row's weight goes there."
    if spread >= 0.85:
        return (
            f"Spreads its attention broadly (entropy {spread:.0%} of the maximum): "
            "close to an average over the whole sentence."
        )
    return (
        f"Mixed: the strongest simple pattern is {top.name} ({top.share:.0%} of each row on average); "
        f"the rest depends on the words."
    )


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
