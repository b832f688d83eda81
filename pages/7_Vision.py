"""Attention over image patches (the Vision Transformer's idea) on the 8 × 8 digits, and a tiny
attention classifier trained live."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.learn import baselines, classifier, training, vision
from attnviz.ui import Setting

MAX_SEED = 2**53 - 1  # the largest whole number a browser's number box holds exactly
PACE_S = 0.05  # the fragment's timer while training: one epoch a tick
GALLERY = 8  # test digits shown with the classifier's attention

SETTINGS = {
    "vision_index": Setting("i", 0, ui.whole(0, vision.N_IMAGES - 1)),
    "vision_patch": Setting("p", 2, lambda raw: vision.check_patch(int(raw))),
    "vision_pos": Setting("pos", False, ui.flag),
    "vision_query": Setting("q", None, ui.whole(0, 63)),  # None: the patch with the most ink
    "vision_seed": Setting("seed", 0, ui.whole(0, MAX_SEED)),
}
RUN = "vision_run"


def random_digit() -> None:
    ui.set_setting("vision_index", int(np.random.default_rng().integers(vision.N_IMAGES)))
    new_grid()


def new_grid() -> None:
    """A new patch size or digit: let the page choose the query patch again (the one with the most ink)."""
    ui.set_setting("vision_query", None)


def clicked() -> None:
    """A patch clicked on the image: make it the query."""
    points = [p for p in st.session_state["vision_paint"].selection.points if p.get("curve_number") == 3]
    if points:  # the fourth trace holds one square marker per patch, in patch order
        ui.set_setting("vision_query", int(points[0]["point_index"]))


settings = ui.setup("Vision", SETTINGS, text=False)
st.title("Vision: attention over image patches")
st.caption(
    "Seed 000 names the Vision Transformer: “models can establish relationships between different regions in an "
    "image”. A ViT cuts an image into patches and lets the patches attend to each other as words do. Here: "
    "scikit-learn's 8 × 8 handwritten digits, the same attention as for a sentence, and a tiny classifier you train."
)

# --- the digit and its patches ---------------------------------------------------------------------
c1, c2, c3, c4 = st.columns([2, 1, 2, 2], vertical_alignment="bottom")
c1.number_input(
    f"Digit (0 – {vision.N_IMAGES - 1})", 0, vision.N_IMAGES - 1, step=1, **ui.widget("vision_index", then=new_grid)
)
c2.button("Random", on_click=random_digit, key="vision_random", icon=":material/casino:")
c3.segmented_control("Patch size P (pixels on a side)", vision.PATCH_SIZES, **ui.widget("vision_patch", then=new_grid))
c4.toggle(
    "Position features",
    help="Append each patch's one-hot index, so a patch vector also says where the patch is.",
    **ui.widget("vision_pos"),
)
if st.session_state["vision_patch"] is None:  # a segmented control can be clicked off: keep the last size
    ui.set_setting("vision_patch", SETTINGS["vision_patch"].default)
index, patch, positions = (st.session_state[k] for k in ("vision_index", "vision_patch", "vision_pos"))
data = vision.digits()
image, digit = data.images[index], int(data.targets[index])
trace = vision.attention(image, patch, positions=positions, scale=settings.scale, temperature=settings.temperature)
labels, k, d = trace.tokens, trace.n, trace.d
ink = vision.patches(image, patch).sum(axis=1)  # [k] how much ink each patch holds, in pixels' worth
side = int(np.sqrt(k))

where = f", then its one-hot index (d = {patch * patch} + {k})" if positions else ""
st.markdown(
    f"Digit #{index} is a **{digit}**. Cut into **{k} patches** of {patch} × {patch} pixels, read row by row; each "
    f"patch becomes a vector of d = {d} numbers: its pixels / 16 in reading order{where}."
)
s_tex = "1" if settings.scale == "none" else rf"\tfrac{{1}}{{\sqrt{{{d}}}}}"
st.latex(
    rf"x_{{rc}} = \tfrac{{1}}{{16}}\,\mathrm{{image}}[{patch}r : {patch}r{{+}}{patch},\; {patch}c : {patch}c{{+}}"
    rf"{patch}]\qquad W = \operatorname{{softmax}}\!\left(\frac{{s\,X X^\top}}{{T}}\right),\; s = {s_tex},\; "
    rf"T = {settings.temperature:g}"
)

left, right = st.columns([3, 2], gap="large")
with right:
    query = ui.pick(
        "Query patch",
        [f"{labels[j]} (row {j // side}, column {j % side})" for j in range(k)],
        key="vision_query",
        default=int(np.argmax(ink)),  # the patch with the most ink, when the page chooses
        url=SETTINGS["vision_query"].url,
    )
    ui.chart(
        figures.digit_attention(image, patch, labels, row=trace.weights[query], query=query),
        key="vision_paint",
        on_select=clicked,
        selection_mode="points",
    )
    top = vision.strongest(trace.weights[query], labels)
    st.caption(
        f"Patch {labels[query]}'s row of W painted back onto the digit (click a patch to choose another): the "
        f"brighter, the more it takes from that patch. It takes most from "
        + ", ".join(f"{name} ({w:.3f})" for name, w in top)
        + "."
    )
with left:
    ui.chart(figures.weights_heatmap(trace.weights, labels), key="vision_w")
    blank = int(np.sum(ink == 0))
    st.caption(
        f"W over the {k} patches: row i is how much patch i takes from every patch; each row adds up to 1. "
        + (
            f"{blank} of the {k} patches are blank (every pixel 0): their scores are all 0"
            + (" except 1 with themselves (the position feature)" if positions else "")
            + f", so their rows are {'nearly ' if positions else ''}even, 1/{k} = {1 / k:.4f} each."
            if blank
            else "No patch is blank here: every patch holds some ink."
        )
    )
st.caption(
    "Without learned projections, a patch attends to the patches whose pixels look like its own (a large dot "
    "product) and above all to those with the most ink. "
    + (
        "The one-hot position adds exactly 1 to each patch's score with itself and 0 elsewhere (different one-hots "
        "are orthogonal): it can only raise the diagonal. A trained model learns what to do with positions."
        if positions
        else "Switch on the position features to see what one-hot positions can (and cannot) add."
    )
)

# --- the classifier ------------------------------------------------------------------------------------
st.header("Train the classifier")
cfg = classifier.Config(seed=st.session_state["vision_seed"])
n_train = len(vision.split()[0])
steps = cfg.epochs * -(-n_train // cfg.batch)
st.markdown(
    f"One attention layer learns to read the digits: {cfg.k} patches of {cfg.patch} × {cfg.patch} pixels, each "
    f"embedded in D = {cfg.dim} numbers plus a learned position embedding, one attention layer with a residual, "
    f"then a readout of all {cfg.k} patches to 10 scores. Gradients written out by hand, Adam, learning rate "
    f"{cfg.lr:g}, batches of {cfg.batch}: {cfg.epochs} passes over the {n_train} training digits ({steps} steps); "
    f"{len(vision.split()[1])} test digits it never sees while training."
)
st.latex(
    r"E = X W_e + b_e + P_{pos},\quad H = E + \operatorname{softmax}\!\left(\frac{E W_q (E W_k)^\top}{\sqrt{D}}\right)"
    r" E W_v,\quad \text{logits} = \operatorname{flatten}(H)\, W_{out} + b_{out}"
)


def start() -> None:
    config = classifier.Config(seed=st.session_state["vision_seed"])
    if (result := ui.finished_classifiers().get(config)) is not None:  # trained before on this server
        st.session_state[RUN] = ui.ClassifierRun(config, None, result, running=False)
    else:
        st.session_state[RUN] = ui.ClassifierRun(config, classifier.Trainer(config))


def stop() -> None:
    if (run := st.session_state.get(RUN)) is not None:
        run.running = False


b1, b2, b3, _ = st.columns([2, 1, 1, 4], vertical_alignment="bottom")
b1.number_input("Seed", 0, MAX_SEED, step=1, **ui.widget("vision_seed"))
b2.button("Train", type="primary", on_click=start, key="vision_train", icon=":material/play_arrow:")
b3.button("Stop", on_click=stop, key="vision_stop", icon=":material/stop:")
run: ui.ClassifierRun | None = st.session_state.get(RUN)


@st.fragment(run_every=PACE_S if run is not None and run.running else None)
def training_view() -> None:
    """While a run is going, each rerun of this fragment trains one epoch and redraws itself; at the
    end, the test set is read once and the whole page reruns."""
    run: ui.ClassifierRun | None = st.session_state.get(RUN)
    if run is None:
        st.info("Press Train: it takes a few seconds.", icon=":material/play_arrow:")
        return
    if run.running:
        trainer = run.trainer
        trainer.run(trainer.per_epoch)
        if trainer.done:
            run.result, run.running = classifier.evaluate(trainer), False
            ui.remember_classifier(run.result, run.config)
            st.rerun(scope="app")
        st.progress(
            trainer.step / trainer.steps,
            text=f"Epoch {trainer.epoch} of {run.config.epochs} (step {trainer.step} of {trainer.steps}): "
            f"loss {trainer.losses[-1]:.4f}",
        )
        ui.chart(figures.loss_curve(trainer.losses, steps=trainer.steps), key="vision_loss_live")
        return
    if run.result is None:
        st.warning(
            f"Stopped at epoch {run.trainer.epoch} of {run.config.epochs}. Press Train to start again.",
            icon=":material/stop:",
        )


training_view()
if run is not None and run.result is not None:
    result, config = run.result, run.config
    right_count = int(np.sum(result.predictions == result.targets))
    if config != cfg:
        st.caption(f"Showing the run with seed {config.seed}; press Train to use seed {cfg.seed}.")
    m1, m2, m3 = st.columns(3)
    m1.metric("Test accuracy", f"{result.accuracy:.1%}", help="Share of the 450 test digits read correctly.")
    m2.metric("Right", f"{right_count} of {len(result.targets)}")
    m3.metric(
        "Loss, first → last step", f"{training.loss_text(result.losses[0])} → {training.loss_text(result.losses[-1])}"
    )
    base = baselines.digits_baselines()  # fitted once per server
    nn1, nn5, logistic = base.neighbours[1], base.neighbours[5], base.logistic
    gap = result.accuracy - logistic  # > 0: the attention classifier reads more test digits right
    versus = f"{abs(gap) * 100:.1f} percentage points {'more' if gap > 0 else 'less'} than" if gap else "as many as"
    if gap >= 0.01:
        adds = f"So here its attention layer is worth {gap * 100:.1f} points"
    else:
        adds = "So its attention adds " + ("little accuracy here" if gap > 0 else "no accuracy here")
    lookup = (
        "the nearest training digit does better" if result.accuracy < nn1 else "it matches the nearest-digit lookup"
    )
    st.caption(
        f"Beside it, on the same {len(result.targets)} test digits and from the same pixels / 16: the nearest training "
        f"digit reads {nn1:.1%}, a vote of the 5 nearest {nn5:.1%}, and logistic regression (a softmax of one linear "
        f"map of the 64 pixels) {logistic:.1%}. Without its attention layer this classifier would be that kind of "
        f"model, an affine map of the pixels and a softmax; with it, it reads {versus} logistic regression. {adds}, "
        f"and {lookup}. What attention does add is a mixing of the patches that depends on each image, which the "
        "maps below show and which the Vision Transformer scales up to large images."
    )
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Loss")
        ui.chart(figures.loss_curve(result.losses, steps=len(result.losses)), key="vision_loss")
        st.caption(
            f"The loss of every training batch: it starts near ln 10 = {np.log(10):.2f} (a blind guess among 10 "
            "digits) and falls as the layer learns."
        )
    with right:
        st.subheader("Confusions")
        counts = result.confusion()
        ui.chart(figures.confusion_heatmap(counts), key="vision_confusion")
        off = counts - np.diag(np.diag(counts))
        if (most := int(off.max())) > 0:
            pairs = [f"a {t} read as a {p}" for t, p in zip(*np.nonzero(off == most))]
            each = "" if len(pairs) == 1 else " each"
            listed = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
            worst = f"The most frequent mistake{'s' if len(pairs) > 1 else ''} ({most} times{each}): {listed}."
        else:
            worst = "No mistakes at all."
        st.caption(
            f"Rows: the true digit; columns: what the classifier said. The diagonal holds the {right_count} right "
            f"answers. {worst}"
        )
    st.subheader("Where it looks: its attention on test digits")
    shown = np.arange(GALLERY)
    received = result.weights[shown].mean(axis=1)  # [m, k]: the weight each patch receives, averaged over queries
    titles = [f"{t}→{p}" + ("" if t == p else " ✗") for t, p in zip(result.targets[shown], result.predictions[shown])]
    ui.chart(
        figures.digit_gallery(
            data.images[result.test_indices[shown]], vision.paint(received, config.patch), titles,
            value_name="weight received",
        ),
        key="vision_gallery",
    )  # fmt: skip
    st.caption(
        f"The first {GALLERY} test digits (true → predicted), each patch coloured by the attention it receives, "
        f"averaged over the {config.k} queries (even attention would give every patch 1/{config.k} = "
        f"{1 / config.k:.4f}). The brightest patch of each: "
        + ", ".join(f"{vision.patch_labels(config.patch)[j]}" for j in received.argmax(axis=1))
        + "."
    )
