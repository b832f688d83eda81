"""The tiny attention model of `attnviz.learn.training`, written again in torch and differentiated by
autograd: the independent check of the hand-written gradients (tests) and the reference the
NumPy training is timed against (benchmarks). torch is imported inside the functions, so importing
this module costs nothing; no page uses it.

Same inputs as training.py: the one-hot X of `training.one_hot`, the same initial weights and the
same batches, drawn from one `np.random.Generator` in the same order.
"""

from __future__ import annotations

import math

import numpy as np

from attnviz.learn import training


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
