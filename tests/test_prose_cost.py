"""The prose guard on the Cost of attention page: every number its captions print, recomputed."""

import numpy as np
import pytest

from tests import reference as ref
from tests.apptest_charts import decode, figure
from tests.prose import COMMON, Prose
from tests.test_linear import held_by_linear  # linear attention measured by tracemalloc
from tests.test_training_page import app as train_app


@pytest.fixture(autouse=True)
def _model(model_ready):
    """Every page here is read with the model loaded."""


# --- Cost --------------------------------------------------------------------------------------------

COST = "pages/6_Cost.py"
COST_FIXED = (
    *COMMON,
    "1 · Time and memory against n",
    "2 · What linear attention gets wrong",
    r"4 n^2 d",
    r"8 n^2",
    r"|x|^2/2",
    "n from 16 up",
    "8 bytes a number",
    "(a slope of −0.5)",
    "1/√m",
    "1/√d",
    "slope 2 means time ∝ n²",
    "4·n²·d operations",
    "n ≥ 512",
    "add up to 1",
    "sums to 1",
    "T = 0.1",
    "all-MiniLM-L6-v2",
    "D^{-1}",
    "from n = 256 to 8,192",  # tests/test_linear.py measures those
)


def linear_memory_claim(prose: Prose, drawn: list, *, d: int, m: int) -> int:
    """“Linear … works through B rows at a time: X MB at every n from B on”: the memory stops growing at
    n = B (measured), the line drawn is flat at X from there, and X is what is measured there, within 2×."""
    block, mb, again = prose.take(
        rf"Linear \(d = {d}, m = {m}\) works through (\d+) rows at a time: ([\d.]+) MB at every n from ([\d,]+) on\."
    )[0]
    block = int(block)
    assert int(again.replace(",", "")) == block
    at_block = held_by_linear(block, d, m)  # from there on flat, but for a few kB of Python's own
    assert held_by_linear(block // 2, d, m) < 0.8 * at_block
    assert abs(held_by_linear(4 * block, d, m) - at_block) < 0.02 * at_block
    ns, line = decode(drawn[1]["x"]), decode(drawn[1]["y"])
    assert {f"{y / 1e6:.3g}" for y in line[ns >= block]} == {mb}
    held = held_by_linear(8192, d, m)
    assert 0.5 * held <= float(mb) * 1e6 <= 2 * held, (mb, held)
    return block


def band(value: float, target: float, about: float) -> str:
    return "about" if abs(value - target) <= about else "below" if value < target else "above"


def time_claims(prose: Prose, drawn: list, *, d: int, m: int, block: int) -> None:
    """The time chart's caption, from the lines drawn: fitted slopes and their words, the products' line and how
    far exact attention is from it, where linear attention is faster."""
    ns = decode(drawn[0]["x"]).astype(float)
    exact, lin, products = (decode(t["y"]).astype(float) for t in drawn[:3])
    prose.has(f"on log–log axes (d = {d}, m = {m})")
    big = ns >= 512
    if big.sum() < 2:
        prose.has("The slopes are fitted for n ≥ 512, once two such sizes are measured")
        assert "slope" not in drawn[0]["name"]
    else:
        fits = [np.polyfit(np.log(ns[big]), np.log(y[big]), 1)[0] for y in (exact, lin)]
        said = prose.take(r"the exact line's slope is (\d+\.\d\d), (about|below|above) 2")
        said += prose.take(r"the linear one's is (\d+\.\d\d), (about|below|above) 1")
        assert said == [(f"{fits[0]:.2f}", band(fits[0], 2, 0.1)), (f"{fits[1]:.2f}", band(fits[1], 1, 0.1))]
        assert [t["name"] for t in drawn[:2]] == [
            f"exact softmax (slope {fits[0]:.2f})",
            f"linear (FAVOR+) (slope {fits[1]:.2f})",
        ]
        if said[1][1] == "below":  # the work is the same blocks one after another: said with their size
            prose.has(f"the same blocks of {block} rows")
    rates, times = 4 * ns**2 * d / products, exact / products
    prose.has(
        f"timed on the same inputs: {rates.min() / 1e9:.1f}–{rates.max() / 1e9:.1f} billion operations per second "
        f"here. The whole takes {times.min():.2f}–{times.max():.2f}× as long"
    )
    if times.min() < 1:
        prose.has("less than the products alone at n = " + ", ".join(f"{n:,.0f}" for n, t in zip(ns, times) if t < 1))
    else:
        assert ": the rest is the softmax's passes" in prose
    faster = lin < exact
    from_n = next((ns[i] for i in range(len(ns)) if all(faster[i:])), None)
    prose.has(
        f"Linear attention is faster from n = {from_n:,.0f} on."
        if from_n
        else f"Linear attention was not faster at n = {ns[-1]:,.0f}, the largest measured."
    )


def favor_weights(x: np.ndarray, omega: np.ndarray, *, factor: float = 1.0, causal: bool = False) -> np.ndarray:
    """FAVOR+'s implied W written out from the paper's φ, given the random features Ω: q = k = x·√factor, the
    keys centred (a constant per query, which a softmax ignores); per-row and per-matrix constants cancel."""
    q, k = x * np.sqrt(factor), (x - x.mean(axis=0)) * np.sqrt(factor)
    log_q, log_k = (z @ omega.T - 0.5 * np.sum(z * z, axis=1, keepdims=True) for z in (q, k))
    a = np.exp(log_q - log_q.max(axis=1, keepdims=True)) @ np.exp(log_k - log_k.max()).T
    a = np.tril(a) if causal else a
    return a / a.sum(axis=1, keepdims=True)


def error_claims(prose: Prose, at, x: np.ndarray, exact: np.ndarray, *, m: int, seed: int) -> None:
    """The Δ caption and the error curve's, recomputed from the paper's φ (Ω drawn as the page draws it)."""
    from attnviz.attention.linear import draw  # the random features only: everything else is written out above

    delta = favor_weights(x, draw(m, x.shape[1], seed)) - exact
    prose.has(
        f"FAVOR+ with m = {m}",
        f"Mean |Δ| = {np.abs(delta).mean():.2e}, largest {np.abs(delta).max():.2e} (m = {m}, seed {seed}).",
    )
    drawn = figure(at, "cost_errors")["data"][0]
    ms = decode(drawn["x"]).astype(float)
    assert list(ms) == [2**k for k in range(2, 13)]
    curve = np.array(
        [np.mean([np.abs(favor_weights(x, draw(int(k), x.shape[1], s)) - exact).mean() for s in range(3)]) for k in ms]
    )
    np.testing.assert_allclose(decode(drawn["y"]), curve, rtol=1e-9)
    prose.has(f"mean |Δ| goes from {curve[2]:.1e} at m = 16 to {curve[-1]:.1e} at m = 4096.", "three seeds")
    fit = np.polyfit(np.log(ms), np.log(curve), 1)[0]
    words = {"about": "about as", "below": "faster than", "above": "more slowly than"}[band(fit, -0.5, 0.05)]
    prose.has(f"Fitted over m = 4 … 4096, its slope on these log–log axes is −{-fit:.2f}: it falls {words} 1/√m")


@pytest.mark.parametrize(("max_n", "m"), [("256", "64"), ("1024", "16")])
def test_cost_page_text(max_n, m):
    text = "the quick brown fox jumps over the lazy dog"
    at = train_app(page=COST, s=text, max_n=max_n, d="16", m=m, features="64", fseed="3")
    at.button(key="cost_go").click().run()
    while at.session_state["cost_run"].running:
        at.run()
        assert not at.exception
    prose = Prose(at)
    m = int(m)
    block = linear_memory_claim(prose, figure(at, "cost_memory")["data"], d=16, m=m)
    time_claims(prose, figure(at, "cost_time")["data"], d=16, m=m, block=block)
    for name, gib in (("a laptop (16 GiB)", 16), ("a GPU (80 GiB)", 80)):
        prose.has(f"{name} at n = {int(np.sqrt(gib * 2**30 / 8)) + 1:,}")
    config = ref.model()[0].auto_model.config
    prose.has(
        f"reads at most {ref.model().max_seq_length} word pieces",
        f"position vectors for {config.max_position_embeddings}",
    )
    x = ref.static(text)[1]
    error_claims(prose, at, x, ref.seed_attention(x)[1], m=64, seed=3)
    prose.fixed(*COST_FIXED).done()
