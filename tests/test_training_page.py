"""The Train attention page under AppTest: shared links, Train pressed, chunks, Stop, presets, errors.

AppTest does not run a fragment's timer, so each `at.run()` stands for one tick of it: while a run is
going, every rerun trains one chunk, as the browser's timer would.
"""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import ui
from attnviz.learn import training
from tests.apptest_charts import decode, figure, heatmap
from tests.test_pages import app as pages_app
from tests.test_pages import run_until_done

PAGE = "pages/5_Train_attention.py"


def app(page: str = PAGE, **params) -> AppTest:
    return pages_app(page, **params)


def train(at: AppTest, *, max_ticks: int = 500) -> int:
    """Press Train and let the fragment tick until the run ends; returns the number of ticks."""
    return run_until_done(at, "train_go", "train_run", max_ticks=max_ticks)


def test_shared_link_configures_and_train_learns_the_anti_diagonal():
    at = app(task="reverse", seed="7", steps="400", live="0")
    assert at.selectbox(key="_w_train_task").value == "reverse"
    assert at.number_input(key="_w_train_seed").value == 7
    assert at.number_input(key="_w_train_steps").value == 400
    assert at.info[0].value.startswith("Press Train")
    ticks = train(at)
    assert 1 <= ticks <= 3  # 400 steps in chunks of 200 when not animated

    trainer = training.train(training.Config(task="reverse", seed=7, steps=400))
    z, rows, cols = heatmap(at, "train_w")
    labels = [f"{i}:{training.VOCAB[t]}" for i, t in enumerate(trainer.probe)]
    assert rows == cols == labels
    np.testing.assert_allclose(z, trainer.checkpoints[-1].weights, atol=1e-12)
    assert np.mean(np.argmax(z, axis=1) == np.arange(8)[::-1]) >= 0.9  # the anti-diagonal
    spec = figure(at, "train_w")
    assert [f["name"] for f in spec["frames"]] == [str(c.step) for c in trainer.checkpoints]
    for frame, cp in zip(spec["frames"], trainer.checkpoints):
        np.testing.assert_allclose(decode(frame["data"][0]["z"]), cp.weights, atol=1e-12)
    loss = decode(figure(at, "train_loss")["data"][0]["y"])
    np.testing.assert_allclose(loss, trainer.losses, rtol=1e-12)
    qk, qrows, _ = heatmap(at, "train_qk")
    assert qrows == list(training.feature_names(8))
    np.testing.assert_allclose(qk, trainer.checkpoints[-1].qk, atol=1e-12)
    assert at.success[0].value == training.describe(trainer)
    assert at.query_params["task"] == "reverse" and at.query_params["seed"] == "7"


def test_animated_run_goes_in_chunks_one_checkpoint_a_tick():
    at = app(task="previous-token", seed="1", steps="100")
    ticks = train(at)
    # one chunk per checkpoint, each drawn: the press itself trains the first one
    assert 1 + ticks == len(training.checkpoint_steps(100)) - 1
    trainer = training.train(training.Config(task="previous-token", seed=1, steps=100))
    np.testing.assert_allclose(heatmap(at, "train_w")[0], trainer.checkpoints[-1].weights, atol=1e-12)


def test_stop_keeps_what_was_learned_so_far():
    at = app(task="reverse", steps="400")
    at.button(key="train_go").click().run()
    for _ in range(5):
        at.run()
    live, _, _ = heatmap(at, "train_w_live")  # the live chart while training
    np.testing.assert_allclose(live.sum(axis=1), 1.0)
    assert "Step" in at.get("progress")[0].proto.text
    at.button(key="train_stop").click().run()
    run = at.session_state["train_run"]
    assert not run.running and 0 < run.trainer.step < 400
    assert f"Stopped at step {run.trainer.step} of 400" in at.warning[0].value
    at.run()
    assert at.session_state["train_run"].trainer.step == run.trainer.step  # stopped means stopped
    at.button(key="train_reset").click().run()
    assert "train_run" not in at.session_state
    assert at.info[0].value.startswith("Press Train")


def test_preset_sets_the_controls_and_explains():
    at = app()
    at.get("button_group")[0].set_value("reverse").run()
    assert at.selectbox(key="_w_train_task").value == "reverse"
    assert training.PRESETS["reverse"].commentary in at.info[0].value
    assert at.query_params["preset"] == "reverse" and at.query_params["task"] == "reverse"
    at.number_input(key="_w_train_seed").set_value(5).run()  # changing a control leaves the preset
    assert "preset" not in at.query_params


def test_preset_link_and_too_large_a_learning_rate_then_reset():
    at = app(preset="too-fast", live="0")
    assert at.select_slider(key="_w_train_lr").value == 3.0
    train(at)
    assert "too large" in at.warning[0].value
    at.button(key="train_reset").click().run()
    assert at.select_slider(key="_w_train_lr").value == training.Config().lr
    assert "train_run" not in at.session_state
    assert at.session_state["train_preset"] is None and "preset" not in at.query_params  # it no longer applies


def test_preset_link_with_its_own_seed():
    at = app(preset="reverse", seed="7")
    assert at.selectbox(key="_w_train_task").value == "reverse"  # the preset's task
    assert at.number_input(key="_w_train_seed").value == 7  # the link's seed
    assert training.PRESETS["reverse"].commentary in at.info[0].value
    other = app(preset="reverse", task="copy")  # the link contradicts the preset: its sentence would mislead
    assert other.selectbox(key="_w_train_task").value == "copy"
    assert other.session_state["train_preset"] is None


def test_lesson_link_hides_controls():
    at = app(task="reverse", hide="lr,d_head,presets,live")
    keys = {w.key for w in at.get("select_slider")} | {w.key for w in at.get("toggle")}
    assert "_w_train_lr" not in keys and "_w_train_d_head" not in keys and "_w_train_live" not in keys
    assert not at.get("button_group")
    assert at.selectbox(key="_w_train_task").value == "reverse"
    assert "learning rate 0.05" in at.markdown[0].value  # what is hidden is still said
    all_hidden = app(hide="all")
    assert not all_hidden.get("selectbox") and not all_hidden.get("number_input")
    assert all_hidden.button(key="train_go")


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"task": "sort"}, {"train_task": "previous-token"}),
        ({"steps": "-5"}, {"train_steps": 1}),
        ({"steps": "1e9"}, {"train_steps": 400}),
        ({"steps": "99999"}, {"train_steps": 5000}),
        ({"length": "99"}, {"train_length": 16}),
        ({"seed": "4294967296"}, {"train_seed": 4294967296}),
        ({"lr": "nan"}, {"train_lr": 0.05}),
        ({"lr": "0.04"}, {"train_lr": 0.05}),
        ({"d_head": "20"}, {"train_d_head": 16}),
        ({"seed": "<b>x</b>"}, {"train_seed": 0}),
        ({"hide": "<script>"}, {"train_hide": ()}),
    ],
)
def test_bad_url_values_fall_back(params, expect):
    at = app(**params)
    for key, value in expect.items():
        assert at.session_state[key] == value


def test_diverged_run_is_a_message_and_a_reset():
    at = app(steps="50", live="0")
    trainer = training.Trainer(training.Config(steps=50))
    trainer.params["W_k"][:] = np.nan
    at.session_state["train_run"] = ui.TrainingRun(trainer)
    at.run()
    assert not at.exception
    assert "diverged" in at.error[0].value and "Reset" in at.error[0].value
    at.button(key="train_reset").click().run()
    assert "train_run" not in at.session_state and not at.error


def test_the_sidebar_leaves_out_what_this_page_does_not_use_and_says_so():
    """The layer trained here reads no sentence, embedding or [CLS]/[SEP], and scales its scores by 1/√d_head
    with no temperature: the shared controls would do nothing, so they are left out (the link keeps them)."""
    link = {"s": "my own sentence", "e": "toy", "special": "1", "t": "0.5", "scale": "sqrt-d"}
    at = app(task="copy", seed="3", steps="30", live="0", **link)
    labels = {w.label for kind in ("text_input", "slider", "radio", "toggle") for w in getattr(at.sidebar, kind)}
    assert not labels & {"Sentence", "Second sentence", "Embedding", "Show [CLS] and [SEP]", "Temperature T", "Scale s"}
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "sentence" in said and "temperature" in said and "scale" in said and "1/√d_head" in said
    assert {k: at.query_params[k] for k in link} == link
    train(at)
    w = heatmap(at, "train_w")[0]
    trainer = training.train(training.Config(task="copy", seed=3, steps=30))  # no T, no s: the same W
    np.testing.assert_array_equal(w, trainer.checkpoints[-1].weights)
    at.switch_page("pages/1_Step_by_step.py").run()  # the sentence and its settings are there on the other pages
    assert at.sidebar.text_input(key="_w_sentence").value == "my own sentence"
    assert at.sidebar.slider(key="_w_temperature").value == 0.5


def test_the_trained_layer_walks_through_the_query_key_value_page():
    """Issue 9's page takes the layer trained here as a head source: X, Q, K, V, S, W, Z, then the readout."""
    at = app(task="previous-token", seed="2", live="0")
    train(at)
    trainer = at.session_state["train_run"].trainer
    at.switch_page("pages/4_Query_key_value.py").run()
    at.radio(key="qkv_source").set_value("trained").run()
    assert not at.exception
    x = training.one_hot(trainer.probe)
    p = trainer.params
    h, rows, _ = heatmap(at, "qkv_h")
    assert rows == training.labels(trainer.probe)
    np.testing.assert_array_equal(h, x)
    spec = figure(at, "qkv_scores")["data"]
    s = (x @ p["W_q"]) @ (x @ p["W_k"]).T / np.sqrt(trainer.config.d_head)
    np.testing.assert_allclose(decode(spec[0]["z"]).astype(float), s, atol=1e-9)  # S (before the causal mask)
    w = decode(spec[1]["z"]).astype(float)
    np.testing.assert_allclose(w, trainer.checkpoints[-1].weights, atol=1e-12)  # the W the Train page showed
    assert np.all(np.triu(w, k=1) == 0)
    at.get("button_group")[0].set_value("Its layer: Z → next H (6–9)").run()
    logits, _, letters = heatmap(at, "qkv_readout")
    assert letters == list(training.VOCAB)
    np.testing.assert_allclose(logits, w @ x @ p["W_v"] @ p["W_out"], atol=1e-9)
    answers = "".join(training.VOCAB[c] for c in np.argmax(logits, axis=1))
    assert f"gives “{answers}”" in at.caption[-1].value
