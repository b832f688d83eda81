"""Attention that learns: a tiny attention layer trained by hand-written gradients, in NumPy only.

The model reads a short sequence of letters. Each position is the concatenation of a one-hot token
and a one-hot position, so every input feature has a name a student can read ("c", "pos 3"):

    X      = [onehot(token) | onehot(position)]      [B, n, d]     d = vocabulary + length
    Q, K, V = X W_q, X W_k, X W_v                    [B, n, h]     h = d_head
    S      = Q Kᵀ / √h  (-inf above the diagonal if causal)        [B, n, n]
    A      = softmax(S) by rows                      [B, n, n]     the attention W a page shows
    Z      = A V                                     [B, n, h]
    logits = Z W_out                                 [B, n, vocab]
    loss   = mean cross-entropy over the positions that have a target

No autograd: `backward` walks the forward's named intermediates in reverse, one line per gradient
with its shape (the softmax-attention backward spelled out in `attention_backward`), and `Adam`
updates the parameters as torch.optim.Adam does. Everything is decided by a seed: the initial
weights and every batch come from one `np.random.Generator`. `attention_forward/backward` take any
input X, so other models (the vision classifier) reuse them.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from attnviz.attention.core import AttentionError, causal_mask, softmax

VOCAB = tuple(string.ascii_lowercase)  # the letters a … z; token t is VOCAB[t]
LENGTH_RANGE = (2, 16)
D_HEAD_RANGE = (1, 64)
LR_RANGE = (1e-5, 10.0)
MAX_STEPS = 100_000  # the CLI's cap; the page caps a press lower (pages/5_Train_attention.py)
BATCH = 32
PARAMS = ("W_q", "W_k", "W_v", "W_out")


class TrainingError(AttentionError):
    """Settings training cannot take, or a run that diverged; the message says what to change."""


# --- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A seeded generator of (tokens, targets) and the attention pattern it needs.

    keys(tokens [..., n]) -> [..., n] int: the position each row should attend to (-1: no target there).
    The target at position i is the token at keys[i]: "copy the letter you attend to". For the
    positional tasks that pattern is the only way a layer without a residual can solve them; a task
    about the set of letters (largest) can also be solved, rarely, by a spread-out average that the
    readout decodes, and `warning` says so when it happens.
    """

    name: str
    description: str  # one line a student understands
    pattern: str  # what the attention should look like
    phrase: str  # ends "each position now puts 97% of its weight on …"
    causal: bool
    keys: Callable[[np.ndarray], np.ndarray]

    def sample(self, rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """batch sequences of `length` distinct letters -> tokens [B, n] int, targets [B, n] int (-1 = none)"""
        check_length(length)
        # distinct letters in each sequence, so the position a row should attend to is unambiguous
        tokens = np.argsort(rng.random((batch, len(VOCAB))), axis=1)[:, :length]  # [B, n]
        keys = self.keys(tokens)  # [B, n]
        targets = np.where(keys >= 0, np.take_along_axis(tokens, np.maximum(keys, 0), axis=1), -1)
        return tokens, targets


def _positions(t: np.ndarray) -> np.ndarray:
    """tokens [..., n] -> [..., n] int: 0 … n-1 in every sequence."""
    return np.broadcast_to(np.arange(t.shape[-1]), t.shape)


def _largest(t: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.argmax(t, axis=-1)[..., None], t.shape)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "previous-token",
            "Output the letter one place back (causal: each position sees only itself and earlier ones).",
            "the sub-diagonal",
            "the position before it",
            True,
            lambda t: _positions(t) - 1,  # row 0 has no previous token: -1
        ),
        Task(
            "reverse",
            "Output the sequence backwards: position i outputs the letter at position n − 1 − i.",
            "the anti-diagonal",
            "its mirror position n − 1 − i",
            False,
            lambda t: t.shape[-1] - 1 - _positions(t),
        ),
        Task(
            "first-token",
            "Output the first letter of the sequence at every position (causal).",
            "the first column",
            "the first position",
            True,
            lambda t: np.zeros_like(_positions(t)),
        ),
        Task(
            "largest",
            "Output the latest letter in the alphabet that the sequence contains, at every position.",
            "one column per sequence: wherever the largest letter sits",
            "the position of the largest letter",
            False,
            _largest,
        ),
        Task(
            "copy",
            "Output each letter unchanged: the easiest task, a warm-up.",
            "the diagonal",
            "itself",
            False,
            _positions,
        ),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise TrainingError(f"Unknown task {name!r}; choose one of: {', '.join(TASKS)}.")
    return TASKS[name]


def check_length(length: int) -> int:
    lo, hi = LENGTH_RANGE
    if not isinstance(length, int | np.integer) or not lo <= length <= hi:
        raise TrainingError(f"The sequence length must be a whole number from {lo} to {hi}, not {length!r}.")
    return int(length)


def labels(tokens: np.ndarray) -> list[str]:
    """Axis labels for a letter sequence: position:letter ("0:g", "1:d", …), unique and readable."""
    return [f"{i}:{VOCAB[t]}" for i, t in enumerate(tokens)]


def probe(task: Task, length: int, seed: int) -> np.ndarray:
    """The fixed sequence the pages and the CLI show W on: the task's first draw with this seed.  -> [n]"""
    return task.sample(np.random.default_rng(seed), 1, length)[0][0]


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    task: str = "previous-token"
    length: int = 8
    d_head: int = 16
    lr: float = 0.05
    steps: int = 400
    seed: int = 0
    batch: int = BATCH

    def __post_init__(self):
        get_task(self.task)
        check_length(self.length)
        lo, hi = D_HEAD_RANGE
        if not isinstance(self.d_head, int | np.integer) or not lo <= self.d_head <= hi:
            raise TrainingError(f"d_head must be a whole number from {lo} to {hi}, not {self.d_head!r}.")
        lr_lo, lr_hi = LR_RANGE
        if not (isinstance(self.lr, int | float) and np.isfinite(self.lr) and lr_lo <= self.lr <= lr_hi):
            raise TrainingError(f"The learning rate must be a number from {lr_lo:g} to {lr_hi:g}, not {self.lr!r}.")
        if not isinstance(self.steps, int | np.integer) or not 1 <= self.steps <= MAX_STEPS:
            raise TrainingError(f"Steps must be a whole number from 1 to {MAX_STEPS}, not {self.steps!r}.")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise TrainingError(f"The seed must be a whole number ≥ 0, not {self.seed!r}.")
        if not isinstance(self.batch, int | np.integer) or not 1 <= self.batch <= 1024:
            raise TrainingError(f"The batch must be a whole number from 1 to 1024, not {self.batch!r}.")

    @property
    def causal(self) -> bool:
        return get_task(self.task).causal

    @property
    def d(self) -> int:
        return len(VOCAB) + self.length


def feature_names(length: int) -> tuple[str, ...]:
    """The names of the d = vocabulary + length input features: a … z, then pos 0 … pos n-1."""
    return (*VOCAB, *(f"pos {i}" for i in range(length)))


def one_hot(tokens: np.ndarray) -> np.ndarray:
    """tokens [..., n] int -> X [..., n, vocabulary + n]: one-hot letter, then one-hot position."""
    tokens = np.asarray(tokens)
    n = tokens.shape[-1]
    x = np.zeros((*tokens.shape, len(VOCAB) + n))
    np.put_along_axis(x, tokens[..., None], 1.0, axis=-1)
    x[..., np.arange(n), len(VOCAB) + np.arange(n)] = 1.0
    return x


def init_params(d: int, d_head: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """W_q, W_k, W_v [d, h] and W_out [h, vocab], entries ~ N(0, 1/fan_in), float64."""
    return {
        "W_q": rng.normal(0.0, 1.0 / np.sqrt(d), (d, d_head)),
        "W_k": rng.normal(0.0, 1.0 / np.sqrt(d), (d, d_head)),
        "W_v": rng.normal(0.0, 1.0 / np.sqrt(d), (d, d_head)),
        "W_out": rng.normal(0.0, 1.0 / np.sqrt(d_head), (d_head, len(VOCAB))),
    }


@dataclass(frozen=True)
class AttentionCache:
    """One attention layer's forward, every intermediate named (what backward walks back)."""

    x: np.ndarray  # [B, n, d] input
    q: np.ndarray  # [B, n, h] X W_q
    k: np.ndarray  # [B, n, h] X W_k
    v: np.ndarray  # [B, n, h] X W_v
    scores: np.ndarray  # [B, n, n] Q Kᵀ / √h, before the mask
    weights: np.ndarray  # [B, n, n] softmax by rows (0 where masked): the W a page shows
    output: np.ndarray  # [B, n, h] A V


def attention_forward(
    x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray, mask: np.ndarray | None = None
) -> AttentionCache:
    """x [B, n, d], w_* [d, h], mask [n, n] bool (True = may attend) -> AttentionCache"""
    q, k, v = x @ w_q, x @ w_k, x @ w_v  # [B, n, h] each
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # [B, n, n]
    logits = scores if mask is None else np.where(mask, scores, -np.inf)
    weights = softmax(logits, axis=-1)  # [B, n, n]
    return AttentionCache(x=x, q=q, k=k, v=v, scores=scores, weights=weights, output=weights @ v)


def attention_backward(
    c: AttentionCache,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    d_output: np.ndarray,
    *,
    input_grad: bool = False,
) -> dict[str, np.ndarray]:
    """The gradients of one attention layer, given dLoss/dOutput [B, n, h].

    -> {"W_q": [d, h], "W_k": [d, h], "W_v": [d, h]}, and "x": [B, n, d] if input_grad (for a model
    with layers below this one; here the input is fixed one-hot vectors, so it is not needed)
    """
    a = c.weights
    d_a = d_output @ c.v.swapaxes(-1, -2)  # [B, n, n]   dL/dA = dZ Vᵀ
    d_v = a.swapaxes(-1, -2) @ d_output  # [B, n, h]   dL/dV = Aᵀ dZ
    # softmax by rows: dS_ij = A_ij (dA_ij − Σ_k A_ik dA_ik); masked entries have A = 0, so dS = 0 there
    d_s = a * (d_a - np.sum(a * d_a, axis=-1, keepdims=True))  # [B, n, n]
    d_s = d_s / np.sqrt(c.q.shape[-1])  # through the 1/√h scale
    d_q = d_s @ c.k  # [B, n, h]   dL/dQ = dS K
    d_k = d_s.swapaxes(-1, -2) @ c.q  # [B, n, h]   dL/dK = dSᵀ Q
    d = c.x.shape[-1]
    x2 = c.x.reshape(-1, d)  # [B·n, d]: the batch's positions as rows, so each weight gradient is one matmul
    grads = {
        "W_q": x2.T @ d_q.reshape(len(x2), -1),  # [d, h]
        "W_k": x2.T @ d_k.reshape(len(x2), -1),  # [d, h]
        "W_v": x2.T @ d_v.reshape(len(x2), -1),  # [d, h]
    }
    if input_grad:
        grads["x"] = d_q @ w_q.T + d_k @ w_k.T + d_v @ w_v.T  # [B, n, d]
    return grads


@dataclass(frozen=True)
class Forward:
    """The whole model's forward on one batch."""

    attention: AttentionCache
    logits: np.ndarray  # [B, n, vocab] Z W_out
    probs: np.ndarray  # [B, n, vocab] softmax of the logits
    targets: np.ndarray  # [B, n] int, -1 where a position has no target
    loss: float  # mean cross-entropy over the positions with a target


def forward(params: dict[str, np.ndarray], tokens: np.ndarray, targets: np.ndarray, *, causal: bool) -> Forward:
    """tokens, targets [B, n] int -> Forward"""
    x = one_hot(tokens)  # [B, n, d]
    mask = causal_mask(tokens.shape[-1]) if causal else None
    att = attention_forward(x, params["W_q"], params["W_k"], params["W_v"], mask)
    logits = att.output @ params["W_out"]  # [B, n, vocab]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # [B, n, vocab] log-softmax
    has = targets >= 0  # [B, n]
    if not has.any():
        raise TrainingError("No position in the batch has a target.")
    picked = np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], axis=-1)[..., 0]  # [B, n]
    loss = max(0.0, -float(picked[has].mean()))  # ≥ 0 by construction; max() keeps "-0.0" off the page
    return Forward(attention=att, logits=logits, probs=np.exp(log_probs), targets=targets, loss=loss)


def backward(params: dict[str, np.ndarray], f: Forward) -> dict[str, np.ndarray]:
    """The gradient of f.loss with respect to every parameter, by hand.  -> {name: same shape as params[name]}"""
    has = f.targets >= 0  # [B, n]
    d_logits = f.probs.copy()  # [B, n, vocab]  softmax + cross-entropy: dL/dlogits = (p − onehot(target)) / N
    b, n = np.nonzero(has)
    d_logits[b, n, f.targets[b, n]] -= 1.0
    d_logits *= has[..., None] / has.sum()
    z = f.attention.output  # [B, n, h]
    h = z.shape[-1]
    g_out = z.reshape(-1, h).T @ d_logits.reshape(-1, d_logits.shape[-1])  # [h, vocab]  dL/dW_out = Zᵀ dlogits
    d_z = d_logits @ params["W_out"].T  # [B, n, h]
    g = attention_backward(f.attention, params["W_q"], params["W_k"], params["W_v"], d_z)
    return {"W_q": g["W_q"], "W_k": g["W_k"], "W_v": g["W_v"], "W_out": g_out}


# --- the optimiser ---------------------------------------------------------------------------


@dataclass
class Adam:
    """Adam (Kingma & Ba), in the order of operations torch.optim.Adam uses, so the two agree."""

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update params in place."""
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for name, g in grads.items():
            m = self.m.setdefault(name, np.zeros_like(g))
            v = self.v.setdefault(name, np.zeros_like(g))
            m += (1.0 - self.beta1) * (g - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
            v *= self.beta2
            v += (1.0 - self.beta2) * (g * g)  # torch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
            denom = np.sqrt(v) / np.sqrt(c2) + self.eps
            params[name] -= (m / denom) * (self.lr / c1)  # torch: param.addcdiv_(exp_avg, denom, -lr / c1)


# --- a training run, in chunks ---------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """What the pages show at one step: W on the probe and the learned bilinear form."""

    step: int  # updates done so far (0 = the initial weights)
    weights: np.ndarray  # [n, n] W on the probe sequence
    qk: np.ndarray  # [d, d] W_q W_kᵀ / √h: the score between any two input features
    loss: float  # the training loss at this step (nan at step 0 before any batch)


class Trainer:
    """One run: the parameters, Adam's state, the batch generator and what was recorded so far.

    `run(k)` does at most k more steps and returns; call it again to go on (a page trains in
    chunks, so a press never holds the server for long). Every step's loss is kept; a checkpoint
    at each step of `checkpoint_steps` (for the scrubber and the animation).
    """

    def __init__(self, config: Config):
        self.config = config
        self.task = get_task(config.task)
        self.rng = np.random.default_rng(config.seed)
        self.params = init_params(config.d, config.d_head, self.rng)
        self.adam = Adam(config.lr)
        self.mask = causal_mask(config.length) if self.task.causal else None
        self.probe = probe(self.task, config.length, config.seed)  # [n]
        self.losses: list[float] = []
        self.schedule = checkpoint_steps(config.steps)
        self.checkpoints: list[Checkpoint] = [self._checkpoint()]

    @property
    def step(self) -> int:
        return len(self.losses)

    @property
    def done(self) -> bool:
        return self.step >= self.config.steps

    def run(self, k: int) -> None:
        """Up to k more steps; raises TrainingError (with what to change) if the run diverges."""
        for _ in range(min(k, self.config.steps - self.step)):
            tokens, targets = self.task.sample(self.rng, self.config.batch, self.config.length)
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below, in words
                    f = forward(self.params, tokens, targets, causal=self.task.causal)
            except TrainingError:
                raise
            except AttentionError as e:  # the softmax met NaN or infinite scores
                raise TrainingError(diverged_message(self.config, self.step)) from e
            if not np.isfinite(f.loss):
                raise TrainingError(diverged_message(self.config, self.step))
            self.losses.append(f.loss)
            self.adam.step(self.params, backward(self.params, f))
            if not all(np.all(np.isfinite(p)) for p in self.params.values()):
                raise TrainingError(diverged_message(self.config, self.step))
            if self.step in self.schedule:
                self.checkpoints.append(self._checkpoint())

    def until_checkpoint(self) -> int:
        """Steps from here to the next checkpoint (0 when done)."""
        return next((s for s in self.schedule if s > self.step), self.step) - self.step

    def attention(self, tokens: np.ndarray | None = None) -> np.ndarray:
        """W of the current parameters on a sequence (the probe by default).  tokens [n] -> [n, n]"""
        tokens = self.probe if tokens is None else np.asarray(tokens)
        p = self.params
        return attention_forward(one_hot(tokens), p["W_q"], p["W_k"], p["W_v"], self.mask).weights

    def _checkpoint(self) -> Checkpoint:
        p = self.params
        return Checkpoint(
            step=self.step,
            weights=self.attention(),
            qk=p["W_q"] @ p["W_k"].T / np.sqrt(self.config.d_head),
            loss=self.losses[-1] if self.losses else float("nan"),
        )


def checkpoint_steps(steps: int, *, early: int = 20, later: int = 20) -> tuple[int, ...]:
    """When to record W: every step of the first `early` (where the pattern appears, at the default
    learning rate), then `later` evenly spaced ones to the end; always 0 and the last step."""
    even = np.linspace(0, steps, later + 1).round().astype(int)
    return tuple(sorted({*range(min(early, steps) + 1), *even.tolist()}))


def diverged_message(config: Config, step: int) -> str:
    return (
        f"Training diverged at step {step + 1}: the numbers became too large to represent (NaN or infinite). "
        f"The learning rate {config.lr:g} is too large; reset and try {Config().lr:g}."
    )


def train(config: Config) -> Trainer:
    """The whole run at once (the CLI, tests and benchmarks)."""
    trainer = Trainer(config)
    trainer.run(config.steps)
    return trainer


@dataclass(frozen=True)
class Outcome:
    """How well W on the probe follows the task's pattern."""

    share: float  # mean weight a row puts on the position it should attend to
    rows: int  # rows that have such a position and a choice (a causal row 0 can only attend to itself)
    hits: int  # rows whose largest weight is on it

    @property
    def follows(self) -> bool:
        """W shows the pattern: at least 90% of the rows put their largest weight there."""
        return self.hits >= 0.9 * self.rows


def outcome(task: Task, tokens: np.ndarray, weights: np.ndarray) -> Outcome:
    """tokens [n], weights [n, n] -> Outcome"""
    keys = task.keys(np.asarray(tokens))
    rows = np.flatnonzero(keys >= 0)
    if task.causal:
        rows = rows[rows > 0]  # row 0 has one key it may see: no evidence either way
    on_key = weights[rows, keys[rows]]
    hits = int(np.sum(np.argmax(weights[rows], axis=1) == keys[rows]))
    return Outcome(share=float(on_key.mean()), rows=len(rows), hits=hits)


def describe(trainer: Trainer) -> str:
    """One plain sentence on what was learned, from W on the probe."""
    task, w = trainer.task, trainer.checkpoints[-1].weights
    o = outcome(task, trainer.probe, w)
    first, last = trainer.losses[0], trainer.losses[-1]
    went = "fell" if last < first else "went"
    loss = (
        f"the loss on the first batch was {loss_text(first)}"  # each loss is taken before its step's update
        if len(trainer.losses) == 1
        else f"the loss {went} from {loss_text(first)} to {loss_text(last)}"
    )
    return (
        f"Each position now puts on average {o.share:.0%} of its weight on {task.phrase} "
        f"({o.hits} of {o.rows} rows put the most weight there); {loss}."
    )


def loss_text(loss: float) -> str:
    """2.79, or 3.1e-06 for a loss that two decimals would show as a misleading 0.00."""
    return f"{loss:.2f}" if loss >= 0.01 else f"{loss:.1e}"


def warning(trainer: Trainer) -> str | None:
    """A plain warning when the run went badly (loss blew up, barely fell, or fell without the
    pattern), else None."""
    losses = np.asarray(trainer.losses)
    if losses.size == 0:
        return None
    first, peak, last = losses[0], losses.max(), losses[-1]
    lr, default = trainer.config.lr, Config().lr
    if peak > 3 * first:
        step = int(np.argmax(losses)) + 1
        return (
            f"The loss jumped to {peak:.1f} at step {step}, {peak / first:.0f} times its starting value: the "
            f"learning rate {lr:g} is too large, so each step overshoots the valley it is aiming for. "
            f"Reset to {default:g} and train again."
        )
    if not trainer.done:
        return None
    if last > 0.5 * first:
        hint = "a larger learning rate or more steps" if lr < default else "more steps or a larger d_head"
        return f"The loss only went from {first:.2f} to {last:.2f}: try {hint}."
    o = outcome(trainer.task, trainer.probe, trainer.checkpoints[-1].weights)
    if not o.follows:
        return (
            f"The loss fell from {loss_text(first)} to {loss_text(last)}, but W does not show {trainer.task.pattern}: "
            f"only {o.hits} of {o.rows} rows put the most weight there. The layer found another way: it spreads its "
            "attention and the readout decodes the average. Try another seed."
        )
    return None


@dataclass(frozen=True)
class Preset:
    """A ready demo, as TensorFlow Playground has them: settings and a sentence on what to watch."""

    label: str
    config: Config
    commentary: str


PRESETS: dict[str, Preset] = {
    "previous": Preset(
        "Previous token",
        Config(task="previous-token"),
        "Watch the sub-diagonal appear: each position learns to look one place back, using nothing but the "
        "position features (half of the “induction heads” that let language models copy).",
    ),
    "reverse": Preset(
        "Reverse",
        Config(task="reverse"),
        "Watch the anti-diagonal appear: position i learns to look at position n − 1 − i.",
    ),
    "first": Preset(
        "First token",
        Config(task="first-token"),
        "Watch the first column light up: every position learns to look back at the start.",
    ),
    "largest": Preset(
        "Largest letter",
        Config(task="largest"),
        "Content, not position: every row learns to find the latest letter in the alphabet wherever it sits, "
        "so the bright column moves with the letters (compare W_q W_kᵀ with the other presets).",
    ),
    "too-fast": Preset(
        "Learning rate too large",
        Config(task="previous-token", lr=3.0),
        "The first preset with a learning rate 60 times larger: watch the loss jump up instead of falling.",
    ),
}
