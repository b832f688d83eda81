"""The tiny attention model of `attnviz.learn.training`, written again in torch and differentiated by
autograd: the independent check of the hand-written gradients (tests) and the reference the
NumPy training is timed against (benchmarks). torch is imported inside the functions, so importing
this module costs nothing; no page uses it.

Same inputs as training.py: the one-hot X of `training.one_hot`, the same initial weights and the
same batches, drawn from one `np.random.Generator` in the same order.

The second half does the same for the attention-only transformer of `attnviz.learn.transformer`
(induction heads): `transformer_gradients` and `TransformerTrainer` (torch.optim.Adam), with the same
parameters, initial weights, batches and warm-up as `induction.Trainer`.
"""

from __future__ import annotations

import math

import numpy as np

from attnviz.learn import induction, training, transformer


def _loss(p: dict, x, targets, causal: bool):
    """The forward pass in torch; returns the scalar loss (a graph autograd can walk)."""
    import torch

    q, k, v = x @ p["W_q"], x @ p["W_k"], x @ p["W_v"]  # [B, n, h]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, n, n]
    if causal:
        n = x.shape[-2]
        scores = scores.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    logits = torch.softmax(scores, dim=-1) @ v @ p["W_out"]  # [B, n, vocab]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


def gradients(
    params: dict[str, np.ndarray], tokens: np.ndarray, targets: np.ndarray, *, causal: bool
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and dLoss/dparam by torch autograd, in float64.  -> (loss, {name: array})"""
    import torch

    p = {name: torch.tensor(w, dtype=torch.float64, requires_grad=True) for name, w in params.items()}
    x = torch.from_numpy(training.one_hot(tokens))
    loss = _loss(p, x, torch.from_numpy(np.asarray(targets, dtype=np.int64)), causal)
    loss.backward()
    grads = {}
    for name, t in p.items():
        assert t.grad is not None, "backward() fills .grad of every leaf tensor that requires it"
        grads[name] = t.grad.numpy()
    return loss.item(), grads


def train(config: training.Config) -> list[float]:
    """The run `training.train(config)` does (same initial weights, same batches), trained by torch
    autograd and torch.optim.Adam in float64.  -> the loss at every step"""
    import torch

    task = training.get_task(config.task)
    rng = np.random.default_rng(config.seed)
    init = training.init_params(config.d, config.d_head, rng)  # the same draws, in the same order
    p = {name: torch.tensor(w, dtype=torch.float64, requires_grad=True) for name, w in init.items()}
    opt = torch.optim.Adam(p.values(), lr=config.lr)
    losses = []
    for _ in range(config.steps):
        tokens, targets = task.sample(rng, config.batch, config.length)
        x = torch.from_numpy(training.one_hot(tokens))
        opt.zero_grad()
        loss = _loss(p, x, torch.from_numpy(targets.astype(np.int64)), task.causal)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# --- the attention-only transformer (induction heads) -------------------------------------------


def transformer_loss(p: dict, config: transformer.Config, tokens, targets):
    """The forward pass in torch, written from the equations (not from the NumPy code): the scalar loss."""
    import torch

    n = tokens.shape[1]
    x = p["W_E"][tokens] + p["W_pos"][:n]  # [B, n, d]
    allowed = torch.ones(n, n, dtype=torch.bool).tril()
    for layer in range(config.layers):
        w = {name: p[f"{layer}.{name}"] for name in ("W_Q", "W_K", "W_V", "W_O")}
        q = torch.einsum("bnd,hde->bhne", x, w["W_Q"])  # [B, H, n, d_h]
        k = torch.einsum("bnd,hde->bhne", x, w["W_K"])
        v = torch.einsum("bnd,hde->bhne", x, w["W_V"])
        if config.smeared_keys:
            s = torch.sigmoid(p[f"{layer}.alpha"])[:, None, None]  # [H, 1, 1]
            k = s * k + (1 - s) * torch.nn.functional.pad(k, (0, 0, 1, 0))[..., :-1, :]  # k_{-1} = 0
        scores = (q @ k.transpose(-1, -2) / math.sqrt(config.d_head)).masked_fill(~allowed, float("-inf"))
        z = torch.softmax(scores, dim=-1) @ v  # [B, H, n, d_h]
        x = x + torch.einsum("bhne,hed->bnd", z, w["W_O"])
    logits = x @ p["W_U"]  # [B, n, V]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab), targets.reshape(-1), ignore_index=-1)


def _tensors(params: dict[str, np.ndarray], dtype) -> dict:
    import torch

    return {name: torch.tensor(w, dtype=dtype, requires_grad=True) for name, w in params.items()}


def transformer_gradients(
    params: dict[str, np.ndarray], config: transformer.Config, tokens: np.ndarray, targets: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and dLoss/dparam by torch autograd, in float64.  -> (loss, {name: array})"""
    import torch

    p = _tensors(params, torch.float64)
    value = transformer_loss(
        p, config, torch.from_numpy(np.asarray(tokens, dtype=np.int64)), torch.from_numpy(targets.astype(np.int64))
    )
    value.backward()
    return value.item(), {name: t.grad.numpy() for name, t in p.items()}


class TransformerTrainer:
    """The run `induction.Trainer(settings)` does (same initial weights, same batches, same learning rate at
    every step), by torch autograd and torch.optim.Adam, in float64 or float32."""

    def __init__(self, settings: induction.Settings, *, dtype: str = "float64"):
        import torch

        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        init = transformer.init_params(settings.model, self.rng, dtype=np.float64)  # the same draws, same order
        self.params = _tensors(init, getattr(torch, dtype))
        self.adam = torch.optim.Adam(self.params.values(), lr=settings.lr)
        self.losses: list[float] = []

    def run(self, k: int) -> None:
        import torch

        for _ in range(k):
            batch = induction.sample(self.rng, self.settings.batch)
            for group in self.adam.param_groups:
                group["lr"] = induction.learning_rate(self.settings, len(self.losses))
            self.adam.zero_grad()
            value = transformer_loss(self.params, self.settings.model, torch.from_numpy(batch.tokens.astype(np.int64)),
                         torch.from_numpy(batch.targets.astype(np.int64)))  # fmt: skip
            value.backward()
            self.adam.step()
            self.losses.append(value.item())

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {name: t.detach().numpy().copy() for name, t in self.params.items()}
