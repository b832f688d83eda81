"""attnviz heads: the issue's JSON on the model's own weights (checked against torch), --ablate's cosine
against sentence-transformers with the same heads removed, --corpus, the words, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests import heads_reference as ref

TEXT = "The old lighthouse keeper waved at the passing ships."


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnviz", "heads", *args], capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_json_is_the_issues_grids_on_the_models_weights(minilm):
    r = cli(TEXT, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    pieces = minilm.tokenize(TEXT)
    assert out["tokens"] == list(pieces.tokens) and out["tokens"][0] == "[CLS]" and out["tokens"][-1] == "[SEP]"
    w = ref.attentions(minilm, pieces.ids)  # [6, 12, n, n] from torch
    n = w.shape[-1]
    want = {
        "to_cls": w[..., 0].mean(-1),
        "to_sep": w[..., n - 1].mean(-1),
        "previous": np.mean([w[..., i, i - 1] for i in range(1, n)], axis=0),
        "next": np.mean([w[..., i, i + 1] for i in range(n - 1)], axis=0),
        "entropy": (-(w * np.log(np.where(w > 0, w, 1))).sum(-1)).mean(-1),
    }
    for k, v in want.items():
        assert np.array(out[k]).shape == (6, 12)
        np.testing.assert_allclose(out[k], v, atol=1e-4, err_msg=k)
    assert "cosine" not in out and np.array(out["class"]).shape == (6, 12)


@pytest.mark.parametrize("uniform", [False, True])
def test_ablate_gives_the_cosine_sentence_transformers_gives(minilm, uniform):
    r = cli(TEXT, "--ablate", "0.2,1.8,3.3", "--json", *(["--uniform"] if uniform else []))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    removed = ((0, 2), (1, 8), (3, 3))
    want = ref.cosine(ref.embedding(minilm, TEXT, removed, uniform=uniform), ref.embedding(minilm, TEXT))
    assert out["cosine"] == pytest.approx(want, abs=1e-4) and out["ablate"] == ["0.2", "1.8", "3.3"]
    assert out["uniform"] is uniform


def test_corpus_and_the_words():
    r = cli("--corpus", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sequences"] == 50 and np.array(out["to_cls"]).shape == (6, 12)
    assert out["class"][0][2] == "previous" and out["class"][1][8] == "next"
    r = cli(TEXT, "--ablate", "0.2")
    assert r.returncode == 0, r.stderr
    assert "MiniLM's 72 heads over 13 tokens" in r.stdout or "MiniLM's 72 heads over" in r.stdout
    assert "Layer 0, head 2 is previous" in r.stdout and "heads 0.2 zeroed: the sentence embedding's cosine" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "empty"),
        (("hi", "--ablate", "6.1"), "layers are 0–5"),
        (("hi", "--ablate", "two"), "is not a head"),
        ((), "give a text, or --corpus"),
        (("hi", "--corpus"), "give a text, or --corpus"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(args, message):
    r = cli(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_long_and_odd_text_is_read_with_notices():
    r = cli("word " * 2000 + " 🙂 你好 <script>alert(1)</script>", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["tokens"]) == 256 and out["tokens"][-1] == "[SEP]"
    assert "the model reads at most 256" in r.stderr and "Traceback" not in r.stderr
