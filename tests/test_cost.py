"""The Cost of attention page under AppTest, and python -m attnviz cost: measured points, the numbers in
its sentences recomputed, FAVOR+ on the typed sentence against the exact W."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from attnviz.attention import core, cost, linear
from tests.apptest_charts import decode, figure, heatmap
from tests.test_linear import held_by_linear
from tests.test_training_page import app as open_page

PAGE = "pages/6_Cost.py"


def app(**params):
    return open_page(page=PAGE, **params)


@pytest.fixture(scope="module", autouse=True)
def warm_model(model_ready):
    """The app's own loader, awaited (tests/conftest.py), whichever test runs first."""


def test_measure_fills_the_charts_one_n_a_tick():
    at = app(max_n="256", d="16", m="64")
    assert "Press Measure" in at.info[0].value
    at.button(key="cost_go").click().run()
    ticks = 0
    while at.session_state["cost_run"].running:
        at.run()
        ticks += 1
        assert not at.exception
    run = at.session_state["cost_run"]
    assert [p.n for p in run.points] == [16, 32, 64, 128, 256]
    assert ticks == 4  # the press measured n = 16; then one n a tick
    time = figure(at, "cost_time")["data"]
    np.testing.assert_array_equal(decode(time[0]["x"]), [16, 32, 64, 128, 256])
    np.testing.assert_allclose(decode(time[0]["y"]), [p.exact_s for p in run.points])
    np.testing.assert_allclose(decode(time[1]["y"]), [p.linear_s for p in run.points])
    np.testing.assert_allclose(decode(time[2]["y"]), [p.products_s for p in run.points])  # the products alone
    assert "Q Kᵀ and W V alone" in time[2]["name"]
    caption = next(c.value for c in at.caption if "log–log" in c.value)
    assert "once two such sizes are measured" in caption and "nan" not in caption  # no n ≥ 512 measured here
    assert "slope" not in time[0]["name"]
    memory = next(c.value for c in at.caption if "stops fitting" in c.value)
    assert f"n = {cost.largest_n(16 * 2**30):,}" in memory and "256 word pieces" in memory
    drawn = figure(at, "cost_memory")["data"]
    ns, exact_line, linear_line = decode(drawn[0]["x"]), decode(drawn[0]["y"]), decode(drawn[1]["y"])
    assert ns[0] == 10 and ns[-1] == 10**6
    np.testing.assert_array_equal(exact_line, 8.0 * ns.astype(float) ** 2)
    for n, drawn_bytes in zip(ns, linear_line):  # the line drawn is what linear attention holds, within 2×
        if 256 <= n <= 8192:
            held = held_by_linear(int(n), 16, 64)
            assert 0.5 * held <= drawn_bytes <= 2 * held, (n, held, drawn_bytes)


def test_stop_keeps_the_points_so_far():
    at = app(max_n="4096", d="16", m="16")
    at.button(key="cost_go").click().run()
    at.run()
    at.button(key="cost_stop").click().run()
    run = at.session_state["cost_run"]
    assert not run.running and 0 < len(run.points) < len(run.sizes)
    n_points = len(run.points)
    at.run()
    assert len(at.session_state["cost_run"].points) == n_points


@pytest.mark.parametrize(
    ("text", "t", "causal"), [("hi how are you", "1.0", "0"), ("the cat sat on the mat", "0.1", "1")]
)
def test_favor_on_the_sentence(minilm, text, t, causal):
    at = app(s=text, t=t, features="64", fseed="3", causal=causal)
    emb = minilm.static(text).without_special()
    mask = core.causal_mask(len(emb.tokens)) if causal == "1" else None
    exact = core.self_attention(emb.vectors, emb.tokens, temperature=float(t), mask=mask)
    z, _, _ = heatmap(at, "cost_exact")
    np.testing.assert_allclose(z, exact.weights, atol=1e-9)
    want = linear.approximate_weights(emb.vectors, 64, 3, factor=1 / float(t), causal=causal == "1")
    approx, _, _ = heatmap(at, "cost_approx")
    np.testing.assert_allclose(approx, want, atol=1e-9)
    np.testing.assert_allclose(approx.sum(axis=1), 1.0, atol=1e-9)
    if causal == "1":
        assert np.all(np.triu(approx, k=1) == 0)
    delta = want - exact.weights
    caption = next(c.value for c in at.caption if "Mean |Δ|" in c.value)
    assert f"Mean |Δ| = {np.abs(delta).mean():.2e}, largest {np.abs(delta).max():.2e}" in caption
    errors = figure(at, "cost_errors")["data"]
    curve = linear.error_curve(emb.vectors, exact.weights, [2**k for k in range(2, 13)], factor=1 / float(t),
                               causal=causal == "1")  # fmt: skip
    np.testing.assert_allclose(decode(errors[0]["y"]), curve["mean |Δ|"], rtol=1e-9)
    assert f"from {curve['mean |Δ|'][2]:.1e} at m = 16 to {curve['mean |Δ|'][-1]:.1e} at m = 4096" in "".join(
        c.value for c in at.caption
    )


def test_one_token_the_estimate_is_exact_and_said_so():
    at = app(s="hi")
    caption = next(c.value for c in at.caption if "averaged over three seeds" in c.value)
    assert "There is none: the estimate is exact here at every m" in caption and "More features" not in caption
    assert not at.exception


@pytest.mark.parametrize("text", ["", "x" * 10_000, "<script>alert(1)</script>", "😀 你好"])
def test_odd_sentences(text):
    at = app(s=text)
    assert not at.exception


def cli(*args):
    return subprocess.run([sys.executable, "-m", "attnviz", *args], capture_output=True, text=True, timeout=300)


def test_cli_cost_json():
    r = cli("cost", "--json", "--max-n", "4096", "--d", "32", "--features", "64")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert len(out["exact_s"]) == len(out["linear_s"]) == len(out["products_s"]) == 9 and min(out["exact_s"]) > 0
    assert out["exact_bytes"] == [8 * n * n for n in out["n"]]
    assert out["linear_bytes"] == [cost.linear_bytes(n, 64, 32) for n in out["n"]]
    for n, said in zip(out["n"], out["linear_bytes"]):  # what linear attention holds, within 2×
        if n >= 256:
            held = held_by_linear(n, 32, 64)
            assert 0.5 * held <= said <= 2 * held, (n, held, said)
    assert out["exact_s"][-1] > 10 * out["exact_s"][4]  # 16x the pairs from 256 to 4096, by any measure


def test_cli_cost_summary_and_bad_numbers():
    r = cli("cost", "--max-n", "64")
    assert r.returncode == 0 and re.search(r"^\s+64\s", r.stdout, re.M)
    for args in (["--max-n", "8"], ["--d", "0"], ["--features", "x"]):
        bad = cli("cost", *args)
        assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("scale", "t"), [("none", "1.0"), ("sqrt-d", "0.1")])
def test_cli_features_add_the_implied_matrix(minilm, scale, t):
    text = "The trophy didn't fit in the suitcase because it was too big"
    r = cli(text, "--json", "--special", "--features", "512", "--seed", "9", "--scale", scale, "--temperature", t)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"tokens", "scores", "weights", "output", "approx_weights"}
    emb = minilm.static(text)
    exact = core.self_attention(emb.vectors, emb.tokens, scale=scale, temperature=float(t))
    approx = np.asarray(out["approx_weights"])
    assert approx.shape == exact.weights.shape
    np.testing.assert_allclose(approx.sum(axis=1), 1.0, atol=1e-12)
    factor = exact.scale / exact.temperature
    np.testing.assert_allclose(approx, linear.approximate_weights(emb.vectors, 512, 9, factor=factor), atol=1e-12)
    assert np.abs(approx - exact.weights).mean() < np.abs(np.full_like(approx, 1 / len(approx)) - exact.weights).mean()
    other = json.loads(
        cli(
            text, "--json", "--special", "--features", "512", "--seed", "10", "--scale", scale, "--temperature", t
        ).stdout
    )
    assert not np.allclose(other["approx_weights"], approx)  # the seed decides the features


def test_cli_features_errors():
    for args in (
        ["--features", "0"],
        ["--features", "64", "--layer", "0", "--head", "0"],
        ["--features", "4", "--seed", "-1"],
    ):
        r = cli("hi how are you", *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr
    text = "The trophy didn't fit in the suitcase because it was too big"
    r = cli(text, "--features", "64", "--seed", "1", "--temperature", "1e-5", "--json")  # the estimate underflows:
    assert r.returncode == 2 and "underflows" in r.stderr and r.stdout == ""  # said, not NaN in the JSON


def test_long_vectors_at_a_low_temperature_never_raise():
    at = app(s="The trophy didn't fit in the suitcase because it was too big", e="contextual", t="0.05")
    assert not at.exception
    assert at.get("plotly_chart") or at.info  # FAVOR+ drawn, or a sentence on why it cannot be
