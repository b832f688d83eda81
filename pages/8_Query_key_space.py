"""Query/key space (after AttentionViz): one head's queries and keys, of a corpus and of the sentence, in one plane."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.model import qkspace
from attnviz.ui import Setting

MAX_TOP = 8
SETTINGS = {
    "qks_layer": Setting("layer", 0, ui.whole(0, 5)),
    "qks_head": Setting("head", 0, ui.whole(0, 11)),
    "qks_method": Setting("proj", "pca", ui.one_of(tuple(qkspace.METHODS))),
    "qks_query": Setting("q", 0, ui.whole(0, 255)),
    "qks_top": Setting("top", 3, ui.whole(1, MAX_TOP)),
}

settings = ui.setup("Query/key space", SETTINGS)
st.title("Query/key space")
st.caption(
    "Each word piece asks with its query and answers with its key. Here are one head's queries and keys, for "
    "the sentences of a small bundled corpus and for yours, in one plane (as AttentionViz draws them), after two "
    "moves that change no attention weight and bring the two clouds together."
)
model = ui.minilm_or_stop()
job = ui.qk_corpus(model)
if not job.future.done():
    ui.wait_for(
        job.future,
        lambda: (
            job.done / job.total,
            f"Reading the corpus: {job.done} of {job.total} sentences through the model (once per server)…",
        ),
    )
    st.stop()
corpus = job.future.result()


def back_to_pca() -> None:
    ui.set_setting("qks_method", "pca")


c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
layer = int(c1.number_input("Layer", 0, 5, help="0 is the first of the model's 6 layers.", **ui.widget("qks_layer")))
head = int(c2.number_input("Head", 0, 11, help="Each layer has 12 heads of 32 features.", **ui.widget("qks_head")))
method = c3.radio(
    "Projection",
    tuple(qkspace.METHODS),
    format_func=qkspace.METHODS.get,
    horizontal=True,
    help="PCA: the plane of largest spread, fitted once per head on the corpus; your sentence is placed in it. "
    f"t-SNE: a seeded map of your sentence and {qkspace.TSNE_SENTENCES} corpus sentences that keeps neighbours, "
    "computed in the background (a few seconds).",
    **ui.widget("qks_method"),
)
top_k = int(
    c4.slider(
        "Lines to the strongest keys",
        1,
        MAX_TOP,
        help="How many of the chosen query's keys get a line.",
        **ui.widget("qks_top"),
    )
)

learned = ui.learned_text(settings.sentence, model, layers=layer)  # only the layers before this one
if learned is None:
    st.stop()
pieces, full = learned
keep = pieces.shown(settings.special)
q, k = qkspace.project_head(ui.bert_weights(model), full.hidden[layer][keep], layer, head)  # [n, 32] the shown pieces
tokens = tuple(t for t, shown in zip(pieces.tokens, keep) if shown)
n = len(tokens)
fitted = ui.qk_corpus_head(layer, head, settings.special, corpus)
norm = fitted.normalisation
weights = qkspace.weights(norm, q, k)  # [n, n] from the moved vectors: the model's weights (renormalised if hidden)

space = None
if method == "tsne":
    future = ui.qk_tsne(layer, head, settings.special, settings.sentence, fitted, q, k, tokens)
    if future.done():
        space = future.result()
    else:
        ui.wait_for(
            future, lambda: (None, "t-SNE is running in the background (a few seconds); PCA is shown meanwhile.")
        )
        st.button("Stop: stay with PCA", on_click=back_to_pca, key="qks_stop", icon=":material/stop:")
if space is None:
    space = qkspace.space(fitted, q, k, tokens)

labels = figures.unique_labels(tokens)
query = ui.pick("Follow one query", labels, key="qks_query", url=SETTINGS["qks_query"].url)
top = qkspace.strongest(weights[query], top_k)
corpus_n = int((space.sentence != qkspace.TYPED).sum() // 2)
shown_sentences = len(np.unique(space.sentence[space.sentence != qkspace.TYPED]))
axes = ("PC 1", "PC 2") if space.method == "pca" else ("t-SNE 1", "t-SNE 2")
ui.chart(
    figures.qk_space(
        ui.qk_corpus_traces(layer, head, settings.special, settings.sentence if space.method == "tsne" else "", space,
                            corpus.sentences),
        space.typed(True), space.typed(False), tokens, chosen=query, top=top, top_weights=weights[query, top], axes=axes,
    ),
    key="qks_plane",
)  # fmt: skip
special = (
    "[CLS] and [SEP] included, as the sidebar says"
    if settings.special
    else "[CLS] and [SEP] left out, as the sidebar says (the weights are renormalised over the rest, as on the other pages)"
)
st.caption(
    f"Layer {layer}, head {head}: blue circles are queries, orange diamonds keys; large and labelled, the {n} pieces "
    f"of your sentence; faint, the {corpus_n} pieces of {shown_sentences} corpus sentences; {special}. "
    "Hover over a point to see its token and sentence."
)
if space.method == "pca":
    a, b = space.plane.explained
    st.caption(
        f"PCA keeps {a:.1%} and {b:.1%} of the spread of the 32 numbers along its two axes: two points far apart "
        "are far apart, but two near each other may differ in what the plane leaves out."
    )
else:
    st.caption(
        f"t-SNE (seed {qkspace.TSNE_SEED}) of your sentence and {shown_sentences} corpus sentences: it keeps "
        "neighbours, not distances, so read clusters, not lengths."
    )

word = ui.md_escape(labels[query])
best = ", ".join(f"“{ui.md_escape(labels[j])}” {weights[query, j]:.3f}" for j in top)
st.markdown(
    f"The query of “{word}” gives its largest weights to {best} (the lines; each is a weight in its own sentence, "
    "since a query only ever meets the keys of its sentence)."
)

st.subheader("What the two moves do, and what nearness means")
st.latex(
    r"w_{ij} = \operatorname{softmax}_j\!\left(\frac{q_i \cdot k_j}{\sqrt{32}}\right),\qquad "
    r"q_i \cdot (k_j + t) = q_i \cdot k_j + \underbrace{q_i \cdot t}_{\text{the same for every } j},\qquad "
    r"(s\,q_i) \cdot \frac{k_j}{s} = q_i \cdot k_j"
)
t_len = float(np.linalg.norm(norm.shift))
qn, kn = norm.queries(q), norm.keys(k)
st.latex(
    rf"t = s^2\,\bar q - \bar k,\ \ |t| = {t_len:.3f},\qquad s = {norm.scale:.4f},\qquad "
    rf"\overline{{|s\,q|}} = \overline{{\left|\tfrac{{k + t}}{{s}}\right|}} = {qkspace.mean_norm(fitted.q):.3f}"
)
mix = fitted.mixing
st.caption(
    "Two freedoms change no weight: moving every key by one vector t adds the same number to all of a query's "
    "scores (the softmax ignores that), and stretching the queries by s while shrinking the keys by 1/s keeps every "
    f"dot product. This head's corpus gets t and s so that the two clouds share a centre and the same mean length "
    f"(here {qkspace.mean_norm(fitted.q):.3f}). "
    + (
        "What that buys is that queries and keys mix"
        if mix.key_nearest > mix.key_nearest_raw
        else "For this head they do not mix more"
    )
    + f": in all {fitted.q.shape[1]} dimensions, {mix.key_nearest:.1%} of the corpus's {len(fitted.tokens)} queries "
    f"have a key as their nearest neighbour, against {mix.key_nearest_raw:.1%} before the moves. It does not make distance a "
    "measure of attention: |q − k|² = |q|² + |k|² − 2 q · k, so lengths count too. Over every query–key pair of a "
    f"corpus sentence, the correlation of the distance with q · k is {mix.correlation:.2f} after the moves and "
    f"{mix.correlation_raw:.2f} before (-1 would put every pair on one falling line). For one query, nearness orders its "
    "keys by q′ · k′ − |k′|²/2, not by q′ · k′ alone."
)
st.caption(
    f"Your sentence, moved the same way: mean length {qkspace.mean_norm(qn):.3f} for its queries and "
    f"{qkspace.mean_norm(kn):.3f} for its keys; its weights, computed from the moved vectors, are the model's."
)
