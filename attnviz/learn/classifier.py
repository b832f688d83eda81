"""A tiny attention classifier for the 8 × 8 digits, trained in NumPy with hand-written gradients.

One image is cut into k = 16 patches of 2 × 2 pixels (`vision.patches`), and then:

    E      = X W_e + b_e + P_pos                 [B, k, D]   patch embedding + position embedding
    Z      = softmax(E W_q (E W_k)ᵀ / √D) E W_v  [B, k, D]   one attention layer (`training.attention_forward`)
    H      = E + Z                               [B, k, D]   the residual
    logits = flatten(H) W_out + b_out            [B, 10]     the readout sees every patch in its place
    loss   = mean cross-entropy

The backward walks these in reverse (the attention part is `training.attention_backward(...,
input_grad=True)`), and `training.Adam` updates the parameters. A seed decides the initial weights and
the order of the training images in every epoch. Trained on the training part of
`vision.split()`; `Trainer.run(k)` does at most k steps, so a page trains in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.learn import training, vision

CLASSES = 10
PARAMS = ("W_e", "b_e", "pos", "W_q", "W_k", "W_v", "W_out", "b_out")


class ClassifierError(training.TrainingError):
    """Settings the classifier cannot take; the message says what to change."""


@dataclass(frozen=True)
class Config:
    seed: int = 0
    patch: int = 2
    dim: int = 16  # D: the embedding, query, key and value size
    epochs: int = 20
    batch: int = 32
    lr: float = 0.005  # 0.01 learns as fast but its worst of 60 seeds reads 0.924 of the test digits, this 0.949

    def __post_init__(self):
        vision.check_patch(self.patch)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ClassifierError(f"The seed must be a whole number ≥ 0, not {self.seed!r}.")
        for name, value, lo, hi in (("dim", self.dim, 1, 128), ("epochs", self.epochs, 1, 500),
                                    ("batch", self.batch, 1, 2048)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
                raise ClassifierError(f"{name} must be a whole number from {lo} to {hi}, not {value!r}.")
        if not (isinstance(self.lr, int | float) and np.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ClassifierError(f"The learning rate must be a number in (0, 1], not {self.lr!r}.")

    @property
    def k(self) -> int:
        return vision.grid(self.patch) ** 2


def init_params(config: Config, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Entries ~ N(0, 1/fan_in) for the matrices, small position embeddings, zero biases; float64.

    -> W_e [P², D], b_e [D], pos [k, D], W_q, W_k, W_v [D, D], W_out [k·D, 10], b_out [10]
    """
    m, k, d = config.patch**2, config.k, config.dim
    normal = lambda fan_in, shape: rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)  # noqa: E731
    return {
        "W_e": normal(m, (m, d)),
        "b_e": np.zeros(d),
        "pos": normal(d, (k, d)),
        "W_q": normal(d, (d, d)),
        "W_k": normal(d, (d, d)),
        "W_v": normal(d, (d, d)),
        "W_out": normal(k * d, (k * d, CLASSES)),
        "b_out": np.zeros(CLASSES),
    }


@dataclass(frozen=True)
class Forward:
    """The classifier's forward on one batch, every intermediate named."""

    x: np.ndarray  # [B, k, P²] patch vectors
    e: np.ndarray  # [B, k, D] X W_e + b_e + pos
    attention: training.AttentionCache  # its weights [B, k, k] are the W a page paints
    h: np.ndarray  # [B, k, D] E + Z
    logits: np.ndarray  # [B, 10]
    probs: np.ndarray  # [B, 10]


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> Forward:
    """x: [B, k, P²] patch vectors -> Forward"""
    e = x @ params["W_e"] + params["b_e"] + params["pos"]  # [B, k, D]
    att = training.attention_forward(e, params["W_q"], params["W_k"], params["W_v"])
    h = e + att.output  # [B, k, D]
    logits = h.reshape(len(h), -1) @ params["W_out"] + params["b_out"]  # [B, 10]
    shifted = logits - logits.max(axis=1, keepdims=True)
    e_s = np.exp(shifted)
    probs = e_s / e_s.sum(axis=1, keepdims=True)  # [B, 10]
    return Forward(x=x, e=e, attention=att, h=h, logits=logits, probs=probs)


def loss(f: Forward, labels: np.ndarray) -> float:
    """Mean cross-entropy of the batch.  labels: [B] int"""
    shifted = f.logits - f.logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # [B, 10]
    return max(0.0, -float(log_probs[np.arange(len(labels)), labels].mean()))


def backward(params: dict[str, np.ndarray], f: Forward, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of the mean cross-entropy with respect to every parameter, by hand.

    labels: [B] int -> {name: same shape as params[name]}
    """
    b, k, d = f.h.shape
    d_logits = f.probs.copy()  # [B, 10]   softmax + cross-entropy: (p − onehot(label)) / B
    d_logits[np.arange(b), labels] -= 1.0
    d_logits /= b
    g_out = f.h.reshape(b, -1).T @ d_logits  # [k·D, 10]
    g_bout = d_logits.sum(axis=0)  # [10]
    d_h = (d_logits @ params["W_out"].T).reshape(b, k, d)  # [B, k, D]
    g = training.attention_backward(f.attention, params["W_q"], params["W_k"], params["W_v"], d_h, input_grad=True)
    d_e = d_h + g["x"]  # [B, k, D]   the residual: E reaches H directly and through the attention
    m = f.x.shape[-1]
    return {
        "W_e": f.x.reshape(-1, m).T @ d_e.reshape(-1, d),  # [P², D]
        "b_e": d_e.sum(axis=(0, 1)),  # [D]
        "pos": d_e.sum(axis=0),  # [k, D]
        "W_q": g["W_q"],
        "W_k": g["W_k"],
        "W_v": g["W_v"],
        "W_out": g_out,
        "b_out": g_bout,
    }


class Trainer:
    """One run: parameters, Adam's state, the epoch order and the loss of every step so far.

    `run(k)` does at most k more steps (minibatches) and returns; call it again to go on.
    """

    def __init__(self, config: Config):
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.params = init_params(config, self.rng)
        self.adam = training.Adam(config.lr)
        data = vision.digits()
        train, self.test_indices = vision.split()
        self.x_train = vision.patches(data.images[train], config.patch)  # [N, k, P²]
        self.y_train = data.targets[train]
        self.per_epoch = -(-len(train) // config.batch)  # minibatches per epoch (the last one smaller)
        self.steps = config.epochs * self.per_epoch
        self.losses: list[float] = []
        self._order = np.arange(0)

    @property
    def step(self) -> int:
        return len(self.losses)

    @property
    def epoch(self) -> int:
        """Whole epochs done."""
        return self.step // self.per_epoch

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    def run(self, k: int) -> None:
        """Up to k more steps."""
        batch = self.config.batch
        for _ in range(min(k, self.steps - self.step)):
            i = self.step % self.per_epoch
            if i == 0:  # a new epoch: a new order of the training images
                self._order = self.rng.permutation(len(self.y_train))
            rows = self._order[i * batch : (i + 1) * batch]
            f = forward(self.params, self.x_train[rows])
            labels = self.y_train[rows]
            self.losses.append(loss(f, labels))
            self.adam.step(self.params, backward(self.params, f, labels))

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images [N, 8, 8] -> (predicted digits [N] int, attention W [N, k, k])"""
        f = forward(self.params, vision.patches(images, self.config.patch))
        return np.argmax(f.logits, axis=1), f.attention.weights


@dataclass(frozen=True)
class Result:
    """A finished run on the test set."""

    test_indices: np.ndarray  # [450] in the order train_test_split returns them
    predictions: np.ndarray  # [450] int
    targets: np.ndarray  # [450] int
    weights: np.ndarray  # [450, k, k] the layer's attention on each test digit
    losses: tuple[float, ...]  # one per step

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.targets))

    def confusion(self) -> np.ndarray:
        """[10, 10] int: row = the true digit, column = the predicted one."""
        return confusion(self.targets, self.predictions)


def confusion(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """targets, predictions [N] int -> [10, 10] counts, row = true, column = predicted"""
    counts = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(counts, (targets, predictions), 1)
    return counts


def evaluate(trainer: Trainer) -> Result:
    """The trained (or partly trained) model on the test set."""
    data = vision.digits()
    test = trainer.test_indices
    predictions, weights = trainer.predict(data.images[test])
    return Result(
        test_indices=test,
        predictions=predictions,
        targets=data.targets[test],
        weights=weights,
        losses=tuple(trainer.losses),
    )


def train(config: Config) -> Result:
    """The whole run at once (the CLI, tests and benchmarks)."""
    trainer = Trainer(config)
    trainer.run(trainer.steps)
    return evaluate(trainer)
