"""Induction heads, born live: three small transformers learn to continue a repeated segment, and one of
them learns to copy in context in a sudden phase change (Olsson et al. 2022)."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.learn import induction, transformer
from attnviz.ui import INDUCTION_MODELS, Setting

STEPS = (500, 1000, 1500, 2000, 3000, 4000, 5000)
LEARNING_RATES = (0.001, 0.002, 0.004)
CONTROLS = ("steps", "lr", "seed", "probe")
MAX_SEED = 2**31 - 1
PACE_S = 0.05  # the fragment's timer between chunks
PLAY_S = 0.4  # the replay's time per checkpoint
TWO = "2 layers"
GEN = "induction_generated"  # session key: the sequence being continued, token by token

d = induction.Settings()
SETTINGS = {
    "ind_steps": Setting("steps", d.steps, lambda raw: int(ui.nearest(STEPS)(raw))),
    "ind_lr": Setting("lr", d.lr, ui.nearest(LEARNING_RATES)),
    "ind_seed": Setting("seed", d.seed, ui.whole(0, MAX_SEED)),
    "ind_probe": Setting("probe", d.probe_seed, ui.whole(0, MAX_SEED)),
    "ind_hide": Setting("hide", (), ui.some_of(CONTROLS)),
}
NOTE = ("This page trains its own small transformers on sequences of random tokens 0–63: the sentence, the "
        "embedding, [CLS]/[SEP], the temperature and the scale are used on the other pages.")  # fmt: skip
ui.setup("Induction heads", SETTINGS, text=False, attention=False, note=NOTE)
hidden = set(st.session_state["ind_hide"])


def settings() -> induction.Settings:
    s = st.session_state
    return induction.Settings(steps=s["ind_steps"], lr=s["ind_lr"], seed=s["ind_seed"], probe_seed=s["ind_probe"])


def run() -> ui.InductionRun:
    return ui.induction_run(settings())


def start() -> None:
    st.session_state["ind_watching"] = True
    run().running = True


def stop() -> None:
    run().running = False


def reset() -> None:
    ui.induction_run.clear()  # the run starts again from its initial weights, for every session with it
    st.session_state.pop("ind_watching", None)
    st.session_state.pop(GEN, None)


st.title("Induction heads: how attention learns to copy")
st.caption(
    "GPT-style models continue a text by looking back at what came before. The simplest trick that does it is "
    "the induction head (Olsson et al. 2022): if the current token appeared earlier, look at the token that "
    "followed it then, and predict that again. Here three small attention-only transformers learn it from "
    "scratch, live, in NumPy with hand-written gradients; one of them learns it suddenly."
)
st.markdown(
    f"**The task.** Sequences of {induction.LENGTH} random tokens from 0–{induction.VOCAB - 1}, in which one "
    f"segment of {induction.SEGMENT[0]}–{induction.SEGMENT[1]} tokens appears twice, at a random place and a "
    "random distance. Nothing is predictable except the second copy: after its first token, each next token is "
    "the one that followed the current token the first time. The loss below counts only those tokens."
)
st.latex(
    r"x_0 = W_E[\text{token}] + W_{pos},\quad x_{l+1} = x_l + \sum_h \operatorname{softmax}\!\left("
    r"\frac{(x_l W_Q^h)(x_l W_K^h)^\top}{\sqrt{d_h}} + \text{causal}\right) x_l W_V^h W_O^h,\quad "
    r"\text{logits} = x_L W_U"
)
st.latex(
    r"\text{induction score}_h = \operatorname{mean}_{t\ \text{repeated}}\ A_h[t,\ t - \text{offset} + 1],"
    r"\qquad \text{previous-token score}_h = \operatorname{mean}_t\ A_h[t,\ t-1]"
)

shown = [c for c in CONTROLS if c not in hidden]
if shown:
    cols = dict(zip(shown, st.columns(len(shown))))
    if "steps" in cols:
        cols["steps"].select_slider("Steps", STEPS, **ui.widget("ind_steps"))
    if "lr" in cols:
        cols["lr"].select_slider("Learning rate", LEARNING_RATES, **ui.widget("ind_lr"))
    if "seed" in cols:
        cols["seed"].number_input("Seed", 0, MAX_SEED, step=1, **ui.widget("ind_seed"))
    if "probe" in cols:
        cols["probe"].number_input("Probe sequence", 0, MAX_SEED, step=1, **ui.widget("ind_probe"))
cfg = settings()
st.markdown(
    f"Each model: d_model = {cfg.d_model}, {cfg.heads} heads of d_head = {cfg.d_head}, Adam at {cfg.lr:g}, "
    f"batches of {cfg.batch}, {cfg.steps:,} steps, seed {cfg.seed}: **1 layer**, **2 layers**, and **1 layer with "
    "smeared keys** (each key mixes in the previous position's key, k_j ← σ(α)·k_j + (1 − σ(α))·k_{j−1})."
)
b1, b2, b3, _ = st.columns([1, 1, 1, 5])
b1.button("Train", type="primary", on_click=start, key="ind_go", icon=":material/play_arrow:")
b2.button("Stop", on_click=stop, key="ind_stop", icon=":material/stop:")
b3.button("Reset", on_click=reset, key="ind_reset", icon=":material/restart_alt:")

shared = run()
watching = st.session_state.get("ind_watching", False) or shared.trainers[TWO].step > 0
chance = induction.chance()


@st.fragment(run_every=PACE_S if shared.running else None)
def training_view() -> None:
    """While the run goes, each rerun of this fragment trains one bounded chunk of every model (unless another
    session is doing it) and redraws only itself; when the run ends the whole page reruns."""
    if shared.running:
        shared.advance()
        if not shared.running:
            st.rerun(scope="app")
    two = shared.trainers[TWO]
    if shared.error:
        st.error(shared.error + " Press Reset.", icon=":material/error:")
    elif shared.running:
        st.progress(two.step / cfg.steps, text=f"Step {two.step:,} of {cfg.steps:,}")
    elif not watching:
        st.info("Press Train: about a minute and a half for the three models on a laptop.",
                icon=":material/play_arrow:")  # fmt: skip
    elif not shared.done:
        st.warning(f"Stopped at step {two.step:,} of {cfg.steps:,}. Press Train to go on.")
    curves = {name: [c for c in t.checkpoints] for name, t in shared.trainers.items()}
    change = induction.phase_change(curves[TWO])
    window = (change.start, change.end) if change else None
    left, right = st.columns(2)
    with left:
        st.subheader("Loss on the repeated tokens")
        loss = {n: (np.array([c.step for c in cs]), np.array([c.loss for c in cs])) for n, cs in curves.items()}
        ui.chart(figures.repeat_loss_chart(loss, chance=chance, steps=cfg.steps, window=window), key="ind_loss")
        st.caption(
            f"How surprised each model is by the predictable tokens, in nats; the dotted line, ln {induction.VOCAB} = "
            f"{chance:.2f}, is a blind guess among the {induction.VOCAB} tokens, and the shaded band is the 2-layer model's phase change."
        )
    with right:
        st.subheader("Head scores")
        scores = {f"{n}: best induction": (np.array([c.step for c in cs]), np.array([c.best_induction for c in cs]))
                  for n, cs in curves.items()}  # fmt: skip
        scores[f"{TWO}: layer 0's best previous-token"] = (
            np.array([c.step for c in curves[TWO]]),
            np.array([float(c.previous[0].max()) for c in curves[TWO]]),
        )
        ui.chart(figures.scores_chart(scores, steps=cfg.steps, window=window), key="ind_scores")
        st.caption(
            "The induction score of each model's best last-layer head (its mean weight on the token after the earlier "
            "copy of the current token) and the 2-layer model's best previous-token score in layer 0 (its mean "
            "weight on the token just before)."
        )
    lines = []
    for name, cs in curves.items():
        c = induction.phase_change(cs)
        last = cs[-1]
        lines.append(f"**{name}** (step {last.step:,}): loss {last.loss:.2f} nats, best induction score "
                     f"{last.best_induction:.2f}" + (f". {induction.describe(c)}" if c else "."))  # fmt: skip
    st.markdown("  \n".join(lines))


training_view()

# --- replay: every head on the probe ------------------------------------------------------------
st.header("Every head on one sequence, step by step")
names = list(INDUCTION_MODELS)
model = names[ui.pick("Model", names, key="ind_model", default=1)]
trainer = shared.trainers[model]
probe = trainer.probe
tokens = probe.tokens[0]
labels = [f"{t}:{tok}" for t, tok in enumerate(tokens)]
a, b, size = int(probe.start[0]), int(probe.repeat[0]), int(probe.size[0])
steps = [c.step for c in trainer.checkpoints]
step_key = f"ind_step_{model}_{len(steps)}"  # a new key when a checkpoint arrives, so the slider follows the run
playing = st.session_state.get("ind_playing", False) and len(steps) > 1 and not shared.running


def play() -> None:
    """▶ Play from the start (or from where the slider is, if it is not at the end); pressed again, pause."""
    if st.session_state.get("ind_playing"):
        st.session_state["ind_playing"] = False
        return
    at = st.session_state.get(step_key, steps[-1])
    st.session_state["ind_playing"] = True
    st.session_state["ind_play_next"] = 0 if at == steps[-1] else steps.index(at)


if len(steps) > 1 and not shared.running:
    st.button("Pause" if playing else "Play", on_click=play, key="ind_play",
              icon=":material/pause:" if playing else ":material/play_arrow:",
              help="Replay the run's checkpoints one after another; move the slider to stop at the cliff.")  # fmt: skip


@st.fragment(run_every=PLAY_S if playing else None)
def replay() -> None:
    """One checkpoint's heads; while playing, each run of this fragment shows the next checkpoint, and moving
    the slider pauses."""
    at = steps[0]
    if len(steps) > 1:
        s = st.session_state
        if playing and s.get("ind_playing"):
            i = s.get("ind_play_next", 0)
            moved = i > 0 and s.get(step_key) != steps[min(i, len(steps)) - 1]
            if moved or i >= len(steps):
                s["ind_playing"] = False
                st.rerun(scope="app")  # the button says Play again
            s[step_key] = steps[i]
            s["ind_play_next"] = i + 1
        s.setdefault(step_key, steps[-1])  # a new run's slider starts at its last checkpoint
        at = st.select_slider("Step", steps, key=step_key)
    cp = trainer.checkpoints[steps.index(at)]
    ui.chart(figures.head_grid(cp.weights, labels), key="ind_grid")
    st.caption(
        f"The probe: tokens 0–{induction.LENGTH - 1} with the segment at positions {a}–{a + size - 1} repeated at "
        f"{b}–{b + size - 1} (offset {b - a}) and no other token twice. Each small square is one head's W at step "
        f"{at:,} (rows: queries, columns: keys); an induction head lights up a stripe parallel to the diagonal, "
        "offset − 1 to its left, in the rows of the second copy; a previous-token head lights up the line just below "
        "the diagonal."
    )


replay()

# --- why: the two heads of the circuit --------------------------------------------------------
st.header("Why two layers: the previous-token head and the induction head")
two = shared.trainers[TWO]
last = two.checkpoints[-1]
rows = range(b, b + size - 1)
prev = induction.previous_token_head(last)
layer1 = int(np.argmax(last.induction[1]))
st.markdown(
    "One layer cannot do it: a key knows only its own token and position, so a query cannot ask for 'the token "
    "after the earlier copy of me'. With two layers, a layer-0 head can write into each position what the "
    "previous token was; a layer-1 head's keys then read that (K-composition), and its query matches the key whose "
    "previous token is the current token: exactly the position after the earlier copy. Smeared keys build the "
    "same thing into one layer's keys."
)
if two.step == 0:
    st.info("Train first: before training no head does either.", icon=":material/play_arrow:")
elif prev is None:
    st.warning(
        f"No layer-0 head of this run attends to the previous token (the best scores "
        f"{float(last.previous[0].max()):.2f}, below {induction.PREVIOUS_TOKEN_HEAD}): if it copies, it has found "
        "another circuit than the textbook pair, so no stripe is drawn for it.",
        icon=":material/help:",
    )
else:
    head0, score0 = prev
    c1, c2 = st.columns(2)
    with c1:
        ui.chart(figures.stripes(last.weights[0, head0], labels, [(t, t - 1) for t in range(1, len(tokens))],
                                 title=f"layer 0, head {head0}: previous token ({score0:.2f})"), key="ind_prev")  # fmt: skip
    with c2:
        score1 = float(last.induction[1, layer1])
        ui.chart(figures.stripes(last.weights[1, layer1], labels, [(t, t - (b - a) + 1) for t in rows],
                                 title=f"layer 1, head {layer1}: induction ({score1:.2f})"), key="ind_ind")  # fmt: skip
    st.caption(
        "The outlined cells are where each head should look: the token just before (left), and, in the rows of "
        "the second copy, the token after the earlier copy of the current token (right). The scores in the titles "
        "are the means over the evaluation batch, not this one sequence."
    )
    st.subheader("What each layer-0 head writes, and where layer 1 reads it")
    rp = shared.read_paths(TWO, layer1)
    K, Q, V = (induction.PATHS.index(p) for p in "KQV")
    every = two.config.heads  # the row of all of layer 0 at once
    groups = [f"head {h}" + (" (previous token)" if h == head0 else "") for h in range(every)] + ["all of layer 0"]
    ui.chart(figures.knockout_bars(rp.scores[:, [Q, K]], rp.score, groups=groups, paths=("Q", "K"), head=layer1),
             key="ind_knock")  # fmt: skip
    st.caption(
        f"Layer 1's head {layer1}'s induction score on the evaluation batch when what a layer-0 head wrote into the "
        "residual stream is taken out of the stream its queries read, or its keys read; the dotted line is the "
        "score with nothing taken out."
    )
    st.latex(
        r"x_1 = x_0 + \sum_h z_h W_O^h \;\longrightarrow\; "
        rf"K^{{\text{{layer 1}}}} = \big(x_1 - z_{{{head0}}} W_O^{{{head0}}}\big)\, W_K^{{\text{{layer 1}}}}"
    )
    composes = rp.scores[every, K] < 0.5 * rp.score and rp.scores[every, Q] >= 0.8 * rp.score
    st.markdown(
        f"Taken out of its keys, head {head0}'s output takes layer 1's head {layer1} from {rp.score:.2f} to "
        f"{rp.scores[head0, K]:.2f} (the loss on the repeated tokens from {rp.loss:.2f} to {rp.losses[head0, K]:.2f} "
        f"nats); all of layer 0's, to {rp.scores[every, K]:.2f} ({rp.losses[every, K]:.2f} nats). Taken out of its "
        f"queries, all of layer 0's leaves it at {rp.scores[every, Q]:.2f}; out of its values it cannot move where "
        f"the head looks, and the loss goes to {rp.losses[every, V]:.2f} nats. "
        + (
            "So the two layers meet in the keys (K-composition): layer 0 writes into each position the token before "
            "it, and the induction head's keys read it; its queries and values need only the current token."
            if composes
            else "In this run the keys are not the one place the two layers meet, so the textbook account of "
            "K-composition alone does not explain it."
        )
    )

# --- generation, token by token ---------------------------------------------------------------
st.header("Let the model continue a sequence, one token at a time")
st.caption(
    "Type tokens (whole numbers 0–63, separated by spaces) or draw a sequence; then each press of Next token "
    "appends the 2-layer model's most likely next token and shows where each layer-1 head looked for it."
)


def draw() -> None:
    rng = np.random.default_rng(int(st.session_state.get("ind_draws", 0)) + 1)
    st.session_state["ind_draws"] = int(st.session_state.get("ind_draws", 0)) + 1
    segment = rng.permutation(induction.VOCAB)[:8]
    filler = rng.permutation(induction.VOCAB)[8:14]
    st.session_state["ind_typed"] = " ".join(map(str, [*segment, *filler, *segment[:3]]))
    st.session_state.pop(GEN, None)


g1, g2 = st.columns([4, 1])
g1.text_input("Tokens", key="ind_typed", on_change=lambda: st.session_state.pop(GEN, None),
              placeholder="e.g. 5 17 42 8 30 61 2 5 17")  # fmt: skip
g2.button("Draw one", on_click=draw, key="ind_draw", icon=":material/casino:")
raw = st.session_state.get("ind_typed", "").split()
bad = [w for w in raw if not (w.isdigit() and int(w) < induction.VOCAB)]
if bad:
    st.error(f"Tokens are whole numbers from 0 to {induction.VOCAB - 1}; not {ui.md_escape(' '.join(bad[:5]))}.")
elif raw:
    seq = st.session_state.get(GEN) or [int(w) for w in raw]
    if len(seq) >= induction.LENGTH:
        st.info(f"The model reads at most {induction.LENGTH} tokens: this sequence is full.")
    elif st.button("Next token", key="ind_next", icon=":material/skip_next:"):
        nxt = int(induction.predict(two.params, two.config, np.array(seq))[-1])
        seq = [*seq, nxt]
        st.session_state[GEN] = seq
    seq = seq[: induction.LENGTH]
    f = transformer.forward(two.params, two.config, np.array(seq)[None])
    t = len(seq) - 1
    probs = np.exp(f.log_probs[0, t])
    top = np.argsort(probs)[::-1][:5]
    st.markdown("Sequence: " + " ".join(f"**{s}**" if i >= len(raw) else str(s) for i, s in enumerate(seq)))
    c1, c2 = st.columns([3, 2])
    with c1:
        heads_rows = f.patterns[1, 0, :, t, : t + 1]  # [H, t + 1]
        ui.chart(figures.attention_rows(heads_rows, [f"{i}:{s}" for i, s in enumerate(seq)],
                                        [f"layer 1, head {h}" for h in range(two.config.heads)]), key="ind_rows")  # fmt: skip
        looked = int(np.argmax(f.patterns[1, 0, layer1, t, : t + 1]))
        st.caption(
            f"Where each layer-1 head looked from the last token ({seq[t]}, position {t}): layer 1's head {layer1} "
            f"put its largest weight on position {looked} (token {seq[looked]})."
        )
    with c2:
        ui.chart(figures.next_token_bars([str(i) for i in top], probs[top]), key="ind_next_probs")
        st.caption(f"The five most likely next tokens after position {t}; the most likely, {int(top[0])}, has "
                   f"p = {probs[top[0]]:.2f}.")  # fmt: skip

st.caption(
    "What this shows and what it does not: attention weights say where a head read from, not why the model "
    "predicts what it does; the page measures the textbook circuit (a previous-token head, then an induction "
    "head) and says when a run does not build it. Given many more steps a 1-layer model creeps below chance by "
    "favouring tokens it has already seen in the sequence, without ever copying in context."
)
