"""Induction heads, born live: the repeated-segment task, the measures of a head, and a training run in chunks.

The task (Olsson et al. 2022, "In-context Learning and Induction Heads"): a sequence of random
tokens in which one segment appears twice. Once the model has read the first copy, every token of the
second copy after its first is predictable: it is the token that followed the current token the
first time. A model that predicts them has learned to copy in context, and the mechanism is the
induction head, a layer-1 head that attends from position t to t − offset + 1 (the token after the
earlier occurrence of the current token), helped by a layer-0 head that attends to t − 1 (the
previous token). One layer cannot find t − offset + 1 by content: its keys only know their own token.
Smeared keys (`transformer.smear`) give a single layer that knowledge.

`Trainer` trains one model on this task in chunks (`run(k)` does k steps and returns, so a page never
holds the server for long), and records at each checkpoint the loss on the repeated positions, every
head's induction and previous-token score on a fixed evaluation batch, and every head's pattern on a
fixed probe sequence (for replay). `phase_change` finds the window in which the model began to copy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from attnviz.learn import transformer
from attnviz.learn.training import Adam

VOCAB = 64  # V: tokens 0 … 63
LENGTH = 48  # n: tokens in a sequence
SEGMENT = (6, 12)  # the repeated segment's length, drawn uniformly from this range (inclusive)
EVAL_SEED = 2022  # the fixed batch every run is measured on, so curves of different runs compare
EVAL_BATCH = 64
MAX_STEPS = 100_000
CHUNK = 20  # steps one press trains a model (≈ 0.25 s of one core for the 2-layer model; see benchmarks/)
LOW, HIGH = 0.2, 0.5  # the induction score a phase change goes from (below) and to (at least)
PREVIOUS_TOKEN_HEAD = 0.3  # a layer-0 head at least this much on t − 1 is a previous-token head


class InductionError(transformer.TransformerError):
    """Settings the run cannot take, or a run that diverged; the message says what to change."""


def chance(vocab: int = VOCAB) -> float:
    """The loss of a model that knows nothing: ln V nats (every token equally likely)."""
    return math.log(vocab)


# --- the task --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Sequences in which a segment of `size` tokens at `start` appears again at `repeat`."""

    tokens: np.ndarray  # [B, n] int
    start: np.ndarray  # [B] int  a: where the first copy begins
    repeat: np.ndarray  # [B] int  b: where the second copy begins (b ≥ a + size: the copies do not overlap)
    size: np.ndarray  # [B] int  the segment's length

    @property
    def offset(self) -> np.ndarray:
        """b − a [B]: how far back the earlier copy is."""
        return self.repeat - self.start

    @property
    def repeated(self) -> np.ndarray:
        """[B, n] bool: the positions t whose next token is predictable, b ≤ t ≤ b + size − 2.

        At such a t the current token is in the second copy and so is the next one, t + 1: the
        token that followed the current token's earlier occurrence, at t − offset + 1.
        """
        t = np.arange(self.tokens.shape[1])
        return (t >= self.repeat[:, None]) & (t <= (self.repeat + self.size - 2)[:, None])

    @property
    def targets(self) -> np.ndarray:
        """[B, n] int: at each repeated position the next token (what the model must predict), −1 elsewhere."""
        following = np.roll(self.tokens, -1, axis=1)  # [B, n]  token t + 1 at t (the wrapped last column is unused)
        return np.where(self.repeated, following, -1)


def _batch(tokens: np.ndarray, start: np.ndarray, repeat: np.ndarray, size: np.ndarray) -> Batch:
    """Write the first copy over the second copy's place.  tokens [B, n] -> Batch"""
    t = np.arange(tokens.shape[1])
    second = (t >= repeat[:, None]) & (t < (repeat + size)[:, None])  # [B, n]
    source = np.where(second, t - (repeat - start)[:, None], t)  # [B, n]  where each token is copied from
    return Batch(np.take_along_axis(tokens, source, axis=1), start, repeat, size)


def _places(rng: np.random.Generator, size: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the two copies go, uniformly over every way to place them without overlap.  -> (start, repeat) [B]

    The free room, length − 2·size tokens, is split into before / between / after by choosing two
    distinct places among room + 2 (stars and bars), so every split is equally likely.
    """
    room = length - 2 * size  # [B]
    x = rng.integers(0, room + 2)  # [B]
    y = rng.integers(0, room + 1)
    y = y + (y >= x)  # distinct from x
    first, second = np.minimum(x, y), np.maximum(x, y)
    start = first
    return start, start + size + (second - first - 1)


def sample(rng: np.random.Generator, batch: int, *, length: int = LENGTH, vocab: int = VOCAB) -> Batch:
    """`batch` training sequences: uniform random tokens, one segment of random length (SEGMENT) at a random
    place repeated later at a random offset. Random offsets matter: with a fixed one, a single layer
    could learn "attend to t − offset + 1" from the positions alone, without copying in context."""
    tokens = rng.integers(0, vocab, (batch, length))
    size = rng.integers(SEGMENT[0], SEGMENT[1] + 1, batch)
    start, repeat = _places(rng, size, length)
    return _batch(tokens, start, repeat, size)


def probe(seed: int, *, length: int = LENGTH, vocab: int = VOCAB) -> Batch:
    """The fixed sequence a page draws every head's attention on: a segment of the longest length
    repeated, and no other token twice, so where an induction head should look is unambiguous.  -> Batch of 1"""
    check_seed(seed, "The probe seed")
    rng = np.random.default_rng(seed)
    size = np.array([SEGMENT[1]])
    start, repeat = _places(rng, size, length)
    distinct = rng.permutation(vocab)[: length - SEGMENT[1]]  # the tokens of every place but the second copy
    tokens = np.zeros((1, length), dtype=np.int64)
    t = np.arange(length)
    tokens[0, (t < repeat[0]) | (t >= repeat[0] + size[0])] = distinct
    return _batch(tokens, start, repeat, size)


# --- the measures ----------------------------------------------------------------------------


def repeat_loss(log_probs: np.ndarray, batch: Batch) -> float:
    """The loss on the repeated positions: the mean over them of −ln p(the true next token), in nats.

    log_probs [B, n, V] -> float. ln V (`chance`) for a model that knows nothing; 0 for one that
    copies perfectly. Only these positions count: everywhere else the next token is random.
    """
    targets = batch.targets
    has = targets >= 0
    picked = np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], axis=-1)[..., 0]  # [B, n]
    return -float(picked[has].mean())


def induction_score(weights: np.ndarray, batch: Batch) -> np.ndarray:
    """How much a head attends like an induction head: over the repeated positions t, the mean weight
    it puts on t − offset + 1, the token that followed the earlier occurrence of the current token.

    weights [B, H, n, n] (one layer's heads) -> [H], each in [0, 1]; about 1 / (t + 1) for a head that
    spreads its attention evenly, 1 for a perfect induction head.
    """
    b, t = np.nonzero(batch.repeated)
    key = t - batch.offset[b] + 1
    return weights[b, :, t, key].mean(axis=0)  # [H]


def previous_token_score(weights: np.ndarray) -> np.ndarray:
    """How much a head attends to the previous token: the mean weight from position t on t − 1, over
    every position t ≥ 1 of every sequence.  weights [B, H, n, n] -> [H], 1 for a perfect one."""
    n = weights.shape[-1]
    t = np.arange(1, n)
    return weights[..., t, t - 1].mean(axis=(0, 2))  # [H]


def predict(params: dict[str, np.ndarray], config: transformer.Config, tokens: np.ndarray) -> np.ndarray:
    """Greedy next-token prediction: at every position the most likely next token.  tokens [n] -> [n] int"""
    f = transformer.forward(params, config, np.asarray(tokens)[None])
    return np.argmax(f.logits[0], axis=-1)


def copy_accuracy(predicted: np.ndarray, probe: Batch) -> float:
    """The share of the second copy's next tokens (at the repeated positions) that `predicted` [n] gets right."""
    rows = probe.repeated[0]
    return float(np.mean(predicted[rows] == probe.targets[0][rows]))


# --- a training run, in chunks ---------------------------------------------------------------


def check_seed(seed, what: str = "The seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InductionError(f"{what} must be a whole number ≥ 0, not {seed!r}.")
    return int(seed)


@dataclass(frozen=True)
class Settings:
    """One run: the model's shape and how it is trained.

    The defaults are the page's: the sizes of the issue's feasibility run (d 64, 4 heads of 16, batch 32),
    Adam at 2e-3 on the repeated positions' loss (1e-3 … 4e-3 all learn; at 1e-3 the phase change
    comes ~400 steps later and its window's loss drop is smaller), 3,000 steps (the 2-layer model's
    cliff is at steps ~500–700; by 2,000 it still missed 3 of 11 tokens on 1 probe in 1,000, by 3,000
    at most 1). Measured for seeds 0 … 9 and 100 … 104 in benchmarks/targets_induction.py.
    """

    layers: int = 2
    heads: int = 4
    smeared_keys: bool = False
    d_model: int = 64
    d_head: int = 16
    init_scale: float = 1.0
    lr: float = 2e-3
    warmup: int = 0  # steps over which the learning rate rises linearly to lr
    batch: int = 32
    steps: int = 3000
    every: int = 50  # a checkpoint every this many steps
    seed: int = 0  # the initial weights and every batch
    probe_seed: int = 0

    def __post_init__(self):
        try:
            self.model  # noqa: B018  (validates the shape)
        except transformer.TransformerError as e:
            raise InductionError(str(e)) from None
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not (0 < self.lr <= 1):
            raise InductionError(f"The learning rate must be a number in (0, 1], not {self.lr!r}.")
        for name, lo, hi in (
            ("warmup", 0, MAX_STEPS),
            ("batch", 1, 1024),
            ("steps", 1, MAX_STEPS),
            ("every", 1, MAX_STEPS),
        ):
            transformer.whole(name, getattr(self, name), lo, hi, InductionError)
        check_seed(self.seed)
        check_seed(self.probe_seed, "The probe seed")

    @property
    def model(self) -> transformer.Config:
        return transformer.Config(VOCAB, LENGTH, self.layers, self.heads, self.d_model, self.d_head,
                                  self.smeared_keys, self.init_scale)  # fmt: skip


def learning_rate(settings: Settings, step: int) -> float:
    """The learning rate of update number step + 1: rising linearly over the warm-up, then constant."""
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    return settings.lr


@dataclass(frozen=True)
class Checkpoint:
    """What the page shows at one step."""

    step: int  # updates done so far (0 = the initial weights)
    loss: float  # the repeated-position loss on the evaluation batch
    induction: np.ndarray  # [L, H] every head's induction score on the evaluation batch
    previous: np.ndarray  # [L, H] every head's previous-token score on the evaluation batch
    weights: np.ndarray  # [L, H, n, n] every head's pattern on the probe
    predicted: np.ndarray  # [n] the greedy next token at every probe position

    @property
    def best_induction(self) -> float:
        """The best last-layer head's induction score (the head that would copy into the unembedding)."""
        return float(self.induction[-1].max())


class Trainer:
    """One run: the parameters, Adam's state, the batch generator and the checkpoints so far.

    `run(k)` does at most k more steps and returns; call it again to go on. The training loss of every
    step is kept (`losses`); a `Checkpoint` every `settings.every` steps and at the last.
    """

    def __init__(self, settings: Settings, *, dtype=np.float32):
        self.settings = settings
        self.config = settings.model
        self.rng = np.random.default_rng(settings.seed)
        self.params = transformer.init_params(self.config, self.rng, dtype=dtype)
        self.adam = Adam(settings.lr)
        self.eval = sample(np.random.default_rng(EVAL_SEED), EVAL_BATCH)
        self.probe = probe(settings.probe_seed)
        self.losses: list[float] = []
        self.seconds = 0.0  # wall time spent in run() so far
        self.checkpoints: list[Checkpoint] = [self._checkpoint()]

    @property
    def step(self) -> int:
        return len(self.losses)

    @property
    def done(self) -> bool:
        return self.step >= self.settings.steps

    def run(self, k: int, *, seconds: float | None = None) -> None:
        """Up to k more steps, and none begun after `seconds` of wall time (a page's bound on one press:
        the run is the same however it is cut). Raises InductionError (with what to change) if it diverges."""
        began = time.perf_counter()
        try:
            for _ in range(min(k, self.settings.steps - self.step)):
                if seconds is not None and time.perf_counter() - began >= seconds:
                    return
                self._step()
        finally:
            self.seconds += time.perf_counter() - began

    def _step(self) -> None:
        """One update on a fresh batch, and a checkpoint when one is due."""
        batch = sample(self.rng, self.settings.batch)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below, in words
            try:
                f = transformer.forward(self.params, self.config, batch.tokens, batch.targets)
            except transformer.AttentionError as e:  # the softmax met NaN or infinite scores
                raise InductionError(self._diverged()) from e
            if not math.isfinite(f.loss):
                raise InductionError(self._diverged())
            self.adam.lr = learning_rate(self.settings, self.step)
            self.adam.step(self.params, transformer.backward(self.params, self.config, f))
        if not all(np.all(np.isfinite(w)) for w in self.params.values()):
            raise InductionError(self._diverged())
        self.losses.append(f.loss)
        if self.step % self.settings.every == 0 or self.done:
            self.checkpoints.append(self._checkpoint())

    def _diverged(self) -> str:
        return (
            f"Training diverged at step {self.step + 1}: the numbers became too large to represent. "
            f"The learning rate {self.settings.lr:g} is too large; reset and try {Settings().lr:g}."
        )

    def _checkpoint(self) -> Checkpoint:
        f = transformer.forward(self.params, self.config, self.eval.tokens)
        on_probe = transformer.forward(self.params, self.config, self.probe.tokens)
        return Checkpoint(
            step=self.step,
            loss=repeat_loss(f.log_probs, self.eval),
            induction=np.stack([induction_score(layer.weights, self.eval) for layer in f.layers]),
            previous=np.stack([previous_token_score(layer.weights) for layer in f.layers]),
            weights=on_probe.patterns[:, 0],
            predicted=np.argmax(on_probe.logits[0], axis=-1),
        )


# --- what happened ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseChange:
    """The window in which the best last-layer head's induction score went from below LOW to at least HIGH."""

    start: int  # the step of the last checkpoint below LOW before the crossing
    end: int  # the step of the first checkpoint at HIGH or above
    loss_before: float  # the repeated-position loss at start and at end
    loss_after: float
    layer: int  # the head that scores highest at the end
    head: int

    @property
    def drop(self) -> float:
        """How many nats the loss fell in the window."""
        return self.loss_before - self.loss_after


def phase_change(checkpoints: list[Checkpoint], *, low: float = LOW, high: float = HIGH) -> PhaseChange | None:
    """The window of the phase change, or None if the best induction score never reached `high`
    (or was at `high` from the start, which is no change)."""
    scores = [c.best_induction for c in checkpoints]
    end = next((i for i, s in enumerate(scores) if s >= high), None)
    below = [i for i in range(end or 0) if scores[i] < low]
    if end is None or not below:
        return None
    first, last = checkpoints[below[-1]], checkpoints[end]
    layer = len(last.induction) - 1
    return PhaseChange(first.step, last.step, first.loss, last.loss, layer, int(np.argmax(last.induction[layer])))


def describe(change: PhaseChange) -> str:
    """The phase change in one sentence, as the page and the CLI say it."""
    went = f"fell by {change.drop:.1f} nats" if change.drop >= 0 else f"rose by {-change.drop:.1f} nats"
    return (
        f"Between steps {change.start:,} and {change.end:,} the loss on the repeated tokens {went} "
        f"and layer {change.layer}'s head {change.head} began to copy."
    )


def previous_token_head(checkpoint: Checkpoint) -> tuple[int, float] | None:
    """The layer-0 head that attends most to the previous token, and its score, if it scores at least
    PREVIOUS_TOKEN_HEAD; None when no layer-0 head does (a model of two layers or more that copies
    anyway has found another circuit than the textbook previous-token + induction pair)."""
    head = int(np.argmax(checkpoint.previous[0]))
    score = float(checkpoint.previous[0, head])
    return (head, score) if score >= PREVIOUS_TOKEN_HEAD else None


PATHS = ("Q", "K", "V")  # what a later head reads the residual stream with


@dataclass(frozen=True)
class Knockout:
    """A forward in which layer 1 does not see what one layer-0 head wrote, through the paths knocked out."""

    heads: tuple[int, ...]  # the layer-0 heads whose output is removed
    paths: str  # which of layer 1's reads lose it: any of "Q", "K", "V" ("" = none: the intact model)
    weights: np.ndarray  # [B, H, n, n] layer 1's patterns
    log_probs: np.ndarray  # [B, n, V]


def knock_out(
    params: dict[str, np.ndarray],
    config: transformer.Config,
    tokens: np.ndarray,
    heads,
    paths: str,
    *,
    base: transformer.Forward | None = None,
) -> Knockout:
    """Path ablation: the model's forward with the output z_h W_O[h] of layer-0 heads h in `heads` (an int
    or several) taken out of the residual stream that layer 1's queries, keys and/or values read
    (`paths`, e.g. "K"); every other read, and the unembedding, sees the stream whole.
    tokens [B, n] -> Knockout; base: the intact model's forward on tokens, if the caller has it already

    If an induction head's score collapses when its keys lose the previous-token head and not when its
    queries or values do, the two heads compose through the keys (K-composition, Elhage et al. 2021):
    the keys carry "the token before me", which the previous-token head wrote.
    """
    if config.layers < 2:
        raise InductionError("A path from layer 0 to layer 1 needs a model of two layers or more.")
    heads = tuple(transformer.whole("The head", h, 0, config.heads - 1, InductionError) for h in np.atleast_1d(heads))
    if not set(paths) <= set(PATHS):
        raise InductionError(f"The paths are letters among {', '.join(PATHS)}, not {paths!r}.")
    f = transformer.forward(params, config, tokens) if base is None else base
    (b, n), h, d = f.tokens.shape, config.heads, config.d_model
    written = sum(f.layers[0].z[:, h] @ params["0.W_O"][h] for h in heads)  # [B, n, d]   what they add to the stream
    x = f.layers[1].x  # [B, n, d]   x_1, what layer 1 reads
    q, k, v = (
        transformer.split_heads((x - written if p in paths else x) @ transformer.side_by_side(params[f"1.W_{p}"]), h)
        for p in PATHS
    )  # [B, H, n, d_h] each
    keys = transformer.smear(k, params["1.alpha"]) if config.smeared_keys else k
    att = transformer.attend(q, keys, v, transformer.causal_mask(n))
    x = x + (transformer.merge_heads(att.output) @ params["1.W_O"].reshape(-1, d)).reshape(b, n, d)
    for layer in range(2, config.layers):  # later layers read the stream as it now is
        x = x + transformer.layer_forward(params, config, layer, x).out
    return Knockout(heads, paths, att.weights, transformer.log_softmax(x @ params["W_U"]))


def knockouts(
    params: dict[str, np.ndarray], config: transformer.Config, batch: Batch, heads, *, base=None
) -> dict[str, tuple]:
    """For the intact model ("") and each path alone: (layer 1's induction scores [H], the repeated-position
    loss) on batch, with layer-0 `heads` (an int or several) knocked out of that path; base as in knock_out."""
    base = transformer.forward(params, config, batch.tokens) if base is None else base
    out = {}
    for paths in ("", *PATHS):
        k = knock_out(params, config, batch.tokens, heads, paths, base=base)
        out[paths] = (induction_score(k.weights, batch), repeat_loss(k.log_probs, batch))
    return out


@dataclass(frozen=True)
class ReadPaths:
    """Where a layer-1 head reads layer 0 from (`read_paths`): rows are the layer-0 heads taken out, one
    by one, then all at once; columns the read they are taken out of, in PATHS order (Q, K, V)."""

    head: int  # the layer-1 head
    score: float  # its induction score with nothing taken out
    loss: float  # the repeated-position loss with nothing taken out
    scores: np.ndarray  # [H + 1, 3] its induction score with each row's heads taken out of each read
    losses: np.ndarray  # [H + 1, 3] the model's repeated-position loss then


def read_paths(params: dict[str, np.ndarray], config: transformer.Config, batch: Batch, head: int) -> ReadPaths:
    """Layer-1 head `head` on batch with nothing taken out, and with each layer-0 head's output (rows 0 … H − 1),
    then all of layer 0's at once (row H), taken out of its queries, keys or values (`knock_out`).
    The values never move a pattern (only what the head copies), so their column of scores is the intact
    score; their effect shows in the loss."""
    transformer.whole("The head", head, 0, config.heads - 1, InductionError)
    scores, losses = np.empty((config.heads + 1, len(PATHS))), np.empty((config.heads + 1, len(PATHS)))
    base = transformer.forward(params, config, batch.tokens)  # the intact model, once for every knockout
    for row, heads in enumerate([*([h] for h in range(config.heads)), list(range(config.heads))]):
        out = knockouts(params, config, batch, heads, base=base)
        scores[row] = [out[p][0][head] for p in PATHS]
        losses[row] = [out[p][1] for p in PATHS]
    return ReadPaths(head, float(out[""][0][head]), out[""][1], scores, losses)
