"""Query, key, value: seed 000's pipeline for one head, from the layer's input H to the next layer's input."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.attention import core, cross, patterns
from attnviz.learn import training
from attnviz.model import heads, qkv

settings = ui.setup("Query, key, value")
st.title("Query, key, value, step by step")
st.caption(
    "A trained transformer does not compare the word vectors as they are: each head first maps them to "
    "queries, keys and values, compares queries with keys, and averages the values. Here is one head (of "
    "all-MiniLM-L6-v2, with random projections, or the layer trained on the Train page), every number recomputed "
    "in NumPy."
)
model = ui.minilm()
run = st.session_state.get("train_run")  # a layer trained on the Train page, if this session has one
SOURCES = {"minilm": "Learned (MiniLM)", "random": "Random W_q, W_k, W_v"}
if run is not None:
    SOURCES["trained"] = "Trained on the Train page"

PARTS = ("The head: H → Z (1–5)", "Its layer: Z → next H (6–9)")
c1, c2, c3, c4 = st.columns([2, 1, 1, 3])
source = c1.radio(
    "Head",
    tuple(SOURCES),
    format_func=SOURCES.get,
    horizontal=True,
    key="qkv_source",
    help="Random: the same layer with random projections (same shapes, nothing learned). Trained: the tiny "
    "layer you trained on the Train attention page, on its letter sequence.",
)
trained = source == "trained"
if not trained:
    model = ui.minilm_or_stop()
layer, head = (0, 0) if trained else ui.layer_and_head(c2, c3, "qkv")
part = c4.segmented_control("Show", PARTS, default=PARTS[0], key="qkv_part") or PARTS[0]

if trained:
    src = qkv.trained_source(run.trainer)
else:
    learned_a = ui.learned_text(settings.sentence, model, layers=layer)  # H = the input to `layer`
    if learned_a is None:
        st.stop()
    pieces, full = learned_a
    weights = ui.bert_weights(model)
    projections = None
    if source == "random":
        seed = st.session_state.setdefault("qkv_seed", 0)
        if c1.button("Re-roll the random matrices", key="qkv_reroll"):
            seed = st.session_state["qkv_seed"] = seed + 1
        projections = ui.random_layer(layer, seed, model)
    src = qkv.minilm_source(weights, full, layer, head, projections=projections)
title = src.name[0].upper() + src.name[1:]  # "MiniLM layer 2, head 3" as a heading
labels = figures.unique_labels(src.tokens)
query = ui.pick("Follow one query word", labels, key="qkv_query", default=1, where=c4)
qname = ui.latex_text(labels[query])
tokens, n, dh, d = src.tokens, len(src.tokens), src.d_head, src.h.shape[1]
trace = qkv.head_trace(src)  # one head: q, k, v [1, n, d_head], weights [1, n, n]
if trained:
    st.latex(
        r"X \to Q, K, V = X W_{q,k,v} \to S = \tfrac{QK^\top}{\sqrt{d_{head}}}"
        r"\to W = \operatorname{softmax}(S) \to Z = WV \to \text{logits} = Z\,W_{out}"
    )
    st.caption(
        f"The pipeline of {ui.md_escape(src.name)}, on the sequence the Train page shows ({n} letters, labelled "
        "position:letter): one head, no biases, no layer around it, then a readout to one letter per position."
        + (
            " Its task is causal, so each row may only look at itself and earlier positions."
            if src.mask is not None
            else ""
        )
    )
else:
    st.latex(
        r"\begin{aligned}&H \to Q, K, V = H W_{q,k,v} + b_{q,k,v} \to S = \tfrac{QK^\top}{\sqrt{32}}"
        r"\to W = \operatorname{softmax}(S) \to Z = WV \\"
        r"&\to [Z_0|\cdots|Z_{11}]\,W_o + b_o \to H' = \operatorname{LN}(H + \cdot\,)"
        r"\to \operatorname{LN}(H' + \operatorname{MLP}(H')) = H_\text{next}\end{aligned}"
    )
    st.caption(
        f"The pipeline of {ui.md_escape(src.name)}. {n} word pieces, [CLS] and [SEP] included: the model reads them "
        "and they take weight, so hiding them here would break the sums."
    )

if part == PARTS[0]:
    # --- 1. H --------------------------------------------------------------------------------
    st.header("1 · X, the input" if trained else f"1 · H, the input to layer {layer}")
    if trained:
        st.latex(
            rf"X = [\,\mathrm{{onehot}}(\text{{letter}}) \mid \mathrm{{onehot}}(\text{{position}})\,] \in \mathbb{{R}}^{{{n} \times {d}}}"
        )
        where = "a one for the letter and a one for the position, zeros elsewhere"
    elif layer == 0:
        st.latex(
            r"H = \operatorname{LayerNorm}\left(E_\text{word} + E_\text{position} + E_\text{segment}\right)"
            rf"\in \mathbb{{R}}^{{{n} \times {d}}}"
        )
        where = "the word-piece embeddings plus position and segment embeddings, after LayerNorm"
    else:
        st.latex(rf"H = \text{{output of layer {layer - 1}}} \in \mathbb{{R}}^{{{n} \times {d}}}")
        where = f"what layer {layer - 1} handed on: every piece already mixed with its context {layer} time(s)"
    if trained:
        names = training.feature_names(n)
        ui.chart(figures.heatmap(src.h, figures.token_labels(tokens), list(names), row_name="position",
                                        col_name="feature", value_name="x", annotate=False), key="qkv_h")  # fmt: skip
    else:
        ui.chart(figures.vectors_heatmap(src.h, tokens, value_name="h"), key="qkv_h")
    st.caption(f"One row per {'position' if trained else 'word piece'}, {d} features each: {where}.")

    # --- 2. Q, K, V --------------------------------------------------------------------------
    st.header("2 · Queries, keys and values")
    st.latex(
        (
            r"Q = X W_q,\quad K = X W_k,\quad V = X W_v"
            if trained
            else r"Q = H W_q + b_q,\quad K = H W_k + b_k,\quad V = H W_v + b_v"
        )
        + rf"\qquad W_\ast \in \mathbb{{R}}^{{{d} \times {dh}}},\; Q, K, V \in \mathbb{{R}}^{{{n} \times {dh}}}"
    )
    ui.chart(figures.qkv(trace.q[0], trace.k[0], trace.v[0], tokens, query=query), key="qkv_qkv")
    st.caption(
        f"Three linear maps of the same rows, {dh} numbers each: a query (what a piece looks for), a key (what it "
        f"offers) and a value (what it passes on); the outlined row is the query of “{ui.md_escape(labels[query])}”."
    )

    # --- 3 and 4. S and W --------------------------------------------------------------------
    st.header("3 · Scores, and 4 · weights: a softmax along each row")
    st.latex(
        rf"S_{{ij}} = \frac{{q_i \cdot k_j}}{{\sqrt{{{dh}}}}} \qquad W_{{ij}} = \frac{{\exp S_{{ij}}}}{{\sum_k \exp S_{{ik}}}}"
    )
    ui.chart(figures.scores_and_weights(trace.scores[0], trace.weights[0], tokens, d_head=dh), key="qkv_scores")
    allowed = trace.scores[0, query] if src.mask is None else np.where(src.mask[query], trace.scores[0, query], -np.inf)
    best = int(np.argmax(allowed))  # among the keys this query may see (a causal head hides the later ones)
    st.caption(
        f"Every query against every key, divided by √{dh} so the scores do not grow with the vectors' size, then "
        f"each row turned into weights that add up to 1. The query of “{ui.md_escape(labels[query])}” scores highest "
        f"on the key of “{ui.md_escape(labels[best])}”: {trace.scores[0, query, best]:.4f}, weight "
        f"{trace.weights[0, query, best]:.4f}. {ui.md_escape(patterns.describe(trace.weights[0], tokens, mask=src.mask, columns=src.columns))}"
    )

    # --- 5. Z --------------------------------------------------------------------------------
    st.header("5 · Output: Z = W V")
    st.latex(rf"z_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}\, v_j \qquad Z = W V \in \mathbb{{R}}^{{{n} \times {dh}}}")
    ui.chart(figures.vectors_heatmap(trace.output[0], tokens, value_name="z"), key="qkv_z")
    st.caption("Each row is a weighted average of the value vectors, with that piece's row of W as the weights.")

    # --- one query followed ------------------------------------------------------------------
    st.header(f"Follow “{ui.md_escape(labels[query])}” through the head")
    f = qkv.follow(trace, query)
    top = np.argsort(-f.score.weights, kind="stable")[: min(n, 3)]
    terms = " + ".join(rf"{f.score.weights[j]:.3f}\, v_{{{ui.latex_text(labels[j])}}}" for j in top)
    st.latex(
        rf"w_j = \operatorname{{softmax}}_j \frac{{q_{{{qname}}} \cdot k_j}}{{\sqrt{{{dh}}}}} \qquad "
        rf"z_{{{qname}}} = \sum_j w_j\, v_j = {terms}" + (r" + \dots" if n > len(top) else "")
    )
    ui.chart(
        figures.query_walk(f.score.dots, f.score.scaled, f.score.weights, trace.v[0], tokens, d_head=dh),
        key="qkv_follow",
    )
    st.caption(
        f"One row per key: its dot product with the query of “{ui.md_escape(labels[query])}”, divided by √{dh}, the "
        f"weight the softmax gives it, and its value vector times that weight; below the line their sum, the row "
        f"of Z. The largest share, {f.score.weights[top[0]]:.3f}, comes from “{ui.md_escape(labels[top[0]])}”."
    )
else:
    walk = qkv.layer_walk(src)
    if src.readout is not None:
        logits = trace.output[0] @ src.readout  # [n, vocabulary]
        st.header("6 · Readout: one letter per position")
        st.latex(r"\text{logits} = Z\,W_{out},\qquad \text{answer}_i = \arg\max_c\; \text{logits}_{ic}")
        ui.chart(
            figures.heatmap(logits, figures.token_labels(tokens), list(training.VOCAB), signed=True,
                            row_name="position", col_name="letter", value_name="logit", annotate=False),
            key="qkv_readout",
        )  # fmt: skip
        answers = "".join(training.VOCAB[c] for c in np.argmax(logits, axis=1))
        keys = run.trainer.task.keys(run.trainer.probe)
        wanted = "".join(training.VOCAB[run.trainer.probe[k]] if k >= 0 else "·" for k in keys)
        st.caption(
            f"This layer has no W_o, residual or feed-forward part: its Z goes straight to a score for each of the "
            f"{len(training.VOCAB)} letters. Reading the largest score per row gives “{answers}”; the task wants "
            f"“{wanted}” (· where a position has no answer)."
        )
        st.stop()
    if walk is None:
        st.info("This head has no layer around it: the walk ends at Z.", icon=":material/info:")
        st.stop()
    h_all = walk.heads.q.shape[0]
    st.header(f"6 · All {h_all} heads side by side")
    st.latex(rf"[\,Z_0 \mid Z_1 \mid \cdots \mid Z_{{{h_all - 1}}}\,] \in \mathbb{{R}}^{{{n} \times {h_all * dh}}}")
    ui.chart(figures.heads_side_by_side(walk.merged, tokens, n_heads=h_all, chosen=head), key="qkv_heads")
    st.caption(
        f"Every head of layer {layer} does steps 2–5 with its own W_q, W_k, W_v; their outputs are put side by "
        f"side, {dh} columns each. The outlined columns are head {head}, the Z of step 5."
    )
    st.header("7 · Mixed back: Z W_o + b_o")
    st.latex(rf"A = [\,Z_0 \mid \cdots\,]\, W_o + b_o \qquad W_o \in \mathbb{{R}}^{{{h_all * dh} \times {d}}}")
    ui.chart(figures.vectors_heatmap(walk.mixed, tokens, value_name="a"), key="qkv_mixed")
    st.caption("A learned matrix mixes the heads' findings into one vector of the model's width per piece.")
    st.header("8 · Residual and LayerNorm")
    st.latex(r"H' = \operatorname{LayerNorm}(H + A)")
    ui.chart(figures.vectors_heatmap(walk.normed, tokens, value_name="h'"), key="qkv_normed")
    st.caption(
        "The input is added back (the residual: attention only adds context to what each piece already was), "
        "then each row is rescaled to mean 0 and variance 1 and given a learned scale and shift."
    )
    last = layer + 1 == weights.n_layers
    st.header(f"9 · {'The model’s output' if last else f'The input to layer {layer + 1}'}")
    st.latex(r"H_\text{next} = \operatorname{LayerNorm}\left(H' + \operatorname{GELU}(H' W_1 + b_1)\, W_2 + b_2\right)")
    ui.chart(figures.vectors_heatmap(walk.next_input, tokens, value_name="h"), key="qkv_next")
    st.caption(
        f"Each piece on its own through a small network ({d} → {src.layer.w_1.shape[1]} → {d}), added back and "
        f"normalised again: {'the output token embeddings' if last else 'H for the next layer'}. Row "
        f"“{ui.md_escape(labels[query])}” has now seen the whole sentence {layer + 1} time(s)."
    )

# --- two sentences ---------------------------------------------------------------------------
if trained:
    st.stop()  # the trained layer reads letter sequences, not the sentences in the sidebar
if ui.second(settings) is None:
    st.divider()
    st.caption(
        "Type a second sentence in the sidebar to compare this head on two sentences and to see "
        "cross-attention: the words of one sentence attending to the words of the other."
    )
    st.stop()
learned_b = ui.learned_text(settings.sentence2, model, layers=layer, which="Second sentence: ")
if learned_b is None:
    st.stop()
pieces_b, full_b = learned_b
src_b = qkv.minilm_source(weights, full_b, layer, head, projections=projections)
keep_a, keep_b = pieces.shown(settings.special), pieces_b.shown(settings.special)
shown_a, shown_b = pieces.shown_tokens(settings.special), pieces_b.shown_tokens(settings.special)
w_a = heads.visible(trace.weights[0], pieces.special, settings.special)
w_b = heads.visible(qkv.head_trace(src_b).weights[0], pieces_b.special, settings.special)
ui.compare("qkv_pair", (shown_a, w_a), (shown_b, w_b), what=f"The W of {ui.md_escape(src.name)}")

st.header("Cross-attention: A asks, B answers")
st.caption(
    "Queries from sentence A, keys and values from sentence B, each sentence encoded on its own: every piece "
    "of A becomes a weighted average of B's vectors. In translation this is how the sentence being written looks "
    "at the source: a good row puts its weight on the word it translates, so W looks like an alignment, close to "
    "the diagonal when the two languages keep the same word order."
)
if cross.looks_foreign(pieces_b.tokens):
    words, continued, unknown = cross.fragmentation(pieces_b.tokens)
    st.warning(
        f"MiniLM was trained on English. Sentence B falls apart: {words} words became {continued} extra "
        f"'##' pieces and {unknown} [UNK]. Its vectors for such pieces mean little, so read this as a picture of "
        "the mechanism, not of a translation model.",
        icon=":material/translate:",
    )
try:  # X for each sentence as the sidebar's embedding gives it (their notices are shown above)
    plain_a, plain_b = (ui.seed_attention(text, settings, False)[1] for text in (settings.sentence, settings.sentence2))
    plain = core.cross_attention(
        plain_a.vectors, plain_b.vectors, plain_a.tokens, plain_b.tokens,
        scale=settings.scale, temperature=settings.temperature,
    )  # fmt: skip
except core.AttentionError as e:
    st.info(ui.md_escape(str(e)), icon=":material/edit:")
    st.stop()
left, right = st.columns(2)
with left:
    st.subheader("Unparameterised")
    st.latex(r"W = \operatorname{softmax}\!\left(s\, X_A X_B^\top / T\right),\quad Y = W X_B")
    ui.chart(figures.cross_heatmap(plain.weights, plain.queries, plain.keys), key="qkv_cross_plain")
    st.caption(f"Each row: how similar one piece of A is to each piece of B in {plain_a.source}, as weights.")
    ui.chart(figures.vectors_heatmap(plain.output, plain.queries, value_name="y"), key="qkv_cross_plain_y")
    st.caption("The output: each piece of A rebuilt from B's vectors.")
with right:
    st.subheader(title)
    st.latex(
        r"\begin{aligned}W &= \operatorname{softmax}\!\left(\frac{(H_A W_q + b_q)(H_B W_k + b_k)^\top}{\sqrt{32}}\right)"
        r"\\ Z &= W\,(H_B W_v + b_v)\end{aligned}"
    )
    learned_cross = qkv.head_trace(src, context=src_b, keep=keep_a, keep_context=keep_b)
    ui.chart(figures.cross_heatmap(learned_cross.weights[0], shown_a, shown_b), key="qkv_cross_learned")
    st.caption(f"H_A and H_B are each sentence's own input to layer {layer}; the projections are the head's.")
    ui.chart(figures.vectors_heatmap(learned_cross.output[0], shown_a, value_name="z"), key="qkv_cross_learned_z")
    st.caption("The output: each piece of A as a weighted sum of B's value vectors, 32 numbers each.")
