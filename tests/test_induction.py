"""The repeated-segment task, the measures of a head, training in chunks and the phase-change detector."""

import math
from collections import Counter

import numpy as np
import pytest

from attnviz.learn import induction, transformer
from attnviz.learn.induction import Checkpoint, InductionError, Settings


def test_a_batch_repeats_one_segment_at_a_random_place_and_offset():
    batch = induction.sample(np.random.default_rng(0), 500)
    tokens, a, b, size = batch.tokens, batch.start, batch.repeat, batch.size
    assert tokens.shape == (500, 48) and tokens.min() >= 0 and tokens.max() < 64
    assert size.min() == 6 and size.max() == 12  # both ends of the range are drawn
    assert np.all(a >= 0) and np.all(b >= a + size) and np.all(b + size <= 48)  # no overlap, inside the sequence
    for row, start, repeat, n in zip(tokens, a, b, size):
        np.testing.assert_array_equal(row[repeat : repeat + n], row[start : start + n])
    assert len(set(batch.offset.tolist())) > 30  # random offsets: no single one for a 1-layer model to learn
    again = induction.sample(np.random.default_rng(0), 500)
    np.testing.assert_array_equal(again.tokens, tokens)  # decided by the seed
    np.testing.assert_array_equal(again.offset, batch.offset)


def test_every_placement_of_the_two_copies_is_equally_likely():
    """Two copies of 6 in 16 tokens leave 4 free, split into before / between / after: C(6, 2) = 15 ways."""
    rng = np.random.default_rng(1)
    start, repeat = induction._places(rng, np.full(30_000, 6), 16)
    counts = Counter(zip(start.tolist(), repeat.tolist()))
    assert len(counts) == 15
    assert all(start + 6 <= repeat <= 10 for start, repeat in counts)
    assert max(counts.values()) / min(counts.values()) < 1.15  # each ~2,000 of 30,000


def test_targets_are_the_next_tokens_of_the_second_copy_after_its_first():
    batch = induction.sample(np.random.default_rng(2), 50)
    targets, repeated = batch.targets, batch.repeated
    for i in range(50):
        b, n = batch.repeat[i], batch.size[i]
        np.testing.assert_array_equal(np.flatnonzero(repeated[i]), np.arange(b, b + n - 1))
        np.testing.assert_array_equal(targets[i, b : b + n - 1], batch.tokens[i, b + 1 : b + n])
        # what is predicted is what followed the current token the first time
        a = batch.start[i]
        np.testing.assert_array_equal(targets[i, b : b + n - 1], batch.tokens[i, a + 1 : a + n])
    assert np.all(targets[~repeated] == -1)


@pytest.mark.parametrize("seed", [0, 1, 77])
def test_a_probe_repeats_the_longest_segment_and_nothing_else(seed):
    p = induction.probe(seed)
    tokens = p.tokens[0]
    a, b, n = int(p.start[0]), int(p.repeat[0]), int(p.size[0])
    assert n == 12 and b >= a + n and b + n <= 48
    np.testing.assert_array_equal(tokens[b : b + n], tokens[a : a + n])
    others = np.delete(tokens, np.arange(b, b + n))
    assert len(set(others.tolist())) == 48 - 12  # no token twice outside the copy: one place to look back to
    np.testing.assert_array_equal(induction.probe(seed).tokens, p.tokens)
    assert not np.array_equal(induction.probe(seed + 1).tokens, p.tokens)


def test_chance_is_ln_v():
    assert induction.chance() == math.log(64)


def test_the_scores_of_hand_made_heads():
    """A perfect induction head scores 1, a perfect previous-token head 1 on the previous token, and a head
    that spreads evenly over what it may see scores the mean of 1 / (t + 1)."""
    batch = induction.sample(np.random.default_rng(3), 20)
    n = 48
    b, t = np.nonzero(batch.repeated)
    induction_head = np.zeros((20, n, n))
    induction_head[:, 0, 0] = 1
    for i in range(20):  # every row somewhere allowed; the repeated rows on t − offset + 1
        induction_head[i, np.arange(1, n), np.arange(1, n) - 1] = 1
    induction_head[b, t, :] = 0
    induction_head[b, t, t - batch.offset[b] + 1] = 1
    previous = np.zeros((20, n, n))
    previous[:, 0, 0] = 1
    previous[:, np.arange(1, n), np.arange(n - 1)] = 1
    even = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    weights = np.stack([induction_head, previous, np.broadcast_to(even, (20, n, n))], axis=1)  # [B, H=3, n, n]
    scores = induction.induction_score(weights, batch)
    assert scores[0] == 1.0
    assert scores[1] == pytest.approx(np.mean(t - batch.offset[b] + 1 == t - 1))  # only where the two coincide
    assert scores[2] == pytest.approx(np.mean(1 / (t + 1)))
    prev = induction.previous_token_score(weights)
    assert prev[1] == 1.0
    assert prev[2] == pytest.approx(np.mean(1 / np.arange(2, n + 1)))


def test_the_training_loss_is_the_loss_on_the_repeated_positions():
    config = transformer.Config(layers=1, heads=2, d_model=16, d_head=8)
    params = transformer.init_params(config, np.random.default_rng(0), dtype=np.float64)
    batch = induction.sample(np.random.default_rng(4), 16)
    f = transformer.forward(params, config, batch.tokens, batch.targets)
    assert induction.repeat_loss(f.log_probs, batch) == pytest.approx(f.loss, abs=1e-12)
    rows, cols = np.nonzero(batch.repeated)
    by_hand = -np.mean(f.log_probs[rows, cols, batch.tokens[rows, cols + 1]])
    assert f.loss == pytest.approx(by_hand, abs=1e-12)


def test_greedy_prediction_and_copy_accuracy():
    config = transformer.Config(layers=1, heads=2, d_model=16, d_head=8)
    params = transformer.init_params(config, np.random.default_rng(1))
    p = induction.probe(5)
    predicted = induction.predict(params, config, p.tokens[0])
    f = transformer.forward(params, config, p.tokens)
    np.testing.assert_array_equal(predicted, np.argmax(f.logits[0], axis=-1))
    right = np.roll(p.tokens[0], -1)  # the true next token everywhere
    assert induction.copy_accuracy(right, p) == 1.0
    wrong = right.copy()
    rows = np.flatnonzero(p.repeated[0])
    wrong[rows[:4]] = (wrong[rows[:4]] + 1) % 64
    assert induction.copy_accuracy(wrong, p) == pytest.approx(1 - 4 / len(rows))


def test_chunks_equal_one_run():
    settings = Settings(layers=2, heads=2, d_model=16, d_head=8, steps=45, every=10, seed=3, warmup=7)
    whole = induction.Trainer(settings)
    whole.run(1000)
    chunked = induction.Trainer(settings)
    while not chunked.done:
        chunked.run(7)
    assert chunked.losses == whole.losses and len(whole.losses) == 45
    for name, w in whole.params.items():
        np.testing.assert_array_equal(chunked.params[name], w)
    assert [c.step for c in whole.checkpoints] == [0, 10, 20, 30, 40, 45] == [c.step for c in chunked.checkpoints]
    for a, b in zip(whole.checkpoints, chunked.checkpoints):
        np.testing.assert_array_equal(a.weights, b.weights)


def test_a_time_bound_cuts_the_run_anywhere_without_changing_it(monkeypatch):
    settings = Settings(layers=1, heads=2, d_model=16, d_head=8, steps=31, every=10, seed=8)
    whole = induction.Trainer(settings)
    whole.run(31)
    clock = iter(range(10_000))  # a clock that reads one second later at every look
    monkeypatch.setattr(induction.time, "perf_counter", lambda: float(next(clock)))
    cut = induction.Trainer(settings)
    cut.run(31, seconds=0)  # no step begins once the time is up
    assert cut.step == 0
    cut.run(31, seconds=2.5)  # looks at 1 s and 2 s step, at 3 s stops
    assert cut.step == 2
    while not cut.done:
        cut.run(31, seconds=2.5)
    assert cut.losses == whole.losses
    for name, w in whole.params.items():
        np.testing.assert_array_equal(cut.params[name], w)
    assert [c.step for c in cut.checkpoints] == [c.step for c in whole.checkpoints]


def test_a_checkpoint_holds_what_the_model_does_at_that_step():
    settings = Settings(layers=2, heads=3, d_model=16, d_head=8, steps=20, every=20, seed=6, probe_seed=4)
    trainer = induction.Trainer(settings)
    trainer.run(20)
    last = trainer.checkpoints[-1]
    config = settings.model
    assert last.step == 20 and last.weights.shape == (2, 3, 48, 48) and last.induction.shape == (2, 3)
    p = induction.probe(4)
    on_probe = transformer.forward(trainer.params, config, p.tokens)
    np.testing.assert_array_equal(last.weights, on_probe.patterns[:, 0])
    np.testing.assert_array_equal(last.predicted, induction.predict(trainer.params, config, p.tokens[0]))
    e = induction.sample(np.random.default_rng(induction.EVAL_SEED), induction.EVAL_BATCH)
    f = transformer.forward(trainer.params, config, e.tokens, e.targets)
    assert last.loss == pytest.approx(f.loss, rel=1e-6)
    np.testing.assert_allclose(last.induction[1], induction.induction_score(f.layers[1].weights, e), rtol=1e-6)
    np.testing.assert_allclose(last.previous[0], induction.previous_token_score(f.layers[0].weights), rtol=1e-6)
    assert last.best_induction == last.induction[1].max()


def test_the_learning_rate_warms_up_linearly():
    s = Settings(lr=1e-3, warmup=4)
    assert [induction.learning_rate(s, step) for step in range(6)] == pytest.approx(
        [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]
    )
    assert induction.learning_rate(Settings(lr=2e-3, warmup=0), 0) == 2e-3


def checkpoints(scores: list[float], losses: list[float], *, every: int = 100, heads: int = 3) -> list[Checkpoint]:
    """Made-up checkpoints of a 2-layer model whose layer-1 head 2 carries the given best induction scores."""
    made = []
    for i, (score, loss) in enumerate(zip(scores, losses)):
        ind = np.full((2, heads), 0.01)
        ind[1, 2] = score
        prev = np.full((2, heads), 0.1)
        made.append(Checkpoint(i * every, loss, ind, prev, np.zeros((2, heads, 4, 4)), np.zeros(4, dtype=int)))
    return made


def test_the_phase_change_is_where_the_score_crosses_from_low_to_high():
    found = induction.phase_change(checkpoints([0.05, 0.1, 0.15, 0.3, 0.45, 0.6, 0.7], [4, 4, 3.9, 3, 2, 1.2, 1]))
    assert (found.start, found.end, found.layer, found.head) == (200, 500, 1, 2)
    assert found.drop == pytest.approx(3.9 - 1.2)
    assert induction.describe(found) == (
        "Between steps 200 and 500 the loss on the repeated tokens fell by 2.7 nats and layer 1's head 2 began to copy."
    )
    # a dip back below 0.2 on the way up moves the start to the last checkpoint below it
    again = induction.phase_change(checkpoints([0.05, 0.25, 0.15, 0.55], [4, 3.5, 3.6, 2]))
    assert (again.start, again.end) == (200, 300)


def test_no_phase_change_without_a_crossing():
    assert induction.phase_change(checkpoints([0.05, 0.1, 0.4, 0.45], [4, 4, 3, 3])) is None  # never reaches 0.5
    assert induction.phase_change(checkpoints([0.6, 0.7], [4, 3])) is None  # copying from the start is no change


def test_previous_token_head_or_another_circuit():
    made = checkpoints([0.1], [4.0])[0]
    assert induction.previous_token_head(made) is None  # every layer-0 head at 0.1
    made.previous[0, 1] = 0.45
    assert induction.previous_token_head(made) == (1, pytest.approx(0.45))
    made.previous[0, 1] = 0.3
    assert induction.previous_token_head(made) == (1, pytest.approx(0.3))  # the threshold counts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0}, r"The learning rate must be a number in \(0, 1\], not 0\."),
        ({"steps": 0}, "steps must be a whole number from 1 to 100000, not 0."),
        ({"seed": -1}, "The seed must be a whole number ≥ 0, not -1."),
        ({"probe_seed": 1.5}, "The probe seed must be a whole number ≥ 0, not 1.5."),
        ({"layers": 9}, "layers must be a whole number from 1 to 4, not 9."),
    ],
)
def test_bad_settings_say_what_to_change(kwargs, message):
    with pytest.raises(InductionError, match=message):
        Settings(**kwargs)


def test_a_diverging_run_says_what_to_change():
    """(Adam's bounded steps make a too-large learning rate blow the loss up, not overflow: a page warns
    about that from the losses; what raises is a run whose numbers stop being numbers.)"""
    trainer = induction.Trainer(Settings(layers=1, heads=2, d_model=16, d_head=8, steps=300, seed=0))
    trainer.params["W_U"][0, 0] = np.inf  # as an overflow would leave it
    with pytest.raises(InductionError, match=r"Training diverged at step 1: .* try 0\.002\."):
        trainer.run(1)


@pytest.mark.slow
def test_two_layers_learn_to_copy_and_one_layer_does_not():
    """The story of the page at its defaults, for one seed, in the first half of a run: the 2-layer model's best
    layer-1 head crosses from < 0.2 to ≥ 0.5 within 1,000 steps as the loss falls by ≥ 1 nat, beside a
    layer-0 previous-token head, and it copies the probe; the 1-layer model does neither; smeared keys
    get there first."""
    runs = {}
    for name, settings in {
        "2": Settings(steps=1500, seed=11, probe_seed=11),
        "1": Settings(layers=1, steps=900, seed=11, probe_seed=11),
        "smeared": Settings(layers=1, smeared_keys=True, steps=900, seed=11, probe_seed=11),
    }.items():
        runs[name] = induction.Trainer(settings)
        runs[name].run(settings.steps)
    two, one, smeared = runs["2"], runs["1"], runs["smeared"]
    change = induction.phase_change(two.checkpoints)
    assert change is not None and change.end - change.start <= 1000 and change.drop >= 1.0
    assert change.layer == 1
    assert induction.previous_token_head(two.checkpoints[-1]) is not None
    assert induction.copy_accuracy(two.checkpoints[-1].predicted, two.probe) >= 0.8
    assert max(c.best_induction for c in one.checkpoints) < 0.3
    assert induction.phase_change(one.checkpoints) is None
    assert min(c.loss for c in one.checkpoints) >= two.checkpoints[-1].loss + 1.5
    assert induction.copy_accuracy(one.checkpoints[-1].predicted, one.probe) <= 0.3
    first = {
        name: next(c.step for c in t.checkpoints if c.best_induction >= 0.5) for name, t in (("2", two), ("s", smeared))
    }
    assert first["s"] < first["2"]
    # and the two layers meet in the keys: without layer 0 in them the induction head stops copying
    paths = induction.read_paths(two.params, two.config, two.eval, change.head)
    k, q = induction.PATHS.index("K"), induction.PATHS.index("Q")
    assert paths.scores[-1, k] < 0.2 < 0.5 < paths.score and paths.scores[-1, q] >= 0.8 * paths.score
    assert paths.losses[-1, k] > two.checkpoints[-1].loss + 2


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    n = scores.shape[-1]
    scores = np.where(np.tril(np.ones((n, n), bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("smeared", [False, True])
def test_a_knockout_removes_one_heads_output_from_what_layer_1_reads(smeared):
    """Brute force, from two ordinary forwards: one intact, one with layer-0 head 1's W_O set to 0 (so its output
    is gone from the stream everywhere). Knocking it out of layer 1's queries and keys gives the second model's
    layer-1 patterns; out of the keys alone, the pattern of the intact queries against the second model's keys;
    out of nothing, the intact model; and the values never change a pattern."""
    config = transformer.Config(vocab=11, length=9, layers=3, heads=3, d_model=12, d_head=4, smeared_keys=smeared)
    params = transformer.init_params(config, np.random.default_rng(4), dtype=np.float64)
    params["W_U"] = np.random.default_rng(5).normal(size=params["W_U"].shape)
    if smeared:
        params["1.alpha"] = np.array([0.3, -1.0, 2.0])
    tokens = np.random.default_rng(6).integers(0, 11, (2, 9))
    intact = transformer.forward(params, config, tokens)
    without = {**params, "0.W_O": params["0.W_O"] * (np.arange(3) != 1)[:, None, None]}
    zeroed = transformer.forward(without, config, tokens)

    none = induction.knock_out(params, config, tokens, 1, "")
    assert np.allclose(none.weights, intact.layers[1].weights, atol=1e-12)
    assert np.allclose(none.log_probs, intact.log_probs, atol=1e-12)
    qk, v = (induction.knock_out(params, config, tokens, 1, paths).weights for paths in ("QK", "V"))
    assert np.allclose(qk, zeroed.layers[1].weights, atol=1e-12)
    assert np.allclose(v, intact.layers[1].weights, atol=1e-12)
    by_hand = _softmax_rows(intact.layers[1].q @ zeroed.layers[1].keys.swapaxes(-1, -2) / 2.0)  # √d_h = 2
    keys = induction.knock_out(params, config, tokens, 1, "K")
    assert np.allclose(keys.weights, by_hand, atol=1e-12)
    assert not np.allclose(keys.log_probs, intact.log_probs)  # and the prediction changes with it


def test_knockouts_score_the_intact_model_and_each_path():
    settings = Settings(steps=1, d_model=16, d_head=4)
    trainer = induction.Trainer(settings)
    out = induction.knockouts(trainer.params, trainer.config, trainer.eval, 0)
    assert list(out) == ["", "Q", "K", "V"]
    scores, loss = out[""]
    assert np.allclose(scores, trainer.checkpoints[0].induction[1], atol=1e-6)
    assert loss == pytest.approx(trainer.checkpoints[0].loss, abs=1e-5)


@pytest.mark.parametrize(
    ("layers", "head", "paths", "message"),
    [(1, 0, "K", "two layers or more"), (2, 4, "K", "The head must be"), (2, 0, "KX", "letters among Q, K, V")],
)
def test_a_bad_knockout_says_what_to_change(layers, head, paths, message):
    config = transformer.Config(vocab=8, length=6, layers=layers, heads=4, d_model=8, d_head=4)
    params = transformer.init_params(config, np.random.default_rng(0))
    with pytest.raises(InductionError, match=message):
        induction.knock_out(params, config, np.zeros((1, 6), int), head, paths)


def test_read_paths_tables_each_head_then_all_of_layer_0():
    settings = Settings(steps=1, d_model=16, d_head=4, heads=3)
    trainer = induction.Trainer(settings)
    p, c, batch = trainer.params, trainer.config, trainer.eval
    paths = induction.read_paths(p, c, batch, 2)
    table, intact = paths.scores, paths.score
    assert table.shape == paths.losses.shape == (4, 3)
    assert intact == pytest.approx(float(trainer.checkpoints[0].induction[1, 2]), abs=1e-6)
    assert paths.loss == pytest.approx(trainer.checkpoints[0].loss, abs=1e-5)
    for row, heads in enumerate([[0], [1], [2], [0, 1, 2]]):
        for col, path in enumerate("QKV"):
            ko = induction.knock_out(p, c, batch.tokens, heads, path)
            assert table[row, col] == pytest.approx(float(induction.induction_score(ko.weights, batch)[2]))
            assert paths.losses[row, col] == pytest.approx(induction.repeat_loss(ko.log_probs, batch))
    assert np.allclose(table[:, 2], intact)  # the values never move a pattern
