"""Attention that learns (seed 002's last step): train one attention layer and watch W take shape."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.learn import training
from attnviz.ui import Setting

LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.3, 1.0, 3.0, 10.0)
D_HEADS = (1, 2, 4, 8, 16, 32, 64)
CONTROLS = ("presets", "task", "length", "d_head", "lr", "steps", "seed", "live")
MAX_STEPS = 5000  # a press's cap here (the CLI's is higher): 25 chunks at most
MAX_SEED = 2**53 - 1  # the largest whole number a browser's number box holds exactly
PACE_S = 0.08  # the fragment's timer while animating: ~40 updates a run, each drawn in the browser
CHUNK = 200  # at most this many steps between two updates (measured in benchmarks/bench_train.py)
RUN = "train_run"

default = training.Config()
SETTINGS = {
    "train_preset": Setting("preset", None, ui.one_of(tuple(training.PRESETS))),
    "train_task": Setting("task", default.task, ui.one_of(tuple(training.TASKS))),
    "train_length": Setting("length", default.length, ui.whole(*training.LENGTH_RANGE)),
    "train_d_head": Setting("d_head", default.d_head, lambda raw: int(ui.nearest(D_HEADS)(raw))),
    "train_lr": Setting("lr", default.lr, ui.nearest(LEARNING_RATES)),
    "train_steps": Setting("steps", default.steps, ui.whole(1, MAX_STEPS)),
    "train_seed": Setting("seed", default.seed, ui.whole(0, MAX_SEED)),
    "train_hide": Setting("hide", (), ui.some_of(CONTROLS)),
    "train_live": Setting("live", True, ui.flag),
}
PRESET_KEYS = {"train_task": "task", "train_length": "length", "train_d_head": "d_head", "train_lr": "lr",
               "train_steps": "steps", "train_seed": "seed"}  # fmt: skip


def apply_preset(keep: frozenset[str] = frozenset()) -> None:
    """Give the controls the chosen preset's settings (all but those in `keep`)."""
    if (name := st.session_state["train_preset"]) is not None:
        config = training.PRESETS[name].config
        for key, field in PRESET_KEYS.items():
            if key not in keep:
                ui.set_setting(key, getattr(config, field))


def clear_preset() -> None:
    ui.set_setting("train_preset", None)


def config() -> training.Config:
    return training.Config(**{field: st.session_state[key] for key, field in PRESET_KEYS.items()})


def start() -> None:
    st.session_state[RUN] = ui.TrainingRun(training.Trainer(config()))


def stop() -> None:
    if (run := st.session_state.get(RUN)) is not None:
        run.running = False


def reset() -> None:
    """Forget the run; after a learning rate that overshoots, go back to the default one."""
    st.session_state.pop(RUN, None)
    if st.session_state["train_lr"] > 0.5:
        ui.set_setting("train_lr", default.lr)
        clear_preset()


in_link = frozenset(k for k in PRESET_KEYS if SETTINGS[k].url in st.query_params)  # before setup writes them
# The layer trained here reads letters, not the sentence, and scales its scores by 1/√d_head with no
# temperature: the sidebar's sentence, embedding, [CLS]/[SEP], T and s would do nothing, so they are left out.
NOTE = ("This page trains its own attention layer on sequences of letters, its scores scaled by 1/√d_head and no "
        "temperature: the sentence, the embedding, [CLS]/[SEP], the temperature and the scale are used on the "
        "other pages.")  # fmt: skip
ui.setup("Train attention", SETTINGS, text=False, attention=False, note=NOTE)
if "train_arrived" not in st.session_state:  # a shared link: its preset, then the settings it names itself
    st.session_state["train_arrived"] = True
    if (name := st.session_state["train_preset"]) is not None:
        apply_preset(keep=in_link)
        preset = training.PRESETS[name].config
        if (st.session_state["train_task"], st.session_state["train_lr"]) != (preset.task, preset.lr):
            clear_preset()  # the link changes what the preset's sentence is about
hidden = set(st.session_state["train_hide"])

st.title("Train attention: watch W learn")
st.caption(
    "The seed ends where training begins: in a transformer, the matrices that make queries, keys and values are "
    "learned from data. Here one attention layer learns a small task from scratch, with gradients written out "
    "by hand in NumPy, while you watch its attention pattern W take shape."
)

# --- settings --------------------------------------------------------------------------------
if "presets" not in hidden:
    st.segmented_control(
        "Preset",
        tuple(training.PRESETS),
        format_func=lambda name: training.PRESETS[name].label,
        **ui.widget("train_preset", then=apply_preset),
    )
if (preset := st.session_state["train_preset"]) is not None:
    st.info(training.PRESETS[preset].commentary, icon=":material/visibility:")
shown = [c for c in CONTROLS[1:] if c not in hidden]
if shown:
    cols = dict(zip(shown, st.columns(len(shown))))
    edit = {"then": clear_preset}
    if "task" in cols:
        cols["task"].selectbox("Task", tuple(training.TASKS), **ui.widget("train_task", **edit))
    if "length" in cols:
        cols["length"].slider("Sequence length n", *training.LENGTH_RANGE, **ui.widget("train_length", **edit))
    if "d_head" in cols:
        cols["d_head"].select_slider("d_head", D_HEADS, **ui.widget("train_d_head", **edit))
    if "lr" in cols:
        cols["lr"].select_slider("Learning rate", LEARNING_RATES, **ui.widget("train_lr", **edit))
    if "steps" in cols:
        cols["steps"].number_input("Steps", 1, MAX_STEPS, step=50, **ui.widget("train_steps", **edit))
    if "seed" in cols:
        cols["seed"].number_input("Seed", 0, MAX_SEED, step=1, **ui.widget("train_seed", **edit))
    if "live" in cols:
        cols["live"].toggle("Animate", help="Pause between updates so the class can watch.", **ui.widget("train_live"))
cfg = config()
task = training.get_task(cfg.task)
st.markdown(
    f"**{task.name}**: {task.description} The attention it needs: **{task.pattern}**. "
    f"Sequences of n = {cfg.length} letters from a–{training.VOCAB[-1]}, batches of {cfg.batch}, d_head = "
    f"{cfg.d_head}, learning rate {cfg.lr:g}, {cfg.steps} steps, seed {cfg.seed}."
)
st.latex(
    r"X = [\,\mathrm{onehot}(\text{letter}) \mid \mathrm{onehot}(\text{position})\,],\qquad "
    r"W = \operatorname{softmax}\!\left(\frac{X W_q\,(X W_k)^\top}{\sqrt{d_{head}}}\right)"
)
st.latex(
    r"\text{logits} = W\,X W_v\,W_{out},\qquad \text{loss} = -\operatorname{mean}_i \log p_i(\text{target}_i),"
    r"\qquad \text{Adam on } W_q, W_k, W_v, W_{out}"
)

b1, b2, b3, _ = st.columns([1, 1, 1, 5])
b1.button("Train", type="primary", on_click=start, key="train_go", icon=":material/play_arrow:")
b2.button("Stop", on_click=stop, key="train_stop", icon=":material/stop:")
b3.button("Reset", on_click=reset, key="train_reset", icon=":material/restart_alt:")

# --- training, in chunks, drawn as it goes ------------------------------------------------------
run: ui.TrainingRun | None = st.session_state.get(RUN)
live = st.session_state["train_live"]
shown_trainer = run.trainer if run is not None else training.Trainer(cfg)  # before Train: the untrained layer


@st.fragment(run_every=(PACE_S if live else 0.01) if run is not None and run.running else None)
def training_view() -> None:
    """While a run is going, each rerun of this fragment trains one chunk and redraws only itself
    (the charts update in place); the page stays usable in between. Then the whole page reruns."""
    run: ui.TrainingRun | None = st.session_state.get(RUN)
    trainer = shown_trainer
    if run is not None and run.running:
        try:
            trainer.run(min(trainer.until_checkpoint(), CHUNK) if live else CHUNK)
        except training.TrainingError as e:
            run.error = str(e)
        if trainer.done or run.error:
            run.running = False
            st.rerun(scope="app")
    labels = training.labels(trainer.probe)
    if run is None:
        st.info("Press Train. Below: the layer before training, with random weights.", icon=":material/play_arrow:")
    elif run.running:
        st.progress(
            trainer.step / trainer.config.steps,
            text=f"Step {trainer.step} of {trainer.config.steps}: loss {trainer.losses[-1]:.4f}",
        )
    elif run.error:
        st.error(run.error + " Press Reset.", icon=":material/error:")
    elif not trainer.done:
        st.warning(f"Stopped at step {trainer.step} of {trainer.config.steps}. Press Train to start again.")
    elif (problem := training.warning(trainer)) is not None:
        st.warning(problem, icon=":material/warning:")
    else:
        st.success(training.describe(trainer), icon=":material/check_circle:")
    if run is not None and trainer.config != cfg:
        st.caption("The charts show the last run; the settings above have changed since. Press Train to use them.")

    left, right = st.columns(2)
    with left:
        st.subheader("Loss")
        ui.chart(figures.loss_curve(trainer.losses, steps=trainer.config.steps), key="train_loss")
        st.caption(
            "The loss at every step: how surprised the model is by the right letters "
            f"(ln {len(training.VOCAB)} ≈ {np.log(len(training.VOCAB)):.2f} is a blind guess among the letters)."
        )
    with right:
        st.subheader("W on one sequence")
        cps = trainer.checkpoints
        if run is not None and run.running:
            ui.chart(figures.weights_heatmap(cps[-1].weights, labels), key="train_w_live")
        else:
            frames = np.stack([c.weights for c in cps])
            ui.chart(figures.weights_animation(frames, [c.step for c in cps], labels), key="train_w")
        st.caption(
            "Attention W on a fixed sequence drawn from the task (rows: queries, columns: keys, labelled "
            "position:letter); each row sums to 1. After training, press ▶ Play or drag the step slider to replay it."
        )


training_view()
trainer = shown_trainer

# --- why: the learned bilinear form ---------------------------------------------------------
st.header("Why this pattern: W_q W_kᵀ over the named features")
names = training.feature_names(trainer.config.length)
cps = trainer.checkpoints
st.latex(
    r"s_{ij} = \frac{q_i \cdot k_j}{\sqrt{d_{head}}} = x_i \left(\frac{W_q W_k^\top}{\sqrt{d_{head}}}\right) x_j^\top"
)
ui.chart(
    figures.heatmap(
        cps[-1].qk,
        names,
        names,
        signed=True,
        row_name="query feature",
        col_name="key feature",
        value_name="score",
        height=120 + 20 * len(names),  # a label on every row
    ),
    key="train_qk",
)
st.caption(
    "Each x is one letter feature plus one position feature, so a score is the sum of four cells: letter–letter, "
    "letter–position, position–letter and position–position. A pattern by position (previous token, reverse) "
    "shows in the bottom-right block; a pattern by content (largest letter) in the top-left one."
)
