"""The training core: hand-written gradients against finite differences and torch autograd, Adam
against torch.optim.Adam over whole runs, the tasks, and learning that reaches each task's pattern."""

import numpy as np
import pytest

from attnviz.attention.core import causal_mask
from attnviz.learn import autograd, training
from attnviz.learn.training import Config, TrainingError


def small_problem(seed: int, *, task: str = "reverse", batch: int = 3, length: int = 5, d_head: int = 4):
    """Random weights of a readable size (scaled so no softmax saturates) and one batch."""
    rng = np.random.default_rng(seed)
    params = training.init_params(len(training.VOCAB) + length, d_head, rng)
    params = {k: 2.0 * v for k, v in params.items()}  # away from the near-uniform start: a sharper test
    tokens, targets = training.get_task(task).sample(rng, batch, length)
    return params, tokens, targets


def numeric_gradient(f, w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences, one entry at a time: (f(w + eps) - f(w - eps)) / 2 eps."""
    g = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        w[idx] = old + eps
        up = f()
        w[idx] = old - eps
        down = f()
        w[idx] = old
        g[idx] = (up - down) / (2 * eps)
    return g


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("task", ["previous-token", "reverse"])  # causal (masked) and unmasked
@pytest.mark.parametrize("seed", [0, 1])
def test_every_gradient_matches_finite_differences(task, seed):
    params, tokens, targets = small_problem(seed, task=task)
    causal = training.get_task(task).causal
    f = training.forward(params, tokens, targets, causal=causal)
    grads = training.backward(params, f)
    assert set(grads) == set(training.PARAMS)
    for name in training.PARAMS:
        assert grads[name].shape == params[name].shape
        numeric = numeric_gradient(lambda: training.forward(params, tokens, targets, causal=causal).loss, params[name])
        assert relative_error(grads[name], numeric) <= 1e-6, name
        assert np.max(np.abs(grads[name])) > 1e-4, f"{name}: a zero gradient would pass trivially"


@pytest.mark.parametrize("masked", [False, True])
def test_attention_backward_input_gradient(masked):
    """dLoss/dX of the attention layer (what a model with layers below it, e.g. the vision one, needs)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 6))
    w = [rng.normal(size=(6, 3)) for _ in range(3)]
    target = rng.normal(size=(2, 4, 3))
    mask = causal_mask(4) if masked else None

    def loss() -> float:  # a scalar of the output: 0.5 |Z - target|²
        return 0.5 * float(np.sum((training.attention_forward(x, *w, mask).output - target) ** 2))

    c = training.attention_forward(x, *w, mask)
    g = training.attention_backward(c, *w, c.output - target, input_grad=True)
    assert relative_error(g["x"], numeric_gradient(loss, x)) <= 1e-6
    for name, weight in zip(("W_q", "W_k", "W_v"), w):
        assert relative_error(g[name], numeric_gradient(loss, weight)) <= 1e-6, name
    if masked:
        assert np.all(np.triu(c.weights, k=1) == 0)


@pytest.mark.parametrize("task", list(training.TASKS))
def test_gradients_match_torch_autograd(task):
    params, tokens, targets = small_problem(7, task=task, batch=8, length=8, d_head=16)
    causal = training.get_task(task).causal
    f = training.forward(params, tokens, targets, causal=causal)
    ours = training.backward(params, f)
    loss, theirs = autograd.gradients(params, tokens, targets, causal=causal)
    assert abs(f.loss - loss) <= 1e-12
    for name in training.PARAMS:
        assert np.max(np.abs(ours[name] - theirs[name])) <= 1e-10, name


@pytest.mark.parametrize(("task", "seed"), [("previous-token", 0), ("reverse", 3), ("largest", 1)])
def test_whole_run_matches_torch_adam(task, seed):
    """300 steps with the same initial weights and batches: NumPy (hand-written gradients + Adam) and torch
    (autograd + torch.optim.Adam) give the same loss at every step."""
    config = Config(task=task, steps=300, seed=seed)
    ours = training.train(config).losses
    theirs = autograd.train(config)
    assert len(ours) == len(theirs) == 300
    assert np.max(np.abs(np.asarray(ours) - np.asarray(theirs))) <= 1e-6


def test_adam_step_matches_the_formula():
    """One Adam step by hand: m = (1-β1) g, v = (1-β2) g², p -= lr m̂ / (√v̂ + ε) with the bias corrections."""
    p = {"w": np.array([1.0, -2.0, 0.5])}
    g = {"w": np.array([0.1, -0.3, 2.0])}
    adam = training.Adam(lr=0.01)
    adam.step(p, g)
    m_hat = (0.1 * g["w"]) / (1 - 0.9)
    v_hat = (0.001 * g["w"] ** 2) / (1 - 0.999)
    np.testing.assert_allclose(p["w"], np.array([1.0, -2.0, 0.5]) - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-12)


@pytest.mark.parametrize("task", list(training.TASKS))
def test_tasks_generate_what_they_say(task):
    t = training.get_task(task)
    tokens, targets = t.sample(np.random.default_rng(0), 64, 9)
    assert tokens.shape == targets.shape == (64, 9)
    assert all(len(set(row)) == 9 for row in tokens)  # distinct letters in each sequence
    assert tokens.min() >= 0 and tokens.max() < len(training.VOCAB)
    keys = t.keys(tokens)
    for row_tokens, row_targets, row_keys in zip(tokens, targets, keys):
        for i, (target, key) in enumerate(zip(row_targets, row_keys)):
            assert (target == -1) == (key == -1)
            if key >= 0:
                assert target == row_tokens[key]
                if t.causal:
                    assert key <= i  # a causal task never needs a later position
    again, _ = t.sample(np.random.default_rng(0), 64, 9)
    np.testing.assert_array_equal(tokens, again)  # decided by the seed


def test_the_named_tasks_patterns():
    tokens = np.array([3, 0, 7, 5, 1])
    np.testing.assert_array_equal(training.TASKS["previous-token"].keys(tokens), [-1, 0, 1, 2, 3])
    np.testing.assert_array_equal(training.TASKS["reverse"].keys(tokens), [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(training.TASKS["first-token"].keys(tokens), [0] * 5)
    np.testing.assert_array_equal(training.TASKS["largest"].keys(tokens), [2] * 5)
    np.testing.assert_array_equal(training.TASKS["copy"].keys(tokens), [0, 1, 2, 3, 4])
    assert training.TASKS["previous-token"].causal and not training.TASKS["reverse"].causal


@pytest.mark.slow
@pytest.mark.parametrize("task", list(training.TASKS))
@pytest.mark.parametrize("seed", [0, 11, 123])
def test_each_task_learns_its_pattern(task, seed):
    """Default settings, 400 steps: the loss falls to ≤ 0.1 × the first and W on the probe follows the pattern."""
    trainer = training.train(Config(task=task, seed=seed))
    assert trainer.losses[-1] <= 0.1 * trainer.losses[0]
    w = trainer.checkpoints[-1].weights
    keys = trainer.task.keys(trainer.probe)
    rows = np.flatnonzero(keys >= 0)
    hits = np.argmax(w[rows], axis=1) == keys[rows]
    assert hits.mean() >= 0.9
    assert w[rows, keys[rows]].mean() >= 0.8


def test_chunks_equal_one_run():
    config = Config(task="first-token", steps=57, seed=4)
    whole = training.train(config)
    chunked = training.Trainer(config)
    while not chunked.done:
        chunked.run(chunked.until_checkpoint() or 1)
    assert chunked.losses == whole.losses
    for name in training.PARAMS:
        np.testing.assert_array_equal(chunked.params[name], whole.params[name])
    assert [c.step for c in chunked.checkpoints] == list(training.checkpoint_steps(57))


def test_checkpoints_hold_w_on_the_probe_and_the_bilinear_form():
    trainer = training.train(Config(task="reverse", steps=40, seed=2, length=6, d_head=8))
    last = trainer.checkpoints[-1]
    p = trainer.params
    x = training.one_hot(trainer.probe)  # [6, 26 + 6]
    s = (x @ p["W_q"]) @ (x @ p["W_k"]).T / np.sqrt(8)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(last.weights, w / w.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(last.qk, p["W_q"] @ p["W_k"].T / np.sqrt(8), atol=1e-12)
    np.testing.assert_allclose(x @ last.qk @ x.T, s, atol=1e-10)  # a score is x_i (W_q W_kᵀ/√h) x_jᵀ
    assert last.step == 40 and last.loss == trainer.losses[-1]
    np.testing.assert_array_equal(trainer.probe, training.probe(trainer.task, 6, 2))
    assert training.feature_names(6)[:2] == ("a", "b") and training.feature_names(6)[-1] == "pos 5"


def test_one_hot_names_every_feature():
    x = training.one_hot(np.array([[2, 0, 15]]))
    v = len(training.VOCAB)
    assert x.shape == (1, 3, v + 3)
    np.testing.assert_array_equal(x.sum(axis=-1), 2.0)  # one letter + one position
    assert x[0, 2, 15] == 1 and x[0, 2, v + 2] == 1


def test_describe_says_what_w_shows():
    trainer = training.train(Config(task="previous-token", seed=5))
    w = trainer.checkpoints[-1].weights
    rows = np.arange(1, 8)
    share = w[rows, rows - 1].mean()
    hits = int(np.sum(np.argmax(w[rows], axis=1) == rows - 1))
    text = training.describe(trainer)
    assert f"puts on average {share:.0%} of its weight on the position before it" in text
    assert f"({hits} of 7 rows" in text
    last = trainer.losses[-1]
    assert f"from {trainer.losses[0]:.2f} to {last:.2f}" in text if last >= 0.01 else f"to {last:.1e}." in text
    assert training.warning(trainer) is None


def test_first_token_does_not_count_the_row_that_has_no_choice():
    trainer = training.train(Config(task="first-token", seed=0))
    o = training.outcome(trainer.task, trainer.probe, trainer.checkpoints[-1].weights)
    assert o.rows == 7  # row 0 may only attend to itself under the causal mask
    assert "(7 of 7 rows" in training.describe(trainer)


def test_one_step_says_what_one_loss_is():
    trainer = training.train(Config(steps=1))
    assert "the loss on the first batch was" in training.describe(trainer)


def test_a_fall_without_the_pattern_is_called_out():
    """largest can (rarely) be solved by a spread-out average: seed 164 does, and the page must not cheer."""
    trainer = training.train(Config(task="largest", seed=164))
    o = training.outcome(trainer.task, trainer.probe, trainer.checkpoints[-1].weights)
    assert trainer.losses[-1] <= 0.1 * trainer.losses[0] and not o.follows
    text = training.warning(trainer)
    assert text is not None and f"only {o.hits} of {o.rows} rows" in text and "another way" in text


def test_too_large_a_learning_rate_is_named():
    trainer = training.train(Config(task="previous-token", lr=3.0))
    losses = np.asarray(trainer.losses)
    text = training.warning(trainer)
    assert text is not None and "learning rate 3 is too large" in text
    assert f"jumped to {losses.max():.1f} at step {int(np.argmax(losses)) + 1}" in text


def test_divergence_is_an_error_with_a_message():
    trainer = training.Trainer(Config(steps=5))
    trainer.params["W_q"][0, 0] = np.inf
    with pytest.raises(TrainingError, match=r"diverged at step 1.*learning rate"):
        trainer.run(5)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"task": "sort"}, "Unknown task"),
        ({"length": 1}, "length"),
        ({"length": 17}, "length"),
        ({"d_head": 0}, "d_head"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"steps": 0}, "Steps"),
        ({"steps": 10**6}, "Steps"),
        ({"seed": 1.5}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_say_what_to_change(kwargs, words):
    with pytest.raises(TrainingError, match=words):
        Config(**kwargs)


def test_presets_are_valid_and_named():
    assert {"previous", "reverse"} <= set(training.PRESETS)
    for preset in training.PRESETS.values():
        assert preset.config.task in training.TASKS and preset.commentary.endswith(".")
