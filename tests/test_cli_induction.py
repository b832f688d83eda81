"""attnviz induction: the run as JSON (the issue's keys and shapes), the summary in words, bad values."""

import json
import math
import subprocess
import sys

import numpy as np

from attnviz.learn import induction


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnviz", "induction", *args], capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_json_is_the_run():
    r = cli("--layers", "1", "--heads", "2", "--steps", "100", "--seed", "4", "--probe-seed", "6", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == [0, 50, 100]
    assert math.isclose(out["chance"], math.log(64))
    assert len(out["loss_repeat"]) == len(out["induction_score"]) == len(out["previous_token_score"]) == 3
    probe = out["probe"]
    p = induction.probe(6)
    assert probe["tokens"] == p.tokens[0].tolist() and probe["offset"] == int(p.offset[0])
    assert probe["repeat"] == [int(p.repeat[0]), int(p.repeat[0] + p.size[0] - 1)]
    w = np.array(probe["weights"])
    assert w.shape == (1, 2, 48, 48) and np.allclose(w.sum(-1), 1, atol=1e-5)
    t = induction.Trainer(induction.Settings(layers=1, heads=2, steps=100, seed=4, probe_seed=6))
    t.run(100)
    assert np.allclose(out["loss_repeat"], [c.loss for c in t.checkpoints], atol=1e-6)
    assert probe["predicted"] == t.checkpoints[-1].predicted.tolist()


def test_the_summary_in_words():
    r = cli("--layers", "2", "--steps", "50", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert "loss on the repeated tokens" in r.stdout and ("phase change" in r.stdout or "began to copy" in r.stdout)


def test_bad_values_exit_2_with_a_message():
    for args in (["--layers", "9"], ["--steps", "0"], ["--seed", "-1"], ["--lr", "5"], ["--heads", "x"]):
        r = cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip(), args
