"""python -m attnviz A --cross B: cross-attention on the command line, as a user runs it."""

import json

import numpy as np
import pytest

from attnviz.attention import core
from tests.test_cli import cli
from tests.test_cross import TROPHY_BIG, TROPHY_SMALL, torch_cross

KEYS = {"queries", "keys", "scores", "weights"}


def test_unparameterised_cross_attention(minilm):
    r = cli(TROPHY_BIG, "--cross", TROPHY_SMALL, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == KEYS
    a, b = minilm.static(TROPHY_BIG).without_special(), minilm.static(TROPHY_SMALL).without_special()  # the default
    assert out["queries"] == list(a.tokens) and out["keys"] == list(b.tokens)
    scores = a.vectors @ b.vectors.T  # raw X_A X_Bᵀ, before scale and temperature
    np.testing.assert_allclose(out["scores"], scores, rtol=1e-9)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out["weights"], e / e.sum(axis=1, keepdims=True), atol=1e-12)


def test_flags_reach_the_cross_attention(minilm):
    args = ["--json", "--no-special", "--scale", "sqrt-d", "--temperature", "0.5", "--embedding", "contextual"]
    out = json.loads(cli("the cat sat", "--cross", "a dog barked loudly", *args).stdout)
    a = minilm.contextual("the cat sat").without_special()
    b = minilm.contextual("a dog barked loudly").without_special()
    assert out["queries"] == ["the", "cat", "sat"] and out["keys"] == ["a", "dog", "barked", "loudly"]
    logits = a.vectors @ b.vectors.T / np.sqrt(384) / 0.5
    # the CLI serves through NumPy, the fixture is sentence-transformers: hidden states agree to ~2e-6, so
    # dot products of two 384-long vectors of norm ~10 agree to a few 1e-5 (relative ~3e-6)
    np.testing.assert_allclose(out["scores"], a.vectors @ b.vectors.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["weights"], core.softmax(logits), atol=1e-6)


@pytest.mark.parametrize(
    "extra", [[], ["--special"], ["--layer", "3", "--head", "7"], ["--layer", "0", "--head", "2", "--special"]]
)
def test_cross_attention_with_itself_is_self_attention(extra):
    text = "the bank of the river flooded the bank"
    self_out = json.loads(cli(text, "--json", *extra).stdout)
    cross_out = json.loads(cli(text, "--cross", text, "--json", *extra).stdout)
    assert cross_out["queries"] == cross_out["keys"] == self_out["tokens"]
    np.testing.assert_allclose(cross_out["scores"], self_out["scores"], atol=1e-6)
    np.testing.assert_allclose(cross_out["weights"], self_out["weights"], atol=1e-6)


@pytest.mark.parametrize("special", [True, False])
def test_learned_cross_attention_matches_torch(minilm, special):
    a, b = "The cat sat on the mat.", "Le chat est assis sur le tapis."
    args = ["--json", "--layer", "4", "--head", "9"] + (["--special"] if special else [])
    r = cli(a, "--cross", b, *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    s, w, _ = torch_cross(minilm, a, b, 4, 9, special=special)
    assert np.array(out["weights"]).shape == (len(out["queries"]), len(out["keys"])) == s.shape
    assert np.abs(np.array(out["scores"]) - s).max() <= 1e-5  # Q Kᵀ / √32
    assert np.abs(np.array(out["weights"]) - w).max() <= 1e-5
    assert out["queries"][0] == ("[CLS]" if special else "the")


def test_table_without_json():
    r = cli("hi there", "--cross", "hello you all", "--embedding", "toy")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["hello", "you", "all"]
    assert [line.split()[0] for line in lines[2:]] == ["hi", "there"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["hi", "--cross", "", "--embedding", "toy"], "--cross (B): The sentence is empty"),
        (["  ", "--cross", "hi", "--embedding", "toy"], "the sentence (A): The sentence is empty"),
        (["hi", "--cross", "x", "--layer", "6", "--head", "0"], "layers 0-5"),
        (["hi", "--cross", "x", "--layer", "0", "--head", "12"], "heads 0-11"),
        (["hi", "--cross", "x", "--temperature", "0", "--embedding", "toy"], "temperature"),
    ],
)
def test_errors_go_to_stderr_with_exit_code_2(args, message):
    r = cli(*args)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("b", ["<img src=x onerror=alert(1)>", "😀 你好", "x" * 10_000, "Die Trophäe passte nicht"])
def test_hostile_second_sentence(b):
    r = cli("it was too big", "--cross", b, "--json", "--no-special")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    np.testing.assert_allclose(np.array(out["weights"]).sum(axis=1), 1.0)
    assert len(out["keys"]) <= 254
