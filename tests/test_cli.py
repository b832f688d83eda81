"""The command line, run as a user runs it."""

import json
import subprocess
import sys

import numpy as np
import pytest

from attnviz.attention import core
from attnviz.model.embeddings import ToyEmbedder


def cli(*args):
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("special", [False, True])
def test_json_matches_the_core(minilm, special):
    """[CLS]/[SEP] dropped by default, as the app and attnviz.explain do; --special keeps them."""
    r = cli("hi how are you", "--json", *(["--special"] if special else []))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"tokens", "scores", "weights", "output"}
    emb = minilm.static("hi how are you")
    emb = emb if special else emb.without_special()
    tr = core.self_attention(emb.vectors, emb.tokens)
    assert out["tokens"] == ["[CLS]", "hi", "how", "are", "you", "[SEP]"][0 if special else 1 : 6 if special else 5]
    np.testing.assert_allclose(out["scores"], tr.scores, atol=1e-9)
    np.testing.assert_allclose(out["weights"], tr.weights, atol=1e-12)
    np.testing.assert_allclose(out["output"], tr.output, atol=1e-9)


def test_flags(minilm):
    r = cli(
        "the cat sat",
        "--json",
        "--no-special",
        "--scale",
        "sqrt-d",
        "--temperature",
        "0.5",
        "--embedding",
        "contextual",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    emb = minilm.contextual("the cat sat").without_special()
    tr = core.self_attention(emb.vectors, emb.tokens, scale="sqrt-d", temperature=0.5)
    assert out["tokens"] == ["the", "cat", "sat"]
    np.testing.assert_allclose(out["weights"], tr.weights, atol=1e-6)


def test_toy_json():
    out = json.loads(cli("hi how are You", "--json", "--embedding", "toy").stdout)
    emb = ToyEmbedder()("hi how are You")
    np.testing.assert_allclose(out["weights"], core.self_attention(emb.vectors).weights)
    assert out["tokens"] == ["hi", "how", "are", "You"]


def test_table_without_json():
    r = cli("hi how are you", "--embedding", "toy")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["hi", "how", "are", "you"]
    assert len(lines) == 6 and all(len(line.split()) == 5 for line in lines[2:])


@pytest.mark.parametrize(
    "args,message",
    [
        (["", "--embedding", "toy"], "empty"),
        (["   ", "--embedding", "toy"], "empty"),
        (["hi", "--temperature", "0", "--embedding", "toy"], "temperature"),
        (["hi", "--temperature", "nan", "--embedding", "toy"], "temperature"),
    ],
)
def test_errors_go_to_stderr_with_exit_code_2(args, message):
    r = cli(*args)
    assert r.returncode == 2
    assert message in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr


def test_bad_flag_exits_2():
    r = cli("hi", "--scale", "cube")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_long_and_odd_text_gives_notices_not_tracebacks():
    r = cli("Café 😀 你好 <b>x</b> " * 200, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["tokens"]) == 254  # 256 pieces, [CLS] and [SEP] among them, dropped
    assert "not shown" in r.stderr and "[UNK]" in r.stderr


def test_learned_head_json(minilm):
    r = cli("the cat sat on the mat", "--json", "--layer", "4", "--head", "11", "--special")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ids = minilm.tokenize("the cat sat on the mat").ids
    model = minilm.forward(ids, attentions=True).attentions[4][0, 11].numpy()
    assert out["tokens"][0] == "[CLS]" and len(out["tokens"]) == 8
    np.testing.assert_allclose(out["weights"], model, atol=1e-5)
    np.testing.assert_allclose(core.softmax(np.array(out["scores"])), model, atol=1e-5)


def test_learned_head_without_markers_renormalises(minilm):
    out = json.loads(cli("the cat sat", "--json", "--layer", "0", "--head", "0").stdout)
    model = minilm.forward(minilm.tokenize("the cat sat").ids, attentions=True).attentions[0][0, 0].numpy()
    inner = model[1:-1, 1:-1]
    assert out["tokens"] == ["the", "cat", "sat"]
    np.testing.assert_allclose(out["weights"], inner / inner.sum(axis=1, keepdims=True), atol=1e-5)
    assert np.array(out["scores"]).shape == (3, 3)


@pytest.mark.parametrize(
    "args",
    [["--layer", "6", "--head", "0"], ["--layer", "0", "--head", "12"], ["--layer", "-1", "--head", "0"]],
)
def test_learned_head_out_of_range(args):
    r = cli("hi", *args)
    assert r.returncode == 2 and "layers 0-5" in r.stderr


@pytest.mark.parametrize("text", ["<img src=x onerror=alert(1)>", "مرحبا بالعالم", "a\x07b", "😀", "x" * 10_000])
def test_hostile_text(text):
    r = cli(text, "--json", "--no-special")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    np.testing.assert_allclose(np.array(out["weights"]).sum(axis=1), 1.0)
