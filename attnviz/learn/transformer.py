"""A causal attention-only transformer (GPT without the MLPs), trained by hand-written gradients in NumPy.

The model of "A Mathematical Framework for Transformer Circuits" (Elhage et al. 2021) and of the
induction-head paper (Olsson et al. 2022), at a size a laptop trains in a minute:

    x_0    = W_E[tokens] + W_pos                     [B, n, d]       token + learned position embedding
    for each layer l = 0 … L-1 and head h = 0 … H-1:
      q, k, v = x_l W_Q[h], x_l W_K[h], x_l W_V[h]   [B, H, n, d_h]
      k_j   ← σ(α_h) k_j + (1 − σ(α_h)) k_{j−1}      (only with smeared keys; k_{−1} = 0)
      A     = softmax(q kᵀ / √d_h, causal)           [B, H, n, n]    the pattern a page draws
      z     = A v                                    [B, H, n, d_h]
      x_l+1 = x_l + Σ_h z_h W_O[h]                   [B, n, d]       each head writes into the residual stream
    logits = x_L W_U                                 [B, n, V]
    loss   = mean cross-entropy over the positions that have a target (-1: none)

No autograd: `forward` keeps every intermediate by name (each layer's residual, each head's pattern),
and `backward` walks them in reverse, one line per gradient with its shape. The optimiser is
`training.Adam` (torch.optim.Adam's order of operations). The dtype of the parameters is the dtype of
every intermediate: train in float32, check gradients in float64.

`training.attention_forward/backward` do not fit here: they are one head that projects its own q, k, v
from x (no place to smear the keys between) and flatten [B, n] for the weight gradients. `attend` /
`attend_backward` are the general core underneath, on given q, k, v with any leading axes ([B, H]
here); the one-layer model's attention is `attend` after its three projections (tested), so
training.py could be re-expressed on top of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnviz.attention.core import AttentionError, causal_mask

LAYERS_RANGE = (1, 4)
HEADS_RANGE = (1, 8)
WIDTH_RANGE = (4, 256)  # d_model and d_head
MAX_LENGTH = 256


class TransformerError(AttentionError):
    """A model shape the transformer cannot take; the message says what to change."""


def whole(name: str, value, lo: int, hi: int, error: type[Exception] = TransformerError) -> int:
    """value as an int if it is a whole number from lo to hi, else `error` with a message that says so."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise error(f"{name} must be a whole number from {lo} to {hi}, not {value!r}.")
    return int(value)


@dataclass(frozen=True)
class Config:
    """The shape of the model (what training does with it is `induction.Settings`)."""

    vocab: int = 64  # V: tokens 0 … V-1
    length: int = 48  # n: the longest sequence (one learned position embedding each)
    layers: int = 2  # L
    heads: int = 4  # H per layer
    d_model: int = 64  # d: the residual stream
    d_head: int = 16  # d_h: queries, keys and values of one head
    smeared_keys: bool = False  # each head mixes every key with the previous position's, by a learned σ(α_h)
    init_scale: float = 1.0  # multiplies every initial standard deviation (see init_params)

    def __post_init__(self):
        whole("The vocabulary", self.vocab, 2, 4096)
        whole("The length", self.length, 2, MAX_LENGTH)
        whole("layers", self.layers, *LAYERS_RANGE)
        whole("heads", self.heads, *HEADS_RANGE)
        whole("d_model", self.d_model, *WIDTH_RANGE)
        whole("d_head", self.d_head, *WIDTH_RANGE)
        if not isinstance(self.smeared_keys, bool):
            raise TransformerError(f"smeared_keys must be True or False, not {self.smeared_keys!r}.")
        s = self.init_scale
        if isinstance(s, bool) or not isinstance(s, int | float) or not (math.isfinite(s) and 0 < s <= 10):
            raise TransformerError(f"init_scale must be a number in (0, 10], not {s!r}.")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in the order init_params draws them."""
        v, n, h, d, dh = self.vocab, self.length, self.heads, self.d_model, self.d_head
        shapes: dict[str, tuple[int, ...]] = {"W_E": (v, d), "W_pos": (n, d)}
        for layer in range(self.layers):
            shapes |= {f"{layer}.W_Q": (h, d, dh), f"{layer}.W_K": (h, d, dh), f"{layer}.W_V": (h, d, dh)}
            shapes[f"{layer}.W_O"] = (h, dh, d)
            if self.smeared_keys:
                shapes[f"{layer}.alpha"] = (h,)
        shapes["W_U"] = (d, v)
        return shapes


def init_params(config: Config, rng: np.random.Generator, *, dtype=np.float32) -> dict[str, np.ndarray]:
    """Seeded initial weights, drawn in float64 from `rng` in `param_shapes` order, then cast to dtype.

    Embeddings ~ N(0, s²) so the residual stream starts with entries of size s; W_Q, W_K, W_V ~
    N(0, s²/d); W_O ~ N(0, s²/(H·d_h)) so the heads' sum starts as large as one embedding; α = 0
    (an even mix of each key and its predecessor); W_U = 0, so every logit starts at 0 and the first
    loss is chance, ln V, exactly (drawn N(0, s²/d) like the others, it started 1.9 nats above
    chance and the phase change came ~400 steps later: Adam 1e-3, seeds 0 … 3). s = config.init_scale.
    """
    s = config.init_scale
    params = {}
    for name, shape in config.param_shapes().items():
        kind = name.split(".")[-1]
        if kind in ("alpha", "W_U"):
            w = np.zeros(shape)
        elif kind in ("W_E", "W_pos"):
            w = rng.normal(0.0, s, shape)
        elif kind == "W_O":
            w = rng.normal(0.0, s / math.sqrt(config.heads * config.d_head), shape)
        else:  # W_Q, W_K, W_V read the d-dimensional stream
            w = rng.normal(0.0, s / math.sqrt(config.d_model), shape)
        params[name] = w.astype(dtype)
    return params


# --- attention on given queries, keys and values -----------------------------------------------


@dataclass(frozen=True)
class Attended:
    """Softmax attention's forward on q, k, v (any leading axes, e.g. [B, H]).

    Computed key-major ([..., key, query]) because NumPy reduces along the second-last axis of an array
    several times faster than along the last, and the softmax's max and sum are the costliest steps
    of a training step; `scores` and `weights` are transposed views, so they read in the usual order.
    """

    scores: np.ndarray  # [..., n, n] q kᵀ / √d_h, before the mask (query rows, key columns)
    weights: np.ndarray  # [..., n, n] softmax by rows, 0 where masked: the pattern
    output: np.ndarray  # [..., n, d_h] weights v


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None) -> Attended:
    """q, k, v [..., n, d_h], mask [n, n] bool (True = query row may attend to key column) -> Attended"""
    scores_t = k @ q.swapaxes(-1, -2)  # [..., key, query]
    scores_t *= 1.0 / math.sqrt(q.shape[-1])  # in place, as below: each fresh [B, H, n, n] array costs page faults
    weights_t = scores_t + (0 if mask is None else np.where(mask.T, 0, -np.inf).astype(scores_t.dtype))
    peak = weights_t.max(axis=-2, keepdims=True)  # [..., 1, query]   the stable softmax: subtract the max
    if not np.all(np.isfinite(peak)):
        raise AttentionError("A row of scores is entirely masked (or not finite), so there is nothing to attend to.")
    weights_t -= peak
    np.exp(weights_t, out=weights_t)
    weights_t /= weights_t.sum(axis=-2, keepdims=True)  # [..., key, query]   each query's column sums to 1
    weights = weights_t.swapaxes(-1, -2)  # [..., query, key]
    return Attended(scores=scores_t.swapaxes(-1, -2), weights=weights, output=weights @ v)


def attend_backward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, weights: np.ndarray, d_output: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dLoss/d(q, k, v) of `attend`, given dLoss/dOutput [..., n, d_h] and its weights.  -> (d_q, d_k, d_v)

    Key-major like `attend` (every [..., n, n] array below is [..., key, query]).
    """
    a_t = weights.swapaxes(-1, -2)  # [..., key, query]   Aᵀ
    d_a_t = v @ d_output.swapaxes(-1, -2)  # [..., key, query]   (dL/dA)ᵀ = (dZ vᵀ)ᵀ
    d_v = a_t @ d_output  # [..., n, d_h]   dL/dv = Aᵀ dZ
    # softmax by rows: dS_ij = A_ij (dA_ij − Σ_k A_ik dA_ik); masked entries have A = 0, so dS = 0 there
    d_s_t = a_t * d_a_t  # [..., key, query]
    d_a_t -= d_s_t.sum(axis=-2, keepdims=True)
    d_s_t = np.multiply(a_t, d_a_t, out=d_s_t)  # in place (see attend)
    d_s_t *= 1.0 / math.sqrt(q.shape[-1])  # through the 1/√d_h scale
    d_q = d_s_t.swapaxes(-1, -2) @ k  # [..., n, d_h]   dL/dq = dS k
    d_k = d_s_t @ q  # [..., n, d_h]   dL/dk = dSᵀ q
    return d_q, d_k, d_v


# --- smeared keys --------------------------------------------------------------------------------


def previous(k: np.ndarray) -> np.ndarray:
    """Each position's predecessor along the sequence axis, 0 before the first.  k [..., n, d_h] -> same"""
    shifted = np.zeros_like(k)
    shifted[..., 1:, :] = k[..., :-1, :]
    return shifted


def smear(k: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Smeared keys: k_j ← σ(α_h) k_j + (1 − σ(α_h)) k_{j−1}.  k [B, H, n, d_h], alpha [H] -> same as k

    With it a key can say "the token before me was …" in a single layer: what a previous-token head
    in layer 0 does for a layer-1 induction head (Olsson et al. 2022, section "smeared keys").
    """
    s = sigmoid(alpha)[:, None, None]  # [H, 1, 1]
    return s * k + (1 - s) * previous(k)


def smear_backward(k: np.ndarray, alpha: np.ndarray, d_smeared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dLoss/d(k, alpha) of `smear`, given dLoss/d(smeared k) [B, H, n, d_h].  -> (d_k [B, H, n, d_h], d_alpha [H])"""
    s = sigmoid(alpha)[:, None, None]  # [H, 1, 1]
    d_k = s * d_smeared  # [B, H, n, d_h]   each key's own share
    d_k[..., :-1, :] += (1 - s) * d_smeared[..., 1:, :]  # and its share in the next position's key
    d_s = np.sum(d_smeared * (k - previous(k)), axis=(0, 2, 3))  # [H]   d(smeared)/dσ = k_j − k_{j−1}
    sig = s[:, 0, 0]
    return d_k, d_s * sig * (1 - sig)  # dσ/dα = σ (1 − σ)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)), in x's dtype, without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One layer's forward, every intermediate named (what backward walks back)."""

    x: np.ndarray  # [B, n, d]       the residual stream this layer reads
    q: np.ndarray  # [B, H, n, d_h]
    k: np.ndarray  # [B, H, n, d_h]  before smearing
    keys: np.ndarray  # [B, H, n, d_h] what the queries meet: smear(k) with smeared keys, else k
    v: np.ndarray  # [B, H, n, d_h]
    weights: np.ndarray  # [B, H, n, n] every head's pattern
    z: np.ndarray  # [B, H, n, d_h] weights v
    out: np.ndarray  # [B, n, d]      Σ_h z_h W_O[h]: what the layer adds to the stream


@dataclass(frozen=True)
class Forward:
    """The whole model's forward on one batch."""

    tokens: np.ndarray  # [B, n] int
    layers: tuple[Layer, ...]  # L of them
    residual: np.ndarray  # [B, n, d]  x_L, the stream the unembedding reads
    logits: np.ndarray  # [B, n, V]
    log_probs: np.ndarray  # [B, n, V]
    targets: np.ndarray  # [B, n] int, -1 where a position has no target
    loss: float  # mean cross-entropy over the positions with a target (nan if none has one)

    @property
    def residuals(self) -> tuple[np.ndarray, ...]:
        """x_0 … x_L, each [B, n, d]."""
        return (*(layer.x for layer in self.layers), self.residual)

    @property
    def patterns(self) -> np.ndarray:
        """Every head's attention, [L, B, H, n, n]."""
        return np.stack([layer.weights for layer in self.layers])


def split_heads(y: np.ndarray, heads: int) -> np.ndarray:
    """[B, n, H·d_h] -> [B, H, n, d_h]: the heads' columns, side by side, as a head axis (a view)."""
    b, n, _ = y.shape
    return y.reshape(b, n, heads, -1).swapaxes(1, 2)


def merge_heads(y: np.ndarray) -> np.ndarray:
    """[B, H, n, d_h] -> [B·n, H·d_h]: the inverse of split_heads, with positions as rows (a copy)."""
    b, h, n, dh = y.shape
    return y.swapaxes(1, 2).reshape(b * n, h * dh)


def side_by_side(w: np.ndarray) -> np.ndarray:
    """Every head's projection as one matrix: W [H, d, d_h] -> [d, H·d_h] (head h's columns h·d_h …)."""
    return w.swapaxes(0, 1).reshape(w.shape[1], -1)


def check_tokens(config: Config, tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        raise TransformerError(f"tokens must be a [batch, length] array of whole numbers, not shape {tokens.shape}.")
    if not 1 <= tokens.shape[1] <= config.length:
        raise TransformerError(f"A sequence has {tokens.shape[1]} tokens; the model reads 1 to {config.length}.")
    if tokens.size and not 0 <= tokens.min() <= tokens.max() < config.vocab:
        raise TransformerError(f"Tokens must be 0 … {config.vocab - 1}; found {tokens.min()} … {tokens.max()}.")
    return tokens


def qkv_matrix(params: dict[str, np.ndarray], layer: int) -> np.ndarray:
    """A layer's W_Q, W_K and W_V of every head side by side: [d, 3·H·d_h], so one matmul projects them all."""
    return np.concatenate([side_by_side(params[f"{layer}.{w}"]) for w in ("W_Q", "W_K", "W_V")], axis=1)


def layer_forward(params: dict[str, np.ndarray], config: Config, layer: int, x: np.ndarray) -> Layer:
    """One layer's heads on the residual stream x [B, n, d] -> Layer (its out is what it adds to x)."""
    (b, n, d), h = x.shape, config.heads
    qkv = (x.reshape(-1, d) @ qkv_matrix(params, layer)).reshape(b, n, -1)  # [B, n, 3·H·d_h]
    q, k, v = (split_heads(y, h) for y in np.split(qkv, 3, axis=-1))  # [B, H, n, d_h] each
    keys = smear(k, params[f"{layer}.alpha"]) if config.smeared_keys else k  # [B, H, n, d_h]
    att = attend(q, keys, v, causal_mask(n))
    w_o = params[f"{layer}.W_O"].reshape(-1, d)  # [H·d_h, d]  head h's rows h·d_h …
    out = (merge_heads(att.output) @ w_o).reshape(b, n, d)  # [B, n, d]   Σ_h z_h W_O[h]
    return Layer(x=x, q=q, k=k, keys=keys, v=v, weights=att.weights, z=att.output, out=out)


def forward(
    params: dict[str, np.ndarray], config: Config, tokens: np.ndarray, targets: np.ndarray | None = None
) -> Forward:
    """tokens [B, n] int, targets [B, n] int (-1 = no target; None: none anywhere) -> Forward"""
    tokens = check_tokens(config, tokens)
    n = tokens.shape[1]
    targets = np.full(tokens.shape, -1) if targets is None else np.asarray(targets)
    x = params["W_E"][tokens] + params["W_pos"][:n]  # [B, n, d]
    layers = []
    for layer in range(config.layers):
        layers.append(layer_forward(params, config, layer, x))
        x = x + layers[-1].out  # [B, n, d]   the residual stream
    logits = x @ params["W_U"]  # [B, n, V]
    log_probs = log_softmax(logits)  # [B, n, V]
    has = targets >= 0  # [B, n]
    picked = np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], axis=-1)[..., 0]  # [B, n]
    loss = -float(picked[has].mean()) if has.any() else float("nan")
    return Forward(tokens, tuple(layers), x, logits, log_probs, targets, loss)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """ln softmax over the last axis, stably (the max subtracted first).  logits [..., V] -> same"""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def backward(params: dict[str, np.ndarray], config: Config, f: Forward) -> dict[str, np.ndarray]:
    """The gradient of f.loss with respect to every parameter, by hand.  -> {name: same shape as params[name]}"""
    has = f.targets >= 0  # [B, n]
    if not has.any():
        raise TransformerError("No position in the batch has a target, so there is no loss to differentiate.")
    (b, n), h, d, dh = f.tokens.shape, config.heads, config.d_model, config.d_head
    rows = np.flatnonzero(has)  # [N]   the positions with a target, as rows of the B·n positions: the only
    # ones whose logits have a gradient, so the unembedding's backward is done on them alone
    d_logits = np.exp(f.log_probs.reshape(b * n, -1)[rows])  # [N, V]   softmax + cross-entropy: (p − onehot) / N
    d_logits[np.arange(len(rows)), f.targets.reshape(-1)[rows]] -= 1
    d_logits *= 1.0 / len(rows)
    grads = {"W_U": f.residual.reshape(-1, d)[rows].T @ d_logits}  # [d, V]   x_Lᵀ dlogits
    d_x = np.zeros_like(f.residual)  # [B, n, d]
    d_x.reshape(-1, d)[rows] = d_logits @ params["W_U"].T
    for layer in reversed(range(config.layers)):
        c, name = f.layers[layer], f"{layer}."
        # x_l+1 = x_l + out: d_x flows on to x_l unchanged, and into the heads through out
        d_out = d_x.reshape(-1, d)  # [B·n, d]
        grads[name + "W_O"] = (merge_heads(c.z).T @ d_out).reshape(h, dh, d)  # [H, d_h, d]  zᵀ d_out
        d_z = split_heads((d_out @ params[name + "W_O"].reshape(-1, d).T).reshape(b, n, -1), h)  # [B, H, n, d_h]
        d_q, d_keys, d_v = attend_backward(c.q, c.keys, c.v, c.weights, d_z)  # [B, H, n, d_h] each
        if config.smeared_keys:
            d_k, grads[name + "alpha"] = smear_backward(c.k, params[name + "alpha"], d_keys)  # [B, H, n, d_h], [H]
        else:
            d_k = d_keys
        d_qkv = np.concatenate([merge_heads(g) for g in (d_q, d_k, d_v)], axis=1)  # [B·n, 3·H·d_h]
        g_qkv = c.x.reshape(-1, d).T @ d_qkv  # [d, 3·H·d_h]   xᵀ d_qkv
        for i, w in enumerate(("W_Q", "W_K", "W_V")):
            grads[name + w] = g_qkv[:, i * h * dh : (i + 1) * h * dh].reshape(d, h, dh).swapaxes(0, 1)  # [H, d, d_h]
        d_x = d_x + (d_qkv @ qkv_matrix(params, layer).T).reshape(b, n, d)  # [B, n, d]
    grads["W_pos"] = np.zeros_like(params["W_pos"])  # [n_max, d]   positions beyond n got no gradient
    grads["W_pos"][:n] = d_x.sum(axis=0)
    grads["W_E"] = one_hot(f.tokens.reshape(-1), config.vocab, d_x.dtype).T @ d_x.reshape(-1, d)  # [V, d]
    return {name: np.ascontiguousarray(grads[name]) for name in params}  # in the parameters' order


def one_hot(tokens: np.ndarray, vocab: int, dtype) -> np.ndarray:
    """tokens [m] int -> [m, vocab]: row i is 1 at tokens[i]. Its transpose gathers each token's rows."""
    x = np.zeros((len(tokens), vocab), dtype=dtype)
    x[np.arange(len(tokens)), tokens] = 1
    return x
