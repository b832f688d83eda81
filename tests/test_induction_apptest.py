"""The Induction heads page under AppTest: a shared link's settings, Train in bounded chunks shared per
server, Stop, Reset, bad links, the replay and the circuit, generation token by token, bad tokens; every
number of the run's summary, the probe caption and the generation captions recomputed on its own.

AppTest does not run a fragment's timer: each `at.run()` stands for one tick of it.
"""

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import ui
from attnviz.learn import induction, transformer
from tests.apptest_charts import decode, figure
from tests.test_pages import app as pages_app

PAGE = "pages/9_Induction_heads.py"


def app(**params) -> AppTest:
    ui.induction_run.clear()
    return pages_app(PAGE, **params)


def train(at: AppTest, max_ticks: int = 400) -> int:
    at.button(key="ind_go").click().run()
    ticks = 0
    while any(p for p in at.get("progress")) and ticks < max_ticks:
        at.run()
        ticks += 1
        assert not at.exception, at.exception
    return ticks


def summary(at: AppTest) -> list[str]:
    return [line for m in at.markdown for line in m.value.split("  \n") if line.startswith("**1 layer") or
            line.startswith("**2 layers")]  # fmt: skip


def test_a_link_sets_the_run_and_train_goes_in_chunks_then_the_summary_is_the_runs():
    at = app(steps="500", seed="3", probe="5", lr="0.004")
    assert at.select_slider(key="_w_ind_steps").value == 500
    assert at.number_input(key="_w_ind_seed").value == 3
    assert at.info[0].value.startswith("Press Train")
    ticks = train(at)
    assert ticks >= 3  # bounded chunks: a tick trains at most one checkpoint's worth of steps per model
    assert not at.get("progress")
    settings = induction.Settings(steps=500, seed=3, probe_seed=5, lr=0.004)
    lines = summary(at)
    assert len(lines) == 3
    for (name, (layers, smeared)), line in zip(ui.INDUCTION_MODELS.items(), lines):
        t = induction.Trainer(induction.Settings(**{**settings.__dict__, "layers": layers, "smeared_keys": smeared}))
        while not t.done:
            t.run(1000)
        last = t.checkpoints[-1]
        want = f"**{name}** (step {last.step:,}): loss {last.loss:.2f} nats, "
        want += f"best induction score {last.best_induction:.2f}"
        change = induction.phase_change(t.checkpoints)
        assert line == want + (f". {induction.describe(change)}" if change else "."), name
    # the replay's probe caption: where the copies are, from the probe itself
    probe = induction.probe(5)
    a, b, size = int(probe.start[0]), int(probe.repeat[0]), int(probe.size[0])
    caption = next(c.value for c in at.caption if c.value.startswith("The probe:"))
    assert f"positions {a}–{a + size - 1} repeated at {b}–{b + size - 1} (offset {b - a})" in caption
    grid = figure(at, "ind_grid")
    assert len(grid["data"]) == 2 * 4  # the 2-layer model's 8 heads


def test_stop_and_reset_and_a_class_shares_one_run():
    at = app(steps="1000")
    at.button(key="ind_go").click().run()
    at.run()
    at.button(key="ind_stop").click().run()
    step = ui.induction_run(induction.Settings(steps=1000)).trainers["2 layers"].step
    assert 0 < step < 1000
    assert any("Stopped at step" in w.value for w in at.warning)
    other = pages_app(PAGE, steps="1000")  # a second student on the same link sees the same run
    assert ui.induction_run(induction.Settings(steps=1000)).trainers["2 layers"].step == step
    assert any(f"Stopped at step {step:,}" in w.value for w in other.warning)
    at.button(key="ind_reset").click().run()
    assert ui.induction_run(induction.Settings(steps=1000)).trainers["2 layers"].step == 0
    assert not at.exception


def test_play_replays_the_checkpoints_from_the_first_to_the_last_then_stops():
    at = app(steps="500")
    train(at)
    cps = ui.induction_run(induction.Settings(steps=500)).trainers["2 layers"].checkpoints
    steps = [c.step for c in cps]
    slider = next(s for s in at.select_slider if s.label == "Step")
    assert slider.value == steps[-1]  # after the run: its last checkpoint
    at.button(key="ind_play").click().run()
    seen = [next(s for s in at.select_slider if s.label == "Step").value]
    assert seen == [steps[0]] and at.button(key="ind_play").label == "Pause"
    for _ in range(len(steps) + 2):  # each run stands for one tick of the replay's timer
        at.run()
        assert not at.exception
        seen.append(next(s for s in at.select_slider if s.label == "Step").value)
    assert seen[: len(steps)] == steps and seen[-1] == steps[-1]
    assert at.button(key="ind_play").label == "Play"  # at the end it stops by itself
    # the grid drawn at a step is that checkpoint's weights
    at.select_slider(key=next(s.key for s in at.select_slider if s.label == "Step")).set_value(steps[2]).run()
    grid = figure(at, "ind_grid")
    np.testing.assert_allclose(decode(grid["data"][5]["z"]), cps[2].weights[1, 1], atol=1e-6)
    assert f"W at step {steps[2]:,}" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("params", [{"steps": "abc"}, {"lr": "-1"}, {"seed": "x"}, {"hide": "nonsense"}])
def test_bad_links_give_a_page_not_a_traceback(params):
    at = app(**params)
    assert not at.exception
    assert at.button(key="ind_go") is not None


def test_hide_leaves_controls_out():
    at = app(hide="lr,seed")
    keys = {w.key for w in at.select_slider} | {w.key for w in at.number_input}
    assert "_w_ind_lr" not in keys and "_w_ind_seed" not in keys and "_w_ind_steps" in keys


def test_generation_token_by_token_and_its_captions():
    at = app(steps="500")
    train(at)
    at.text_input(key="ind_typed").input("5 17 42 8 30 61 2 9 5 17").run()
    at.button(key="ind_next").click().run()
    seq_line = next(m.value for m in at.markdown if m.value.startswith("Sequence:"))
    seq = [int(s.strip("*")) for s in seq_line.split(":", 1)[1].split()]
    assert seq[:10] == [5, 17, 42, 8, 30, 61, 2, 9, 5, 17] and len(seq) == 11
    two = ui.induction_run(induction.Settings(steps=500)).trainers["2 layers"]
    assert seq[10] == int(induction.predict(two.params, two.config, np.array(seq[:10]))[-1])
    f = transformer.forward(two.params, two.config, np.array(seq)[None])
    t = len(seq) - 1
    probs = np.exp(f.log_probs[0, t])
    top = int(np.argmax(probs))
    layer1 = int(np.argmax(two.checkpoints[-1].induction[1]))
    looked = int(np.argmax(f.patterns[1, 0, layer1, t, : t + 1]))
    captions = " ".join(c.value for c in at.caption)
    assert f"layer 1's head {layer1} put its largest weight on position {looked} (token {seq[looked]})" in captions
    assert f"the most likely, {top}, has p = {probs[top]:.2f}" in captions
    rows = figure(at, "ind_rows")["data"][0]
    assert len(rows["y"]) == two.config.heads


@pytest.mark.parametrize("typed", ["5 x 99", "<b>1</b>", "64", "-1 2", "😀"])
def test_tokens_outside_the_vocabulary_get_a_message(typed):
    at = app(steps="500")
    at.text_input(key="ind_typed").input(typed).run()
    assert not at.exception
    assert any(e.value.startswith("Tokens are whole numbers from 0 to 63") for e in at.error)
    assert "<b>" not in " ".join(e.value for e in at.error)  # shown as text, escaped


def test_the_page_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=120); at.run()\n"
        "at.switch_page('pages/9_Induction_heads.py').run()\n"
        "assert not at.exception, at.exception\nprint('torch' in sys.modules)"
    )
    from tests.test_pages import ROOT

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert re.search(r"False\s*$", out.stdout), out.stderr[-2000:]


def test_the_circuit_section_says_what_each_head_writes_and_where_layer_1_reads_it():
    """After the phase change: the stripes of the previous-token head and the induction head, and the knockout
    sentence, every number recomputed here from the trained weights by knock_out (not read_paths)."""
    at = app(steps="1000")
    train(at)
    two = ui.induction_run(induction.Settings(steps=1000)).trainers["2 layers"]
    last = two.checkpoints[-1]
    prev = induction.previous_token_head(last)
    assert prev is not None  # seed 0 builds the textbook pair by step 1,000
    head0, layer1 = prev[0], int(np.argmax(last.induction[1]))
    assert figure(at, "ind_prev")["layout"]["title"]["text"].startswith(f"layer 0, head {head0}: previous token")
    assert figure(at, "ind_ind")["layout"]["title"]["text"].startswith(f"layer 1, head {layer1}: induction")

    def score(heads, paths):
        k = induction.knock_out(two.params, two.config, two.eval.tokens, heads, paths)
        return float(induction.induction_score(k.weights, two.eval)[layer1]), induction.repeat_loss(
            k.log_probs, two.eval
        )

    every = list(range(two.config.heads))
    (s, loss), (s0, loss0), (s_all, loss_all) = score([0], ""), score([head0], "K"), score(every, "K")
    (q_all, _), (_, v_loss) = score(every, "Q"), score(every, "V")
    text = next(m.value for m in at.markdown if m.value.startswith("Taken out of its keys"))
    assert text.startswith(
        f"Taken out of its keys, head {head0}'s output takes layer 1's head {layer1} from {s:.2f} to {s0:.2f} "
        f"(the loss on the repeated tokens from {loss:.2f} to {loss0:.2f} nats); all of layer 0's, to {s_all:.2f} "
        f"({loss_all:.2f} nats). Taken out of its queries, all of layer 0's leaves it at {q_all:.2f}; out of its "
        f"values it cannot move where the head looks, and the loss goes to {v_loss:.2f} nats."
    )
    assert s_all < 0.2 < 0.6 < s and q_all > 0.6  # what was measured on seeds 0 … 7: the keys are the way in
    assert "So the two layers meet in the keys (K-composition)" in text
    bars = figure(at, "ind_knock")
    assert [t["name"] for t in bars["data"]] == ["from its queries", "from its keys"]
    np.testing.assert_allclose(decode(bars["data"][1]["y"])[[head0, -1]], [s0, s_all], atol=1e-6)
    assert bars["data"][0]["x"][head0] == f"head {head0} (previous token)"
