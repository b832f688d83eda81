"""Unparameterised attention (the seed's) beside the learned heads of all-MiniLM-L6-v2, in NumPy."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.attention import core, patterns
from attnviz.model import heads
from attnviz.model.embeddings import ModelUnavailable

settings = ui.setup("Unparameterised vs learned")
st.title("Unparameterised vs learned attention")
st.caption(
    "The seed's attention compares the word vectors as they are. A trained transformer first maps "
    "them through learned matrices W_q, W_k, W_v; here are its real heads, recomputed in NumPy."
)
model = ui.minilm()

VIEWS = ("Side by side", "Model view: all 72 heads", "Head view", "Neuron view")
view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="learned_view") or VIEWS[0]
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
source = c1.radio(
    "Right-hand attention",
    ("learned", "random"),
    format_func={"learned": "Learned head (MiniLM)", "random": "Random W_q, W_k (same shapes)"}.get,
    horizontal=True,
    key="learned_source",
)
layer, head = ui.layer_and_head(c2, c3, "learned")
causal = c4.toggle(
    "Causal mask",
    key="learned_causal",
    help="GPT-style: each token may only look at itself and earlier tokens.",
)
emb, left = ui.attention(settings, causal=causal)  # the seed's attention, with the same mask as the right
if model is None:
    st.info(
        "The learned heads need the MiniLM model, which is not available yet; see the sidebar.",
        icon=":material/hourglass_top:",
    )
    st.stop()

pieces, full = ui.learned(settings.sentence, causal, model)
if source == "learned" and st.button(
    f"What is layer {layer}, head {head}?",
    icon=":material/grid_view:",
    key="learned_what",
    help="Open the Heads page on this head: what it does over a corpus, beside the papers, and what removing it changes.",
):
    ui.switch_to("pages/10_Heads.py", {"heads_layer": int(layer), "heads_head": int(head)})
layer_trace = full.layers[layer]  # HeadsTrace for the chosen layer: q, k, v [12, n, 32]
special = pieces.special  # [n] bool
tokens = pieces.shown_tokens(settings.special)

if source == "random":
    seed = st.session_state.setdefault("learned_seed", 0)
    if st.button("Re-roll the random matrices", key="learned_reroll"):
        seed = st.session_state["learned_seed"] = seed + 1
    rnd = heads.random_head(
        full.hidden[layer], layer_trace.q.shape[-1], np.random.default_rng(seed), mask=layer_trace.mask
    )
    right_trace, right_head, right_name = rnd, 0, f"random head (seed {seed})"
else:
    right_trace, right_head, right_name = layer_trace, int(head), f"layer {layer}, head {head}"
right = heads.visible(right_trace.weights[right_head], special, settings.special)  # [n, n]
right_mask = core.causal_mask(len(tokens)) if causal else None  # dropping [CLS]/[SEP] keeps a causal mask causal

same_tokens = left.tokens == tokens

if causal:
    st.caption(
        "Causal mask on: each row may only use its own and earlier columns (GPT-style), so the upper "
        "triangle is 0. MiniLM was trained without a mask (BERT-style, every token sees every token), so "
        "its heads are recomputed in NumPy as if it could not look ahead."
    )

if view == VIEWS[0]:
    a, b = st.columns(2)
    with a:
        st.subheader("Unparameterised")
        st.latex(r"W = \operatorname{softmax}\!\left(s\, X X^\top / T\right)")
        ui.chart(figures.weights_heatmap(left.weights, left.tokens), key="learned_left")
        st.caption(f"The seed's attention on {emb.source}: similar word vectors attend to each other.")
    with b:
        st.subheader("Learned" if source == "learned" else "Random parameters")
        st.latex(r"W = \operatorname{softmax}\!\left(\frac{(H W_q + b_q)(H W_k + b_k)^\top}{\sqrt{32}}\right)")
        ui.chart(figures.weights_heatmap(right, tokens), key="learned_right")
        st.caption(
            f"{right_name.capitalize()}: H is the input to layer {layer}. {ui.md_escape(patterns.describe(right, tokens, mask=right_mask))}"
        )
    if same_tokens:
        st.subheader("Difference: right − left")
        ui.chart(
            figures.heatmap(
                right - left.weights,
                figures.token_labels(tokens),
                figures.token_labels(tokens),
                signed=True,
                value_name="Δ weight",
            ),
            key="learned_diff",
        )
        st.caption("Red: the right-hand head puts more weight on this pair than plain dot products do; blue: less.")
        st.subheader("How spread each row is")
        ui.chart(
            figures.entropy_bars(
                {"unparameterised": core.row_entropy(left.weights), right_name: core.row_entropy(right)},
                tokens,
            ),
            key="learned_entropy",
        )
        st.caption("Entropy in bits: 0 means a row puts all its weight on one token; log₂ n means it spreads evenly.")
    else:
        st.info(
            "The left side uses the toy embeddings' words, the right the model's word pieces, so the "
            "difference and entropy comparison need the MiniLM embedding (sidebar).",
            icon=":material/info:",
        )
elif view == VIEWS[1]:
    grid = heads.visible(full.attentions, special, settings.special)  # [6, 12, n, n]
    ui.chart(figures.model_grid(grid, chosen=(int(layer), int(head))), key="learned_grid")
    st.caption(
        "Each small square is one head's W for this sentence (rows: queries, columns: keys); "
        "the outlined one is the head chosen above, shown large below."
    )
    ui.chart(figures.weights_heatmap(right, tokens, title=right_name), key="learned_right")
    st.caption(ui.md_escape(patterns.describe(right, tokens, mask=right_mask)))
elif view == VIEWS[2]:
    chosen = st.multiselect(
        "Heads to overlay",
        range(12),
        default=[int(head)],
        key="learned_overlay",
        format_func=lambda h: f"head {h}",
    )
    choice = ui.pick("Isolate one query token", ["all tokens", *figures.unique_labels(tokens)], key="learned_focus")
    focus = None if choice == 0 else choice - 1
    lines = {
        f"L{layer} H{h}": heads.visible(layer_trace.weights[h], special, settings.special) for h in chosen or [head]
    }
    ui.chart(figures.head_view(lines, tokens, focus=focus), key="learned_headview")
    st.caption(
        "Each line joins a word on the left (the query) to a word on the right (a key); the darker the "
        "line, the more weight. One colour per head."
    )
else:
    qlabels = figures.unique_labels(pieces.tokens)
    q_index = ui.pick("Query token", qlabels, key="learned_query")
    bd = heads.breakdown(right_trace, right_head, q_index)
    keys = figures.token_labels(pieces.tokens)
    qname = ui.latex_text(qlabels[q_index])
    st.latex(
        rf"q = h_{{{qname}}} W_q + b_q,\quad k_j = h_j W_k + b_k,\quad "
        r"w_j = \operatorname{softmax}_j\!\left(\frac{q \cdot k_j}{\sqrt{32}}\right)"
    )
    ui.chart(
        figures.heatmap(bd.q[None, :], ["q"], None, signed=True, row_name="vector", col_name="feature", height=160),
        key="neuron_q",
    )
    st.caption(f"The query vector of “{ui.md_escape(qlabels[q_index])}” in {right_name}: 32 numbers.")
    a, b = st.columns(2)
    with a:
        ui.chart(
            figures.heatmap(bd.k, keys, None, signed=True, row_name="key", col_name="feature", value_name="k"),
            key="neuron_k",
        )
        st.caption("Each key's vector k_j.")
    with b:
        ui.chart(
            figures.heatmap(bd.products, keys, None, signed=True, row_name="key", col_name="feature", value_name="q×k"),
            key="neuron_products",
        )
        st.caption("q × k element by element: red features push the score up, blue pull it down.")
    a, b = st.columns([2, 1])
    with a:
        ui.chart(
            figures.heatmap(
                np.stack([bd.dots, bd.scaled], axis=1),
                keys,
                ["q·k", "q·k / √32"],
                signed=True,
                row_name="key",
                col_name="step",
                annotate=len(keys) <= 40,
            ),
            key="neuron_steps",
        )
        st.caption("Each row of q×k summed gives the dot product q·k; then it is divided by √32.")
    with b:
        ui.chart(
            figures.heatmap(
                bd.weights[:, None], keys, ["softmax"], zmin=0.0, zmax=1.0, row_name="key", col_name="step",
                value_name="weight", annotate=len(keys) <= 40,
            ),
            key="neuron_weights",
        )  # fmt: skip
        st.caption("The softmax of that column: this query's row of the head's W ([CLS]/[SEP] included here).")

if ui.second(settings) is not None and (
    learned_b := ui.learned_text(settings.sentence2, model, which="Second sentence: ")
):
    pieces_b, full_b = ui.learned(settings.sentence2, causal, model)  # with the same mask as the first
    if source == "random":  # the same seed draws the same matrices
        trace_b = heads.random_head(
            full_b.hidden[layer], layer_trace.q.shape[-1], np.random.default_rng(seed), mask=full_b.layers[layer].mask
        )
    else:
        trace_b = full_b.layers[layer]
    right_b = heads.visible(trace_b.weights[right_head], pieces_b.special, settings.special)
    ui.compare(
        "learned_pair",
        (tokens, right),
        (pieces_b.shown_tokens(settings.special), right_b),
        what=right_name.capitalize(),
    )

st.divider()
st.markdown(
    "**Check against the model.** The heads above are computed in NumPy from the model's own files. "
    "The button runs the same sentence through sentence-transformers (the model's own code, in torch) "
    "and shows how far the two differ."
)
if causal:
    st.caption("The check runs without the causal mask (the model has none).")
missing = ui.reference_missing()
if missing is not None:
    st.button("Check against the model", key="learned_check", disabled=True, help=f"Cannot check: {missing}.")
    st.caption(
        f"The check cannot run on this server: {missing}. The heads are still served through NumPy; "
        "install sentence-transformers and torch (requirements.txt) to compare them with the model."
    )
elif st.button("Check against the model", key="learned_check") or st.session_state.get("learned_checked"):
    st.session_state["learned_checked"] = True  # once pressed, the check follows the sentence
    try:
        with st.spinner("Loading the model through sentence-transformers (once per server)…"):
            check = ui.checked(settings.sentence, model)
    except ModelUnavailable as e:
        st.warning(f"The check could not run: {ui.md_escape(str(e))}", icon=":material/warning:")
    else:
        pieces_note = (
            f"the same {check.n} word pieces and ids"
            if check.same_pieces
            else "**different word pieces** (please report this)"
        )
        st.markdown(
            f"**Checked against the model:** for this sentence both tokenizers give {pieces_note}; the NumPy heads "
            f"differ from MiniLM's own attention by at most {check.attention:.1e} (all 72 heads) and the hidden "
            f"states by at most {check.hidden:.1e} (all 6 layers)."
        )
