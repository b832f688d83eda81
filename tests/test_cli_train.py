"""python -m attnviz train, run as a user runs it: JSON, the readable summary, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from attnviz.learn import training


def cli(*args):
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("task", "seed"), [("reverse", 7), ("previous-token", 2)])
def test_json_is_the_trained_layer(task, seed):
    r = cli("train", "--task", task, "--steps", "400", "--seed", str(seed), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"task", "steps", "seed", "loss", "probe"}
    assert (out["task"], out["steps"], out["seed"]) == (task, 400, seed)
    assert len(out["loss"]) == 400
    trainer = training.train(training.Config(task=task, steps=400, seed=seed))
    np.testing.assert_allclose(out["loss"], trainer.losses, rtol=1e-15, atol=0)
    probe = training.probe(training.get_task(task), 8, seed)
    assert out["probe"]["tokens"] == [training.VOCAB[t] for t in probe]
    w = np.asarray(out["probe"]["weights"])
    assert w.shape == (8, 8)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(w, trainer.checkpoints[-1].weights, atol=1e-15)
    # the targets of the issue, read from the JSON alone
    assert out["loss"][-1] <= 0.1 * out["loss"][0]
    n = len(w)
    want = np.arange(n) - 1 if task == "previous-token" else n - 1 - np.arange(n)
    rows = np.flatnonzero(want >= 0)
    assert np.mean(np.argmax(w[rows], axis=1) == want[rows]) >= 0.9


def test_options_reach_the_model():
    r = cli("train", "--task", "first-token", "--steps", "30", "--seed", "1", "--length", "5", "--lr", "0.1",
            "--d-head", "4", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    trainer = training.train(training.Config(task="first-token", steps=30, seed=1, length=5, lr=0.1, d_head=4))
    assert out["loss"] == trainer.losses
    assert len(out["probe"]["tokens"]) == 5


def test_readable_summary():
    r = cli("train", "--task", "reverse", "--steps", "200", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "reverse: Output the sequence backwards" in r.stdout
    assert "the anti-diagonal" in r.stdout and "rows put the most weight there" in r.stdout
    assert len(r.stdout.splitlines()) == 4 + 9 + 1  # header lines, the 8 x 8 table with its head, the sentence


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "sort"],
        ["--steps", "0"],
        ["--steps", "many"],
        ["--seed", "-3"],
        ["--length", "40"],
        ["--lr", "nan"],
        ["--lr", "-1"],
        ["--d-head", "0"],
    ],
)
def test_bad_input_is_a_message_and_exit_2(args):
    r = cli("train", *args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_the_cli_trains_longer_than_a_page_press():
    r = cli("train", "--task", "copy", "--steps", "6000", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["loss"]) == 6000


def test_large_learning_rate_warns_on_stderr():
    r = cli("train", "--lr", "3", "--steps", "100")
    assert r.returncode == 0
    assert "too large" in r.stderr


def test_the_word_train_can_still_be_analysed():
    r = cli("--embedding", "toy", "--json", "--", "train")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tokens"] == ["train"]
