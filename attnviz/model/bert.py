"""all-MiniLM-L6-v2's forward pass in NumPy: every layer's hidden states and every head's attention.

A BERT encoder (6 layers, 12 heads of 32, d = 384) written out so each step can be shown:

    h0 = LayerNorm(word[ids] + position[0..n) + token_type[0])
    for each layer:
        a  = MultiHead(h) W_o + b_o          12 heads: softmax(Q Kᵀ / √32) V, side by side
        h' = LayerNorm(h + a)                residual, then normalise
        h  = LayerNorm(h' + GELU(h' W_1 + b_1) W_2 + b_2)

NumPy only: the weights come in as a dict of arrays (see `attnviz.model.embeddings.bert_weights`), so this module
never imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from attnviz.attention.core import HeadsTrace, multi_head_attention

Heads = Collection[tuple[int, int]]  # (layer, head) pairs, e.g. the heads an ablation removes


@dataclass(frozen=True)
class LayerWeights:
    """One encoder layer; matrices stored as [d_in, d_out] so that y = x @ w + b."""

    w_q: np.ndarray  # [d, d]
    b_q: np.ndarray  # [d]
    w_k: np.ndarray  # [d, d]
    b_k: np.ndarray  # [d]
    w_v: np.ndarray  # [d, d]
    b_v: np.ndarray  # [d]
    w_o: np.ndarray  # [d, d]
    b_o: np.ndarray  # [d]
    ln1_g: np.ndarray  # [d]
    ln1_b: np.ndarray  # [d]
    w_1: np.ndarray  # [d, d_ff]
    b_1: np.ndarray  # [d_ff]
    w_2: np.ndarray  # [d_ff, d]
    b_2: np.ndarray  # [d]
    ln2_g: np.ndarray  # [d]
    ln2_b: np.ndarray  # [d]


@dataclass(frozen=True)
class BertWeights:
    word: np.ndarray  # [V, d]
    position: np.ndarray  # [P, d]
    token_type: np.ndarray  # [2, d]
    ln_g: np.ndarray  # [d]
    ln_b: np.ndarray  # [d]
    layers: tuple[LayerWeights, ...]
    n_heads: int
    eps: float

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def d_head(self) -> int:
        return self.word.shape[1] // self.n_heads

    @classmethod
    def from_state_dict(cls, sd: dict[str, np.ndarray], *, n_heads: int, eps: float) -> BertWeights:
        """From a Hugging Face BertModel state dict (as NumPy arrays; Linear weights are [out, in])."""
        n_layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.layer."))

        def lin(name):
            return np.ascontiguousarray(sd[name + ".weight"].T), sd[name + ".bias"]

        layers = []
        for i in range(n_layers):
            p = f"encoder.layer.{i}."
            (w_q, b_q), (w_k, b_k), (w_v, b_v) = (lin(p + f"attention.self.{m}") for m in ("query", "key", "value"))
            w_o, b_o = lin(p + "attention.output.dense")
            w_1, b_1 = lin(p + "intermediate.dense")
            w_2, b_2 = lin(p + "output.dense")
            layers.append(
                LayerWeights(
                    w_q=w_q,
                    b_q=b_q,
                    w_k=w_k,
                    b_k=b_k,
                    w_v=w_v,
                    b_v=b_v,
                    w_o=w_o,
                    b_o=b_o,
                    ln1_g=sd[p + "attention.output.LayerNorm.weight"],
                    ln1_b=sd[p + "attention.output.LayerNorm.bias"],
                    w_1=w_1,
                    b_1=b_1,
                    w_2=w_2,
                    b_2=b_2,
                    ln2_g=sd[p + "output.LayerNorm.weight"],
                    ln2_b=sd[p + "output.LayerNorm.bias"],
                )
            )
        return cls(
            word=sd["embeddings.word_embeddings.weight"],
            position=sd["embeddings.position_embeddings.weight"],
            token_type=sd["embeddings.token_type_embeddings.weight"],
            ln_g=sd["embeddings.LayerNorm.weight"],
            ln_b=sd["embeddings.LayerNorm.bias"],
            layers=tuple(layers),
            n_heads=n_heads,
            eps=eps,
        )


@dataclass(frozen=True)
class BertTrace:
    """The whole forward pass: hidden states before and after every layer, and every head."""

    tokens: tuple[str, ...]
    hidden: tuple[np.ndarray, ...]  # n_layers + 1 arrays [n, d]: the embeddings, then each layer's output
    layers: tuple[HeadsTrace, ...]  # per layer: q, k, v [h, n, d_head], weights [h, n, n]

    @property
    def attentions(self) -> np.ndarray:
        """Every head's weights.  -> [n_layers, h, n, n]"""
        return np.stack([t.weights for t in self.layers])


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """[n, d] -> [n, d], each row to mean 0 and variance 1, then scaled and shifted."""
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def erf(x: np.ndarray) -> np.ndarray:
    """The error function (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), elementwise.

    Written with in-place steps on two buffers: the polynomial's dozen passes over a [n, 1536] array were
    half of a forward pass's time when each made a new array."""
    a = np.abs(x)
    t = np.multiply(a, 0.3275911, dtype=x.dtype)
    t += 1.0
    np.reciprocal(t, out=t)  # t = 1 / (1 + p |x|)
    poly = np.multiply(t, 1.061405429, dtype=x.dtype)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += c
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # poly(t) e^{-x²}
    np.subtract(1.0, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x Φ(x) = x (1 + erf(x / √2)) / 2."""
    e = erf(x * np.sqrt(0.5).astype(x.dtype))
    e += 1.0
    e *= x
    e *= 0.5
    return e


def embed(w: BertWeights, ids: np.ndarray, segments: np.ndarray | None = None) -> np.ndarray:
    """The input to layer 1: word + position + segment embeddings, normalised.  ids [n] -> [n, d]

    segments [n] (0 or 1): which sentence of a pair [CLS] A [SEP] B [SEP] each piece is in (default all 0).
    """
    n = len(ids)
    if n > len(w.position):
        raise ValueError(f"{n} pieces; the position table has {len(w.position)}.")
    x = w.word[ids] + w.position[:n] + w.token_type[0 if segments is None else np.asarray(segments)]
    return layer_norm(x, w.ln_g, w.ln_b, w.eps)


def remove_heads(heads: HeadsTrace, removed: Collection[int], *, uniform: bool = False) -> HeadsTrace:
    """The layer's heads with some removed: their output W V set to zero, so their d_head columns of the
    merged context are zero before W_o (Michel et al. 2019); or, uniform=True, their W replaced by equal
    weights on every key it may attend to, so the head outputs the mean of its values (Kovaleva et al. 2019).
    HeadsTrace -> HeadsTrace (the same shapes)"""
    if not removed:
        return heads
    hs = sorted(removed)
    output, weights = heads.output.copy(), heads.weights
    if uniform:
        allowed = (
            np.ones(weights.shape[1:], dtype=weights.dtype) if heads.mask is None else heads.mask.astype(weights.dtype)
        )
        weights = weights.copy()
        weights[hs] = allowed / allowed.sum(axis=-1, keepdims=True)  # [n, m] rows sum to 1
        output[hs] = weights[hs] @ heads.v[hs]
    else:
        output[hs] = 0.0
    return dataclasses.replace(heads, weights=weights, output=output)


def attention_block(
    lw: LayerWeights, h: np.ndarray, *, n_heads: int, eps: float, tokens=None, mask=None, removed=(), uniform=False
):
    """The attention half of a layer.  h [n, d] -> (HeadsTrace, a [n, d] = Z W_o + b_o, LN(h + a) [n, d])

    removed: heads of this layer taken out (see `remove_heads`)."""
    heads = multi_head_attention(
        h, lw.w_q, lw.b_q, lw.w_k, lw.b_k, lw.w_v, lw.b_v, n_heads=n_heads, tokens=tokens, mask=mask
    )
    heads = remove_heads(heads, removed, uniform=uniform)
    a = heads.merged @ lw.w_o + lw.b_o  # [n, d] the 12 heads side by side, mixed back to d features
    return heads, a, layer_norm(h + a, lw.ln1_g, lw.ln1_b, eps)  # residual, then normalise


def feed_forward_block(lw: LayerWeights, h: np.ndarray, eps: float) -> np.ndarray:
    """The other half: each token on its own through an MLP, residual, LayerNorm.  h [n, d] -> [n, d]"""
    ff = gelu(h @ lw.w_1 + lw.b_1) @ lw.w_2 + lw.b_2  # [n, d]
    return layer_norm(h + ff, lw.ln2_g, lw.ln2_b, eps)


def encoder_layer(
    lw: LayerWeights, h: np.ndarray, *, n_heads: int, eps: float, tokens=None, mask=None, removed=(), uniform=False
):
    """One BERT layer.  h [n, d] -> (h_out [n, d], HeadsTrace)"""
    heads, _, h = attention_block(
        lw, h, n_heads=n_heads, eps=eps, tokens=tokens, mask=mask, removed=removed, uniform=uniform
    )
    return feed_forward_block(lw, h, eps), heads


def forward(
    w: BertWeights,
    ids: np.ndarray,
    tokens=None,
    *,
    mask: np.ndarray | None = None,
    layers: int | None = None,
    segments: np.ndarray | None = None,
    remove: Heads = (),
    uniform: bool = False,
) -> BertTrace:
    """The encoder on one sequence (no padding), all its layers or the first `layers`.  ids [n] -> BertTrace

    mask [n, n] (True = may attend) is applied in every layer, e.g. a causal mask to show
    what changes if the model could not look ahead (the model was trained without one).
    segments [n]: token types for a pair (see `embed`). remove: (layer, head) pairs taken out, their output
    zeroed or, uniform=True, their attention made uniform (see `remove_heads`).
    """
    h = embed(w, np.asarray(ids), segments)
    hidden, traces = [h], []
    for i, lw in enumerate(w.layers[:layers]):
        removed = {head for layer, head in remove if layer == i}
        h, heads = encoder_layer(
            lw, h, n_heads=w.n_heads, eps=w.eps, tokens=tokens, mask=mask, removed=removed, uniform=uniform
        )
        hidden.append(h)
        traces.append(heads)
    return BertTrace(tokens=tuple(tokens or ()), hidden=tuple(hidden), layers=tuple(traces))


# --- many sequences at once (the census and the pruning curve): padded, one matmul per weight ----------


@dataclass(frozen=True)
class Batch:
    """Sequences padded to one length: ids and segments [B, n] (0 past each length), valid [B, n] bool."""

    ids: np.ndarray  # [B, n] int
    segments: np.ndarray  # [B, n] int, token types
    valid: np.ndarray  # [B, n] bool, False on padding

    @classmethod
    def of(cls, seqs: list[np.ndarray], segments: list[np.ndarray] | None = None) -> Batch:
        n = max(len(s) for s in seqs)
        ids, seg, valid = (np.zeros((len(seqs), n), dtype=t) for t in (np.int64, np.int64, bool))
        for b, s in enumerate(seqs):
            ids[b, : len(s)], valid[b, : len(s)] = s, True
            if segments is not None:
                seg[b, : len(s)] = segments[b]
        return cls(ids, seg, valid)


def embed_batch(w: BertWeights, batch: Batch) -> np.ndarray:
    """`embed` for each sequence of a batch.  -> [B, n, d]"""
    n = batch.ids.shape[1]
    x = w.word[batch.ids] + w.position[:n] + w.token_type[batch.segments]
    return layer_norm(x, w.ln_g, w.ln_b, w.eps)


def layer_batch(
    lw: LayerWeights, h: np.ndarray, valid: np.ndarray, *, n_heads: int, eps: float, removed=(), uniform=False
) -> tuple[np.ndarray, np.ndarray]:
    """`encoder_layer` on a padded batch: padding is never attended to, so each sequence's rows are what
    `forward` gives it alone (tests).  h [B, n, d], valid [B, n] -> (h_out [B, n, d], weights [B, h, n, n])"""
    b, n, d = h.shape
    dh = d // n_heads

    flat = h.reshape(b * n, d)  # 2-D matmuls: NumPy's [B, n, d] @ [d, d] is ~20x slower than one GEMM

    def split(x):  # [B * n, d] -> [B, h, n, dh]
        return x.reshape(b, n, n_heads, dh).transpose(0, 2, 1, 3)

    q, k, v = (split(flat @ w_ + b_) for w_, b_ in ((lw.w_q, lw.b_q), (lw.w_k, lw.b_k), (lw.w_v, lw.b_v)))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh).astype(h.dtype)  # [B, h, n, n]
    scores = np.where(valid[:, None, None, :], scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-1, keepdims=True)  # [B, h, n, n]
    out = weights @ v  # [B, h, n, dh]
    if removed:
        hs = sorted(removed)
        if uniform:
            keys = valid[:, None, :].astype(h.dtype)  # [B, 1, n]
            weights[:, hs] = np.broadcast_to((keys / keys.sum(-1, keepdims=True))[:, None], weights[:, hs].shape)
            out[:, hs] = weights[:, hs] @ v[:, hs]
        else:
            out[:, hs] = 0.0
    a = out.transpose(0, 2, 1, 3).reshape(b * n, d) @ lw.w_o + lw.b_o
    flat = layer_norm(flat + a, lw.ln1_g, lw.ln1_b, eps)
    return feed_forward_block(lw, flat, eps).reshape(b, n, d), weights


def forward_batch(
    w: BertWeights, batch: Batch, *, remove: Heads = (), uniform: bool = False, start: int = 0, h=None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The encoder on a padded batch, optionally from layer `start` given its input h [B, n, d] (an
    ablation leaves the layers below its lowest removed head as they were).
    -> (hidden: the inputs of layers start.. and the output, [B, n, d] each; weights [B, h, n, n] per layer run)"""
    h = embed_batch(w, batch) if h is None else h
    hidden, weights = [h], []
    for i, lw in enumerate(w.layers[start:], start):
        removed = {head for layer, head in remove if layer == i}
        h, wts = layer_batch(lw, h, batch.valid, n_heads=w.n_heads, eps=w.eps, removed=removed, uniform=uniform)
        hidden.append(h)
        weights.append(wts)
    return hidden, weights


def sentence_embedding(hidden: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """What sentence-transformers returns for all-MiniLM-L6-v2: the mean of the last hidden states over the
    pieces ([CLS] and [SEP] included), scaled to length 1.  hidden [B, n, d], valid [B, n] -> [B, d]"""
    m = valid[..., None].astype(hidden.dtype)
    pooled = (hidden * m).sum(axis=1) / m.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)
