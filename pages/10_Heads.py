"""Heads: what each of MiniLM's 72 heads does, measured over a corpus and checked against the papers, and
what removing heads changes."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.model import ablation, census
from attnviz.ui import Setting

HEAD_NAMES = tuple(f"{layer}.{head}" for layer in range(6) for head in range(12))
STAT_OPTIONS = {"class": "class (the census's verdict)", **census.STATS, "importance": "importance (removed alone)"}
SECTIONS = ("beside", "remove", "prune")  # lazy sections, closed at first: a click on a head reruns only the rest
OVER = {"corpus": "the corpus (50 pairs)", "sentence": "your sentence"}
SETTINGS = {
    "heads_stat": Setting("stat", "to_cls", ui.one_of(tuple(STAT_OPTIONS))),
    "heads_over": Setting("over", "corpus", ui.one_of(tuple(OVER))),
    "heads_layer": Setting("layer", 0, ui.whole(0, 5)),
    "heads_head": Setting("head", 0, ui.whole(0, 11)),
    "heads_ablate": Setting("ablate", (), ui.some_of(HEAD_NAMES)),
    "heads_uniform": Setting("uniform", False, ui.flag),
    "heads_seed": Setting("seed", 0, ui.whole(0, 99)),
    "heads_open": Setting("open", (), ui.some_of(SECTIONS)),
}

settings = ui.setup("Heads", SETTINGS)
st.title("What each head does")
st.caption(
    "MiniLM has 6 layers of 12 heads. Here each head is measured: where its attention goes over a corpus and over "
    "your sentence, how that compares with what the papers found in BERT, and what changes when heads are removed. "
    "Attention weights show where a head reads from, not why the model decides what it does: weights can often "
    "be changed without changing the output (Jain & Wallace 2019), though not always freely (Wiegreffe & Pinter "
    "2019). Removing a head and measuring what moves is the stronger test, and it is below."
)
model = ui.minilm_or_stop()
job = ui.heads_job(model)
if not job.census.done():
    ui.wait_for(
        job.census,
        lambda: (
            job.done / max(job.total, 1),
            f"Reading the corpus: {job.done} of {job.total} pairs (once per server)…",
        ),
    )
    st.stop()
if job.census.exception() is not None:
    st.error(f"The census could not be computed: {ui.md_escape(str(job.census.exception()))}")
    st.stop()
corpus = job.census.result()
learned = ui.learned_text(settings.sentence, model)
if learned is None:
    st.stop()
pieces, full = learned
typed = ui.text_census(settings.sentence, model)
importance = job.importance.result() if job.importance.done() and job.importance.exception() is None else None
tokens = pieces.tokens  # [CLS] and [SEP] kept: the census reads the model's own weights

# --- the census --------------------------------------------------------------------------------------


def picked() -> None:
    """A click on the grid chooses that head."""
    points = st.session_state["heads_grid"].selection.points
    if points:
        ui.set_setting("heads_layer", int(points[0]["y"]))
        ui.set_setting("heads_head", int(points[0]["x"]))


st.header("The census")
c1, c2 = st.columns([2, 2])
stat = c1.selectbox(
    "Colour the heads by",
    tuple(STAT_OPTIONS),
    format_func=STAT_OPTIONS.get,
    help="Each statistic is a mean over the rows of the head's W; the class is decided from them by fixed thresholds.",
    **ui.widget("heads_stat"),
)
over = c2.radio("Measured over", tuple(OVER), format_func=OVER.get, horizontal=True, **ui.widget("heads_over"))
shown = corpus if over == "corpus" else typed
chosen = (int(st.session_state["heads_layer"]), int(st.session_state["heads_head"]))
where = "the corpus's 50 pairs" if over == "corpus" else "your sentence"
where_text = "" if over == "corpus" else settings.sentence  # what the grid's numbers depend on, beside the statistic
if stat == "class":
    fig = ui.cached_figure(
        ("heads_class", over, where_text, chosen), lambda: figures.class_grid(shown.classes, chosen=chosen)
    )
    counts = ", ".join(f"{shown.count(c)} {c}" for c in census.CLASSES)
    words = f"Each square is one head (rows: layers 0–5, columns: heads 0–11), coloured by its class over {where}: {counts}."
elif stat == "importance":
    if importance is None:
        fig = None
        words = ""
        ui.wait_for(
            job.importance,
            lambda: (job.done / 72, f"Measuring each head's importance: {job.done} of 72 heads removed one at a time…"),
        )
    else:
        fig = ui.cached_figure(
            ("heads_importance", chosen), lambda: figures.census_grid(importance, name="importance", chosen=chosen)
        )
        top = np.unravel_index(int(np.argmax(importance)), importance.shape)
        words = (
            "Each cell is one head's importance: 1 minus the mean cosine of the corpus's first "
            f"{ablation.SENTENCES} sentence embeddings to intact when that head alone is removed (the same for "
            f"both choices of 'measured over'). The most important is layer {top[0]}, head {top[1]} "
            f"({importance[top]:.4f})."
        )
else:
    entropy = stat in ("entropy", "cls_entropy")
    fig = ui.cached_figure(
        ("heads_grid", stat, over, where_text, chosen),
        lambda: figures.census_grid(
            shown.stats[stat], name=census.STATS[stat], chosen=chosen, zmax=None if entropy else 1.0
        ),
    )
    top = np.unravel_index(int(np.argmax(shown.stats[stat])), shown.stats[stat].shape)
    words = (
        f"Each cell is one head (rows: layers 0–5, columns: heads 0–11), coloured by its {census.STATS[stat]} "
        f"over {where}; the highest is layer {top[0]}, head {top[1]} ({shown.stats[stat][top]:.2f})."
    )
if fig is not None:
    ui.chart(fig, key="heads_grid", on_select=picked, selection_mode="points")
    st.caption(
        words + " Click a cell to see that head below; the outlined cell is the one shown. Classes, in this order: "
        "previous or next (over 50% on that neighbour), vertical (over 50% on [CLS] and [SEP]), diagonal (over 50% "
        "on itself and its neighbours), broad (row entropy at least 75% of uniform's), else heterogeneous."
    )
st.markdown(census.sink_sentence(corpus))

# --- one head ----------------------------------------------------------------------------------------

st.header("One head")
c1, c2, c3 = st.columns([1, 1, 4])
layer = int(c1.number_input("Layer", 0, 5, help="0 is the first of the model's 6 layers.", **ui.widget("heads_layer")))
head = int(c2.number_input("Head", 0, 11, help="Each layer has 12 heads of 32 features.", **ui.widget("heads_head")))
left, right = st.columns([3, 2])
with left:
    w = full.attentions[layer, head]  # [n, n]
    pattern = ui.cached_figure(
        ("heads_pattern", settings.sentence, layer, head),
        lambda: figures.weights_heatmap(w, tokens, title=f"layer {layer}, head {head} on your sentence", square=True),
    )
    ui.chart(pattern, key="heads_pattern")
    st.caption(
        f"Layer {layer}, head {head}'s W for your sentence, [CLS] and [SEP] included: row i is how token i "
        "shares its attention over all the tokens; each row sums to 1."
    )
with right:
    rows = [
        f"**{ui.md_escape(corpus.why(layer, head))}** On your sentence alone it is {typed.classes[layer, head]}.",
        "",
        "| statistic | the corpus (50 pairs) | your sentence |",
        "|---|---:|---:|",
    ]
    rows += [
        f"| {label} | {corpus.stats[k][layer, head]:.3f} | {typed.stats[k][layer, head]:.3f} |"
        for k, label in census.STATS.items()
    ]
    if importance is not None:
        rows.append(f"| importance (removed alone) | {importance[layer, head]:.4f} | — |")
    st.markdown("\n".join(rows))
    st.latex(
        r"\begin{aligned}\text{to\_cls} &= \frac{1}{n}\sum_i W_{i,0} = "
        + f"{typed.stats['to_cls'][layer, head]:.3f}"
        + r" \\ H &= \frac{1}{n}\sum_i -\sum_j W_{ij}\ln W_{ij} = "
        + f"{typed.stats['entropy'][layer, head]:.3f}"
        + r"\ \text{nats}\end{aligned}"
    )
    st.caption(
        f"The two numbers for your sentence ({len(tokens)} tokens; uniform attention would have entropy "
        f"ln {len(tokens)} = {np.log(len(tokens)):.3f})."
    )

# --- the sections below run only while open (lazy expanders; in the URL as open=beside,remove,prune) ---------


def section(label: str, name: str):
    return ui.section(label, name, key="heads_open", options=SECTIONS)


beside = section("**MiniLM beside BERT**: where each layer's attention goes, and the papers' figures", "beside")
if beside.open:
    with beside:
        means = {k: corpus.stats[k].mean(axis=1) for k in ("to_cls", "to_sep", "to_punct")}  # [L] per layer
        sinks = ui.cached_figure(("heads_sinks",), lambda: figures.sink_bars(*means.values()))  # once per server
        ui.chart(sinks, key="heads_sinks")
        st.caption(
            "Where each layer's attention goes, averaged over its 12 heads and the corpus's 50 pairs: "
            + ", ".join(
                f"layer {i}: {c:.0%} on [CLS], {s:.0%} on [SEP]"
                for i, (c, s) in enumerate(zip(means["to_cls"], means["to_sep"]))
            )
            + "."
        )
        table = ["| | BERT-base (the paper) | MiniLM (measured here) | source |", "|---|---|---|---|"]
        table += [f"| {f.what} | {f.paper} | {f.minilm} | {f.source} |" for f in census.findings(corpus)]
        st.markdown("\n".join(table))
        st.caption(
            "Clark et al. read 1,000 Wikipedia segments with BERT-base (12 layers of 12 heads); MiniLM is a 6-layer model "
            "distilled from a larger one, read here on the bundled corpus as pairs [CLS] A [SEP] B [SEP]. Its later "
            "layers are compared with BERT's layers 6–10, the same share of the depth."
        )

remove = section("**Remove heads**: what moves when heads are zeroed or made uniform", "remove")
if remove.open:
    with remove:
        vertical = tuple(ablation.head_name(h) for h in corpus.heads("vertical"))
        prev_heads = tuple(ablation.head_name(h) for h in corpus.heads("previous"))
        next_heads = tuple(ablation.head_name(h) for h in corpus.heads("next"))
        b1, b2, b3, b4 = st.columns(4)
        b1.button(f"The {len(vertical)} vertical heads", on_click=ui.set_setting, args=("heads_ablate", list(vertical)),
                  help="The heads the census calls vertical: most of their weight on [CLS] and [SEP] (no-ops, say Clark et al.).")  # fmt: skip
        b2.button("The previous-token head" + ("s" if len(prev_heads) > 1 else ""), on_click=ui.set_setting,
                  args=("heads_ablate", list(prev_heads)), disabled=not prev_heads)  # fmt: skip
        b3.button("The next-token head" + ("s" if len(next_heads) > 1 else ""), on_click=ui.set_setting,
                  args=("heads_ablate", list(next_heads)), disabled=not next_heads)  # fmt: skip
        b4.button("None", on_click=ui.set_setting, args=("heads_ablate", []))
        names = st.multiselect(
            "Heads to remove (layer.head)",
            HEAD_NAMES,
            help="Each removed head's 32 columns of the context vector are set to zero before W_o.",
            **ui.widget("heads_ablate"),
        )
        uniform = st.toggle(
            "Uniform attention instead of zero",
            help="Kovaleva et al.'s alternative: the removed heads attend equally to every token, so each outputs the mean "
            "of its value vectors.",
            **ui.widget("heads_uniform"),
        )
        removed = ablation.parse_heads(",".join(names))
        if not removed:
            st.info(
                "Choose heads to remove above (or press a button) to see what changes.", icon=":material/touch_app:"
            )
        else:
            ab = ui.ablated(settings.sentence, removed, bool(uniform), model)
            how = "given uniform attention" if uniform else "zeroed"
            m1, m2 = st.columns([1, 3])
            m1.metric(
                "Cosine to intact",
                f"{ab.cosine:.4f}",
                help="The sentence embedding (mean pooling, length 1) with the heads removed, against the intact one.",
            )
            m1.latex(r"\cos(e, e_{\text{intact}}) = " + f"{ab.cosine:.4f}")
            with m2:
                ui.chart(figures.layer_cosine_chart(ab.layer_cosine), key="heads_layers")
            first = next((i for i, c in enumerate(ab.layer_cosine) if c < 1 - 1e-6), None)
            st.caption(
                f"With {len(removed)} head{'s' if len(removed) > 1 else ''} {how}, each point is how close the hidden states "
                "stay to the intact model's (mean cosine over your sentence's tokens): "
                + ", ".join(f"{c:.4f}" for c in ab.layer_cosine)
                + (
                    f". Nothing moves before layer {first - 1}, the lowest layer with a removed head."
                    if first and first > 1
                    else "."
                )
            )
            change = ab.pattern_change.copy()
            for la, he in removed:  # a zeroed head's own W is unchanged; show the others
                change[la, he] = np.nan if not uniform else change[la, he]
            ui.chart(
                figures.census_grid(np.nan_to_num(change), name="mean ½Σ|ΔW| per row", chosen=removed[0]),
                key="heads_change",
            )
            rest = np.where(np.isnan(change), -1.0, change)
            worst = np.unravel_index(int(np.argmax(rest)), rest.shape)
            st.caption(
                "How much every head's pattern changed on your sentence: the mean over its rows of half the summed "
                f"|change in W| (0: the same, 1: on different tokens altogether). The most changed is layer {worst[0]}, "
                f"head {worst[1]} ({rest[worst]:.3f}); heads below the lowest removed one cannot change."
            )

prune = section("**How many heads can go?** The pruning curve", "prune")
if prune.open:
    with prune:
        st.caption(
            "Michel et al. (2019) removed heads in order of importance and found that 20–40% could go without a "
            "noticeable loss. Here heads go 10% at a time, least important first and in a random order, on two scores: "
            f"how close the corpus's first {ablation.SENTENCES} sentence embeddings stay to intact, and the share of "
            f"{len(ablation.load_paraphrases())} bundled triples whose paraphrase stays nearer than a distractor."
        )
        st.latex(
            r"I_h = 1 - \overline{\cos}(e_{\setminus h}, e) \qquad \text{(importance measured by removing head } h \text{ alone)}"
        )
        if importance is None:
            ui.wait_for(job.importance, lambda: (job.done / 72, f"Measuring each head's importance: {job.done} of 72…"))
            st.stop()  # the last section: nothing below waits on it
        seed = int(
            st.number_input(
                "Random order's seed", 0, 99, help="Which random order is drawn.", **ui.widget("heads_seed")
            )
        )
        run = ui.pruning_run(seed, bool(st.session_state["heads_uniform"]))
        corpus_texts, triples = job.texts.result()
        p1, p2, _ = st.columns([2, 1, 3])
        if p1.button(
            "Compute the curve", icon=":material/play_arrow:", disabled=run.running or run.done, key="heads_prune"
        ):
            run.start(ui.bert_weights(model), corpus_texts, triples, importance)
        if p2.button("Stop", icon=":material/stop:", disabled=not run.running, key="heads_stop"):
            run.stop = True
        if run.running and run.future is not None:
            ui.wait_for(
                run.future,
                lambda: (
                    len(run.curve.fractions) / len(ablation.FRACTIONS),
                    f"Removing heads: {len(run.curve.fractions)} of {len(ablation.FRACTIONS)} points "
                    "(shared by everyone on this server)…",
                ),
            )
        if run.curve.fractions:
            c = run.curve
            st.caption(
                f"The removed heads are {'given uniform attention' if run.uniform else 'zeroed'}, as the toggle under Remove heads says; "
                f"the importance that orders them was measured by zeroing. The random order is seed {run.seed}'s."
            )
            ui.chart(
                figures.pruning_chart(c.fractions, c.cosine, c.paraphrase, band=ablation.MICHEL), key="heads_curve"
            )
            if run.done:
                st.markdown(c.describe())
            elif not run.running:
                st.caption(
                    f"Stopped after {len(c.fractions)} of {len(ablation.FRACTIONS)} points; press Compute to go on."
                )
