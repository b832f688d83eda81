"""The prose guard on the Train attention page: every number its captions print, recomputed."""

import numpy as np
import pytest

from tests.apptest_charts import decode, figure, heatmap
from tests.prose import COMMON, Prose
from tests.test_prose_query_key_value import QKV, QKV_FIXED
from tests.test_training_page import app as train_app
from tests.test_training_page import train


@pytest.fixture(autouse=True)
def _model(model_ready):
    """Every page here is read with the model loaded."""


# --- the trained layer on the QKV page, and the Train page ------------------------------------------

TRAIN_FIXED = (*COMMON, r"\sqrt{d_{head}}", "scaled by 1/√d_head", "four cells", "sums to 1", "position n − 1 − i")


def task_keys(task: str, letters: list[int]) -> list[int]:
    """The key each position should attend to, written out from the README's task list (-1: none)."""
    n = len(letters)
    if task == "reverse":
        return [n - 1 - i for i in range(n)]
    if task == "previous-token":
        return [-1, *range(n - 1)]
    if task == "first-token":
        return [0] * n
    if task == "copy":
        return list(range(n))
    raise ValueError(task)


@pytest.mark.parametrize(("task", "seed", "steps"), [("reverse", 7, 400), ("previous-token", 2, 300), ("copy", 0, 1)])
def test_train_page_text(task, seed, steps):
    from attnviz.learn import training

    at = train_app(task=task, seed=str(seed), steps=str(steps), live="0")
    prose = Prose(at)
    letters = 26
    prose.has(f"(ln {letters} ≈ {np.log(letters):.2f} is a blind guess among the letters)")
    prose.has(
        "Sequences of n = 8 letters from a–z, batches of 32, d_head = 16, "
        f"learning rate 0.05, {steps} steps, seed {seed}."
    )
    prose.fixed(*TRAIN_FIXED).done()
    train(at)
    prose = Prose(at)
    w = heatmap(at, "train_w")[0]
    loss = decode(figure(at, "train_loss")["data"][0]["y"])
    rows_labels = heatmap(at, "train_w")[1]
    letters_seq = [ord(label.split(":")[1]) - ord("a") for label in rows_labels]
    keys = task_keys(task, letters_seq)
    rows = [i for i, k in enumerate(keys) if k >= 0]
    if task in ("previous-token", "first-token"):
        rows = [i for i in rows if i > 0]  # causal: row 0 sees one key only
    share = np.mean([w[i, keys[i]] for i in rows])
    hits = sum(int(np.argmax(w[i]) == keys[i]) for i in rows)
    fmt = lambda x: f"{x:.2f}" if x >= 0.01 else f"{x:.1e}"  # noqa: E731
    loss_part = (
        f"the loss on the first batch was {fmt(loss[0])}"
        if len(loss) == 1
        else f"the loss {'fell' if loss[-1] < loss[0] else 'went'} from {fmt(loss[0])} to {fmt(loss[-1])}"
    )
    warning = " ".join(x.value for x in at.warning)
    if "only went" in warning:  # one step: the loss barely moved, and the page says so instead
        prose.has(f"The loss only went from {loss[0]:.2f} to {loss[-1]:.2f}")
    elif "W does not show" in warning:
        prose.has(f"The loss fell from {fmt(loss[0])} to {fmt(loss[-1])}", f"only {hits} of {len(rows)} rows")
    else:
        prose.has(f"Each position now puts on average {share:.0%} of its weight on")
        prose.has(f"({hits} of {len(rows)} rows put the most weight there); {loss_part}.")
    prose.has(f"(ln {letters} ≈ {np.log(letters):.2f}")
    prose.has(f"learning rate 0.05, {steps} steps, seed {seed}.", "n = 8 letters", "batches of 32", "d_head = 16")
    prose.fixed(*TRAIN_FIXED).done()
    assert training.VOCAB[-1] == "z"


def test_trained_layer_on_the_qkv_page_text():
    at = train_app(task="previous-token", seed="2", live="0")
    train(at)
    trainer = at.session_state["train_run"].trainer
    at.switch_page(QKV).run()
    at.radio(key="qkv_source").set_value("trained").run()
    at.get("button_group")[0].set_value("Its layer: Z → next H (6–9)").run()
    logits, rows, letters = heatmap(at, "qkv_readout")
    prose = Prose(at)
    n = len(rows)
    assert trainer.step == 400  # the default number of steps (README)
    prose.has(
        "The pipeline of the layer trained on previous-token (400 steps), "
        f"on the sequence the Train page shows ({n} letters"
    )
    answers = "".join(letters[c] for c in np.argmax(logits, axis=1))
    seq = [label.split(":")[1] for label in rows]
    wanted = "·" + "".join(seq[:-1])  # the previous letter; none for the first position
    prose.has(
        f"a score for each of the {len(letters)} letters. Reading the largest score per row gives “{answers}”; "
        f"the task wants “{wanted}”"
    )
    prose.has("6 · Readout")
    prose.fixed(*QKV_FIXED, r"\sqrt{d_{head}}").done()
