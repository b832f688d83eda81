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

from dataclasses import dataclass

import numpy as np

from attnviz.attention.core import HeadsTrace, multi_head_attention


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
    """The error function (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), elementwise."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x Φ(x) = x (1 + erf(x / √2)) / 2."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0).astype(x.dtype)))


def embed(w: BertWeights, ids: np.ndarray) -> np.ndarray:
    """The input to layer 1: word + position + segment embeddings, normalised.  ids [n] -> [n, d]"""
    n = len(ids)
    if n > len(w.position):
        raise ValueError(f"{n} pieces; the position table has {len(w.position)}.")
    x = w.word[ids] + w.position[:n] + w.token_type[0]
    return layer_norm(x, w.ln_g, w.ln_b, w.eps)


def attention_block(lw: LayerWeights, h: np.ndarray, *, n_heads: int, eps: float, tokens=None, mask=None):
    """The attention half of a layer.  h [n, d] -> (HeadsTrace, a [n, d] = Z W_o + b_o, LN(h + a) [n, d])"""
    heads = multi_head_attention(
        h, lw.w_q, lw.b_q, lw.w_k, lw.b_k, lw.w_v, lw.b_v, n_heads=n_heads, tokens=tokens, mask=mask
    )
    a = heads.merged @ lw.w_o + lw.b_o  # [n, d] the 12 heads side by side, mixed back to d features
    return heads, a, layer_norm(h + a, lw.ln1_g, lw.ln1_b, eps)  # residual, then normalise


def feed_forward_block(lw: LayerWeights, h: np.ndarray, eps: float) -> np.ndarray:
    """The other half: each token on its own through an MLP, residual, LayerNorm.  h [n, d] -> [n, d]"""
    ff = gelu(h @ lw.w_1 + lw.b_1) @ lw.w_2 + lw.b_2  # [n, d]
    return layer_norm(h + ff, lw.ln2_g, lw.ln2_b, eps)


def encoder_layer(lw: LayerWeights, h: np.ndarray, *, n_heads: int, eps: float, tokens=None, mask=None):
    """One BERT layer.  h [n, d] -> (h_out [n, d], HeadsTrace)"""
    heads, _, h = attention_block(lw, h, n_heads=n_heads, eps=eps, tokens=tokens, mask=mask)
    return feed_forward_block(lw, h, eps), heads


def forward(
    w: BertWeights, ids: np.ndarray, tokens=None, *, mask: np.ndarray | None = None, layers: int | None = None
) -> BertTrace:
    """The encoder on one sequence (no padding), all its layers or the first `layers`.  ids [n] -> BertTrace

    mask [n, n] (True = may attend) is applied in every layer, e.g. a causal mask to show
    what changes if the model could not look ahead (the model was trained without one).
    """
    h = embed(w, np.asarray(ids))
    hidden, traces = [h], []
    for lw in w.layers[:layers]:
        h, heads = encoder_layer(lw, h, n_heads=w.n_heads, eps=w.eps, tokens=tokens, mask=mask)
        hidden.append(h)
        traces.append(heads)
    return BertTrace(tokens=tuple(tokens or ()), hidden=tuple(hidden), layers=tuple(traces))
