"""python -m attnviz vision and vision train, run as a user runs them: JSON, the tables, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from attnviz.learn import classifier


def cli(*args):
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, timeout=120)


def plain_attention(image: np.ndarray, p: int, *, positions=False, s=1.0, t=1.0) -> tuple[list, np.ndarray, np.ndarray]:
    """Patches cut by hand, and softmax(s X Xᵀ / T) written out: (labels, scores, weights)."""
    g = 8 // p
    rows = [(r, c) for r in range(g) for c in range(g)]
    x = np.array([image[r * p : r * p + p, c * p : c * p + p].ravel() / 16 for r, c in rows])
    if positions:
        x = np.hstack([x, np.eye(len(rows))])
    scores = x @ x.T
    e = np.exp(s * scores / t - np.max(s * scores / t, axis=1, keepdims=True))
    return [f"r{r}c{c}" for r, c in rows], scores, e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("index", "patch", "extra", "s", "t"),
    [
        (0, 2, (), 1.0, 1.0),
        (1796, 4, ("--positions", "--scale", "sqrt-d", "--temperature", "3"), 1 / np.sqrt(20), 3.0),  # d = 16 + 4
        (42, 1, ("--scale", "sqrt-d", "--temperature", "0.25"), 1.0, 0.25),  # 64 patches, d = 1: s = 1/√1
    ],
)
def test_json_is_the_patches_attention(index, patch, extra, s, t):
    r = cli("vision", "--index", str(index), "--patch", str(patch), *extra, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"image", "patches", "scores", "weights"}
    image = load_digits().images[index]
    np.testing.assert_array_equal(out["image"], image)
    labels, scores, weights = plain_attention(image, patch, positions="--positions" in extra, s=s, t=t)
    assert out["patches"] == labels
    np.testing.assert_allclose(out["scores"], scores, atol=1e-12)  # raw X Xᵀ, before s and T
    np.testing.assert_allclose(out["weights"], weights, atol=1e-12)


def test_table_without_json():
    r = cli("vision", "--index", "5", "--patch", "4")
    assert r.returncode == 0, r.stderr
    _, _, weights = plain_attention(load_digits().images[5], 4)
    assert "digit 5 (a 5)" in r.stdout and "4 patches of 4 x 4" in r.stdout
    last = r.stdout.strip().splitlines()[-1].split()
    assert last[0] == "r1c1"
    np.testing.assert_allclose([float(v) for v in last[1:]], weights[3], atol=5e-4)


def test_train_json_is_the_classifier_on_the_split():
    r = cli("vision", "train", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"test_indices", "predictions", "test_accuracy", "loss"}
    _, test = train_test_split(range(1797), test_size=0.25, random_state=0)
    assert out["test_indices"] == test
    targets = load_digits().target[test]
    assert out["test_accuracy"] == pytest.approx(np.mean(np.asarray(out["predictions"]) == targets), abs=1e-15)
    assert out["test_accuracy"] >= 0.90
    mine = classifier.train(classifier.Config(seed=3))
    np.testing.assert_allclose(out["loss"], mine.losses, rtol=1e-9)
    assert out["predictions"] == mine.predictions.tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vision", "--index", "1797"), "from 0 to 1796"),
        (("vision", "--index", "-3"), "from 0 to 1796"),
        (("vision", "--patch", "3"), "one of 1, 2, 4"),
        (("vision", "--temperature", "0"), "temperature must be a positive number"),
        (("vision", "--index", "x"), "invalid int value"),
        (("vision", "train", "--seed", "-1"), "seed must be a whole number"),
        (("vision", "train", "--epochs", "0"), "epochs must be a whole number"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message):
    r = cli(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and "Traceback" not in r.stderr
