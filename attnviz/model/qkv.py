"""Query, key, value step by step: one head of a layer, walked from its input H to the next layer's input.

Seed 000's pipeline, for words as the rows of H [n, d] and one head of d_head features:

    Q = H W_q + b_q,  K = H W_k + b_k,  V = H W_v + b_v      [n, d_head] each
    S = Q Kᵀ / √d_head                                        [n, n]
    W = softmax(S) by rows                                    [n, n]
    Z = W V                                                   [n, d_head]
then the layer around the head:
    [Z_0 | … | Z_11] W_o + b_o                                [n, d]  the heads side by side, mixed
    LN(H + that)                                              [n, d]  residual, then LayerNorm
    LN(h' + MLP(h'))                                          [n, d]  the feed-forward half: the next layer's input

A head comes from a `HeadSource`: the layer's input H, the tokens and the head's projections, and
optionally the whole layer around it. A MiniLM head and random projections are built here; any other
source (a layer trained in the app, say) only has to build a HeadSource. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict

import numpy as np

from attnviz.attention.core import AttentionError, HeadsTrace, causal_mask, multi_head_attention
from attnviz.learn import training
from attnviz.model import bert
from attnviz.model.heads import ScoreBreakdown, breakdown


@dataclass(frozen=True)
class HeadSource:
    """One head to walk through, and where its input comes from."""

    name: str  # e.g. "MiniLM layer 2, head 3"
    tokens: tuple[str, ...]
    h: np.ndarray  # [n, d] the layer's input (for MiniLM layer 0: the embeddings after LayerNorm)
    w_q: np.ndarray  # [d, d_head]
    b_q: np.ndarray  # [d_head]
    w_k: np.ndarray  # [d, d_head]
    b_k: np.ndarray  # [d_head]
    w_v: np.ndarray  # [d, d_head]
    b_v: np.ndarray  # [d_head]
    layer: bert.LayerWeights | None = None  # the whole layer (every head, W_o, norms, MLP), if there is one
    n_heads: int = 1
    head: int = 0  # which of the layer's heads this is
    eps: float = 1e-12  # the layer's LayerNorm epsilon
    mask: np.ndarray | None = None  # [n, n] bool, True = may attend (a causal head); None = every pair
    readout: np.ndarray | None = None  # [d_head, vocabulary] W_out of a trained tiny model, if that is what follows
    columns: dict[str, int] | None = None  # named key columns its pattern sentence looks for (patterns.py)

    @property
    def d_head(self) -> int:
        return self.w_q.shape[1]


class HeadSlice(TypedDict):
    """One head's projections, keyed by HeadSource's field names (so `HeadSource(..., **slice)` works)."""

    w_q: np.ndarray
    b_q: np.ndarray
    w_k: np.ndarray
    b_k: np.ndarray
    w_v: np.ndarray
    b_v: np.ndarray


def head_slice(lw: bert.LayerWeights, n_heads: int, head: int) -> HeadSlice:
    """The columns of W_q, W_k, W_v (and their biases) that belong to one head.  -> [d, d_head], [d_head]"""
    d_head = lw.w_q.shape[1] // n_heads
    cols = slice(head * d_head, (head + 1) * d_head)
    return {
        "w_q": lw.w_q[:, cols],
        "b_q": lw.b_q[cols],
        "w_k": lw.w_k[:, cols],
        "b_k": lw.b_k[cols],
        "w_v": lw.w_v[:, cols],
        "b_v": lw.b_v[cols],
    }


def layer_source(
    name: str, tokens, h: np.ndarray, lw: bert.LayerWeights, *, n_heads: int, head: int, eps: float
) -> HeadSource:
    """A head of a whole layer.  h: [n, d]"""
    if not 0 <= head < n_heads:
        raise AttentionError(f"There are heads 0-{n_heads - 1}; got head {head}.")
    return HeadSource(
        name, tuple(tokens), h, **head_slice(lw, n_heads, head), layer=lw, n_heads=n_heads, head=head, eps=eps
    )


def minilm_source(
    w: bert.BertWeights, trace: bert.BertTrace, layer: int, head: int, *, projections: bert.LayerWeights | None = None
) -> HeadSource:
    """MiniLM's head (layer, head), its input H = the hidden state entering that layer.

    projections: the layer with other W_q, W_k, W_v (see `randomised`); the rest stays MiniLM's.
    """
    if not 0 <= layer < w.n_layers or not 0 <= head < w.n_heads:
        raise AttentionError(
            f"There are layers 0-{w.n_layers - 1} and heads 0-{w.n_heads - 1}; got layer {layer}, head {head}."
        )
    name = f"{'random projections in ' if projections is not None else 'MiniLM '}layer {layer}, head {head}"
    lw = w.layers[layer] if projections is None else projections
    return layer_source(name, trace.tokens, trace.hidden[layer], lw, n_heads=w.n_heads, head=head, eps=w.eps)


def trained_source(trainer: training.Trainer) -> HeadSource:
    """The layer trained on the Train page, on its probe sequence: H is the one-hot X (letter | position),
    no biases, one head, its causal mask if the task has one, and W_out after it; its pattern sentence
    also looks for the column of the largest letter (where the `largest` task attends)."""
    p, probe = trainer.params, trainer.probe
    n, zero = len(probe), np.zeros(trainer.config.d_head)
    return HeadSource(
        name=f"the layer trained on {trainer.config.task} ({trainer.step} steps)",
        tokens=tuple(training.labels(probe)),
        h=training.one_hot(probe),
        w_q=p["W_q"], b_q=zero, w_k=p["W_k"], b_k=zero, w_v=p["W_v"], b_v=zero,
        mask=causal_mask(n) if trainer.task.causal else None,
        readout=p["W_out"],
        columns={"the largest letter": int(training.TASKS["largest"].keys(probe)[0])},  # the `largest` task's key
    )  # fmt: skip


def randomised(lw: bert.LayerWeights, rng: np.random.Generator) -> bert.LayerWeights:
    """The layer with random W_q, W_k, W_v for every head (zero biases); W_o, norms and MLP as trained.

    Entries ~ N(0, 1/d), as in heads.random_head: the same shapes and input, nothing learned.
    """
    d, dq = lw.w_q.shape
    m = rng.normal(0.0, 1.0 / np.sqrt(d), size=(3, d, dq)).astype(lw.w_q.dtype)  # [3, d, h * d_head]
    zero = np.zeros(dq, dtype=lw.w_q.dtype)
    return replace(lw, w_q=m[0], b_q=zero, w_k=m[1], b_k=zero, w_v=m[2], b_v=zero)


# --- the walk --------------------------------------------------------------------------------


def head_trace(src: HeadSource, *, context: HeadSource | None = None, keep=None, keep_context=None) -> HeadsTrace:
    """The head alone: Q, K, V, S = Q Kᵀ / √d_head, W, Z = W V (one head, h = 1).

    With a context, cross-attention: Q from src.h, K and V from context.h (the same projections).
    keep / keep_context: [n] / [m] bool, the rows that take part (e.g. without [CLS]/[SEP]); dropping a
    key row is dropping it before the softmax.  -> HeadsTrace (q [1, n, dh], k, v [1, m, dh], weights [1, n, m])
    """
    ctx = src if context is None else context
    keep = np.ones(len(src.tokens), bool) if keep is None else np.asarray(keep, dtype=bool)
    keep_context = np.ones(len(ctx.tokens), bool) if keep_context is None else np.asarray(keep_context, dtype=bool)
    tokens = [t for t, k in zip(src.tokens, keep) if k]
    mask = None if src.mask is None or context is not None else src.mask[keep][:, keep_context]
    return multi_head_attention(
        src.h[keep], src.w_q, src.b_q, src.w_k, src.b_k, src.w_v, src.b_v,
        n_heads=1, tokens=tokens, context=ctx.h[keep_context], mask=mask,
    )  # fmt: skip


@dataclass(frozen=True)
class LayerWalk:
    """The layer around the head, step by step."""

    heads: HeadsTrace  # every head: q, k, v [h, n, d_head], weights [h, n, n], output [h, n, d_head]
    merged: np.ndarray  # [n, h * d_head] the heads' Z side by side
    mixed: np.ndarray  # [n, d] merged W_o + b_o
    normed: np.ndarray  # [n, d] LN(H + mixed): residual, then LayerNorm
    next_input: np.ndarray  # [n, d] after the feed-forward half: the next layer's input


def layer_walk(src: HeadSource) -> LayerWalk | None:
    """The rest of the layer, or None when the source is a head without a layer around it."""
    if src.layer is None:
        return None
    heads, mixed, normed = bert.attention_block(src.layer, src.h, n_heads=src.n_heads, eps=src.eps, tokens=src.tokens)
    return LayerWalk(
        heads=heads,
        merged=heads.merged,
        mixed=mixed,
        normed=normed,
        next_input=bert.feed_forward_block(src.layer, normed, src.eps),
    )


@dataclass(frozen=True)
class Followed:
    """One query word followed through the head: its q, its dots, its weights, its sum of values."""

    query: int
    score: ScoreBreakdown  # q [dh], every k [m, dh], q·k [m], q·k / √dh [m], weights [m]
    terms: np.ndarray  # [m, dh] w_j v_j: the vectors that add up to z
    z: np.ndarray  # [dh] Σ_j w_j v_j, this query's row of Z


def follow(trace: HeadsTrace, query: int) -> Followed:
    """Take one row of a one-head trace apart, all the way to its output."""
    score = breakdown(trace, 0, query)
    terms = score.weights[:, None] * trace.v[0]  # [m, dh]
    return Followed(query=query, score=score, terms=terms, z=terms.sum(axis=0))
