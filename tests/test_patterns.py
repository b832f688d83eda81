"""The sentence on what a head does (attnviz.attention.patterns): each pattern it knows on clean and noisy matrices,
noise, mixtures, masks, trained runs of every Train task, and against the test's own reading of the rules
(tests/reference.describe) on many random matrices. MiniLM's heads: tests/test_prose.py."""

import numpy as np
import pytest

from attnviz.attention import core, patterns
from attnviz.learn import training
from tests import reference as ref

MIRROR = "its mirror position (the anti-diagonal)"


def names(n: int) -> tuple[str, ...]:
    return tuple(f"w{i}" for i in range(n))


def noisy(keys: np.ndarray, strength: float, rng: np.random.Generator, mask=None) -> np.ndarray:
    """strength of each row on its keys (shared equally), the rest a random softmax over what the row may see."""
    n = len(keys)
    allowed = np.ones((n, n), bool) if mask is None else mask
    rest = core.softmax(np.where(allowed, rng.normal(size=(n, n)), -np.inf))
    on = keys & allowed
    w = np.where(on.any(axis=1, keepdims=True), (1 - strength) * rest, rest)
    w += np.where(on, strength / np.maximum(on.sum(axis=1, keepdims=True), 1), 0.0)
    return w


def keys_of(n: int, key) -> np.ndarray:
    """[n, n] bool from a function row -> key (or None)."""
    k = np.zeros((n, n), bool)
    for i in range(n):
        j = key(i)
        if j is not None and 0 <= j < n:
            k[i, j] = True
    return k


def share(w: np.ndarray, keys: np.ndarray, rows) -> float:
    return float(np.mean([w[i][keys[i]].sum() for i in rows]))


POSITIONAL = {
    "itself": lambda n: lambda i: i,
    "the previous token": lambda n: lambda i: i - 1,
    "the next token": lambda n: lambda i: i + 1,
    MIRROR: lambda n: lambda i: n - 1 - i,
    "the first token": lambda n: lambda i: 0,
}


@pytest.mark.parametrize("n", [3, 4, 5, 8, 13, 40])
@pytest.mark.parametrize("name", list(POSITIONAL))
@pytest.mark.parametrize("strength", [1.0, 0.9, 0.7])
def test_each_positional_pattern_is_named(name, n, strength):
    rng = np.random.default_rng(n)
    keys = keys_of(n, POSITIONAL[name](n))
    w = noisy(keys, strength, rng)
    rows = [i for i in range(n) if keys[i].any()]
    said = patterns.describe(w, names(n))
    assert said.startswith(f"Mostly attends to {name}: on average {share(w, keys, rows):.0%}"), said
    assert said == ref.describe(w, names(n))


@pytest.mark.parametrize("n", [3, 8, 16])
@pytest.mark.parametrize("name", ["itself", "the previous token", MIRROR, "the first token"])
def test_causal_patterns_count_only_rows_with_a_choice(name, n):
    """Row 0 of a causal head sees one key: it is left out, so a previous-token head reads 100%."""
    mask = core.causal_mask(n)
    keys = keys_of(n, POSITIONAL[name](n)) & mask
    w = noisy(keys, 1.0, np.random.default_rng(0), mask)
    rows = [i for i in range(1, n) if keys[i].any()]
    said = patterns.describe(w, names(n), mask=mask)
    assert said.startswith(f"Mostly attends to {name}: on average {share(w, keys, rows):.0%}"), said
    assert said == ref.describe(w, names(n), mask=mask)
    assert "next token" not in said  # a causal row never sees it


def test_the_issue_reverse_run_is_an_anti_diagonal_not_the_previous_token():
    """The Train page's `reverse`, seed 7, 400 steps: W is a clean anti-diagonal (issue 20)."""
    trainer = training.train(training.Config(task="reverse", seed=7))
    w, tokens = trainer.checkpoints[-1].weights, tuple(training.labels(trainer.probe))
    said = patterns.describe(w, tokens)
    mirror = np.mean([w[i, len(w) - 1 - i] for i in range(len(w))])
    assert mirror > 0.97
    assert said == f"Mostly attends to {MIRROR}: on average {mirror:.0%} of each row's weight goes there."
    assert "previous" not in said


WANTED = {
    "previous-token": "the previous token",
    "reverse": MIRROR,
    "first-token": "the first token",
    "copy": "itself",
}


@pytest.mark.parametrize("task", list(training.TASKS))
@pytest.mark.parametrize("seed", range(4))
def test_trained_runs_of_every_task_are_named_by_their_pattern(task, seed):
    trainer = training.train(training.Config(task=task, seed=seed))
    w, probe = trainer.checkpoints[-1].weights, trainer.probe
    tokens = tuple(training.labels(probe))
    largest = int(np.argmax(probe))  # the README: the position of the latest letter in the alphabet
    columns = {"the largest letter": largest}
    said = patterns.describe(w, tokens, mask=trainer.mask, columns=columns)
    assert said == ref.describe(w, tokens, mask=trainer.mask, columns=columns)
    o = training.outcome(trainer.task, probe, w)
    if not o.follows:
        return  # the Train page warns about such a run; the sentence then only has to be right (above)
    if task == "largest" or (task == "first-token" and largest == 0):
        want = f"the largest letter, “{tokens[largest]}”" + (" (the first token)" if largest == 0 else "")
    else:
        want = WANTED[task]
    assert said.startswith(f"Mostly attends to {want}: on average {o.share:.0%}"), said


def test_marker_and_named_columns():
    tokens = ("[CLS]", "the", "cat", "sat", "[SEP]")
    rng = np.random.default_rng(3)
    for j, name in ((0, "[CLS]"), (4, "[SEP]"), (2, "“cat”")):
        w = noisy(keys_of(5, lambda i, j=j: j), 0.8, rng)
        said = patterns.describe(w, tokens)
        assert said.startswith(f"Mostly attends to {name}: on average {w[:, j].mean():.0%}"), said
        assert said == ref.describe(w, tokens)
    two_seps = ("[CLS]", "a", "[SEP]", "b", "[SEP]")
    w = noisy(keys_of(5, lambda i: 2) | keys_of(5, lambda i: 4), 0.8, rng)
    assert patterns.describe(w, two_seps).startswith(
        f"Mostly attends to [SEP]: on average {w[:, [2, 4]].sum(1).mean():.0%}"
    )


def test_mixtures():
    n = 8
    eye, prev = np.eye(n), keys_of(n, lambda i: i - 1).astype(float)
    w = 0.5 * eye + 0.5 * prev
    w[0] = eye[0]  # row 0 has no previous token
    assert patterns.describe(w, names(n)) == (
        "Mostly attends to itself: on average 56% of each row's weight goes there, and 50% to the previous token."
    )
    w = 0.4 * eye + 0.4 * prev + 0.2 / n
    w /= w.sum(axis=1, keepdims=True)
    said = patterns.describe(w, names(n))
    assert said.startswith("Splits its attention between itself, ") and "and the previous token, " in said, said
    anti = np.eye(n)[::-1]
    w = 0.3 * anti + 0.7 / n  # a faint anti-diagonal: broad, and the mirror leads every row
    assert patterns.describe(w, names(n)) == (
        f"Spreads its attention broadly (entropy {ref.entropy_bits(w).mean() / 3:.0%} of the maximum), though most "
        f"often it looks at {MIRROR}: the largest weight in 8 of 8 rows, {0.3 + 0.7 / n:.0%} of each row on average."
    )
    rng = np.random.default_rng(5)
    w = noisy(anti.astype(bool), 0.35, rng)  # a visible anti-diagonal in peaky noise
    said = patterns.describe(w, names(n))
    assert said.startswith(f"Mixed: most often it looks at {MIRROR}: the largest weight in"), said
    for a, b in ((0.5, 0.5), (0.3, 0.6), (0.6, 0.3)):  # two columns, a mirror and the first token
        w = a * anti + b * np.eye(n)[[0] * n] + (1 - a - b) / n
        assert patterns.describe(w, names(n)) == ref.describe(w, names(n))


@pytest.mark.parametrize("n", [8, 12, 20, 32])
@pytest.mark.parametrize("scale", [1.0, 2.0, 3.0, 5.0])
def test_noise_has_no_simple_pattern(n, scale):
    """Random scores: the sentence names no pattern (it is broad, or says there is none)."""
    for seed in range(8):
        w = core.softmax(np.random.default_rng(seed).normal(size=(n, n)) * scale)
        said = patterns.describe(w, names(n))
        plain = said.startswith("No simple pattern: none of itself, the previous token, the next token, ")
        broad = said.startswith("Spreads its attention broadly") and said.endswith("the whole sentence.")
        assert plain or broad, (seed, said)


def test_single_rows_and_masks_without_choice():
    assert patterns.describe(np.ones((1, 1)), ("a",)) == "With a single token, every head can only attend to it."
    only_self = np.eye(3, dtype=bool)
    assert patterns.describe(np.eye(3), names(3), mask=only_self) == (
        "Every row may see one token only, so there is no choice to describe."
    )
    two = patterns.describe(np.array([[1.0, 0.0], [1.0, 0.0]]), names(2), mask=core.causal_mask(2))
    assert two.startswith("Mostly attends to the previous token: on average 100%")  # the one row with a choice


def test_the_no_pattern_sentence_lists_what_was_looked_for():
    tokens = ("[CLS]", *names(10), "[SEP]")
    w = core.softmax(np.random.default_rng(11).normal(size=(12, 12)) * 3)
    assert patterns.describe(w, tokens) == (
        "No simple pattern: none of itself, the previous token, the next token, the mirror position, [CLS], [SEP] "
        "or one shared token has the largest weight in two thirds of the rows it applies to; where each row looks "
        "depends on the words."
    )


def test_the_rule_against_the_tests_own_reading_on_many_matrices():
    """Noise at many sizes and sharpnesses, patterns, mixtures, masks, ties and exact zeros."""
    rng = np.random.default_rng(2026)
    for trial in range(800):
        n = int(rng.integers(2, 24))
        mask = core.causal_mask(n) if trial % 3 == 0 else None
        kind = trial % 5
        if kind == 0:
            w = core.softmax(np.where(mask if mask is not None else True, rng.normal(size=(n, n)) * 3, -np.inf))
        else:
            a, b = rng.choice(list(POSITIONAL), size=2, replace=False)
            keys = keys_of(n, POSITIONAL[a](n)) | (keys_of(n, POSITIONAL[b](n)) if kind > 2 else False)
            w = noisy(keys, float(rng.uniform(0.1, 1.0)), rng, mask)
            if kind == 4:
                w = np.round(w, 1) + 1e-3 * (mask if mask is not None else 1)  # ties
                w = np.where(mask if mask is not None else True, w, 0.0)
                w /= w.sum(axis=1, keepdims=True)
        tokens = names(n) if trial % 7 else ("[CLS]", *names(n - 2), "[SEP]")[:n]
        columns = {"the largest letter": int(rng.integers(n))} if trial % 4 == 1 else None
        assert patterns.describe(w, tokens, mask=mask, columns=columns) == ref.describe(
            w, tokens, mask=mask, columns=columns
        ), (trial, n)
