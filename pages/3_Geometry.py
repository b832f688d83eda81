"""The seed's geometric picture: each word vector moves toward the others it averages."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.attention import cross, geometry
from attnviz.model import heads

STEPS = 20
SECTIONS = ("repeat",)  # lazy sections; in the URL as `open=repeat`
OPEN = "geo_open"

settings = ui.setup("Geometry", {OPEN: ui.Setting("open", (), ui.some_of(SECTIONS))})
st.title("Geometry: watch the word vectors move")
st.caption(
    "Without attention each word's vector stays where the embedding put it. With attention each "
    "vector is replaced by a weighted average of all of them, so the words move toward each other."
)
emb, trace = ui.attention(settings)
model = ui.minilm()

c1, c2, c3 = st.columns([2, 1, 1])
source = c1.radio(
    "Attention",
    ("plain", "learned"),
    format_func={"plain": "Unparameterised: X and W X", "learned": "A learned head: V and W V"}.get,
    horizontal=True,
    key="geo_source",
    disabled=model is None,
    help="A learned head averages its value vectors V = H W_v + b_v (32 numbers each) instead of X.",
)
if source == "learned" and model is not None:
    layer, head = ui.layer_and_head(c2, c3, "geo")
    pieces, full = ui.learned(settings.sentence, False, model)
    tokens = pieces.shown_tokens(settings.special)
    x = full.layers[layer].v[head][pieces.shown(settings.special)].astype(np.float64)  # [n, 32] value vectors
    w = heads.visible(full.layers[layer].weights[head], pieces.special, settings.special).astype(np.float64)
    before_name, after_name = "V", "W V"
else:
    tokens, x, w = trace.tokens, trace.x, trace.weights
    before_name, after_name = "X", "W X"
n, d = x.shape
y = w @ x  # [n, d] each row a weighted average of the rows of x

# --- the plane -------------------------------------------------------------------------------
if d == 2:
    how, plane = "exact", geometry.feature_plane(2, 0, 1)
    st.caption("The toy embeddings have exactly two features, so the plot shows the vectors themselves.")
else:
    how = st.radio(
        "Projection to 2-D",
        ("pca", "features"),
        format_func={"pca": "PCA of before and after together", "features": "Two chosen features"}.get,
        horizontal=True,
        key="geo_projection",
    )
    if how == "features":
        f1, f2 = st.columns(2)
        i = f1.number_input("Horizontal feature", 1, d, 1, key="geo_f1") - 1
        j = f2.number_input("Vertical feature", 1, d, min(2, d), key="geo_f2") - 1
        if i == j:
            st.info("Choose two different features.", icon=":material/swap_horiz:")
            st.stop()
        plane = geometry.feature_plane(d, i, j)
    else:
        x = ui.own_span(x)  # same distances and components, n numbers per word instead of d
        y = w @ x
        plane = geometry.fit_pca(np.vstack([x, y]))  # one plane for both, fitted once
        st.caption(
            f"The {d}-dimensional vectors are projected onto the plane that keeps most of their spread: "
            f"it keeps {plane.explained:.0%} of the variance, so distances in the picture are "
            f"{'roughly' if plane.explained < 0.8 else 'mostly'} faithful."
        )

labels = figures.unique_labels(tokens)
chosen = ui.pick("Show the weights of", labels, key="geo_token")
st.latex(
    rf"y_i = \sum_j W_{{ij}}\, {before_name[0].lower()}_j \qquad \text{{(before: {before_name}, after: {after_name})}}"
)
ui.chart(figures.geometry(plane(x), plane(y), w, tokens, chosen=chosen, axes=plane.axes), key="geo_picture")
st.caption(
    f"Hollow points are the vectors before attention ({before_name}), filled points after ({after_name}); "
    f"each arrow is one word's move, and the orange lines show what “{ui.md_escape(labels[chosen])}” averages "
    "(thicker = more weight). Hover a filled point for its row of W."
)
dist = geometry.moved(x, y)
order = np.argsort(-dist)[: min(n, 8)]
st.caption(
    f"Distance moved in the full {d}-dimensional space (mean {dist.mean():.3f}): "
    + ", ".join(f"{ui.md_escape(labels[k])} {dist[k]:.3f}" for k in order)
    + (" …" if n > 8 else "")
    + ". Low temperature: each word mostly keeps itself; high temperature: everything moves to the mean."
)

# --- two sentences ---------------------------------------------------------------------------
if source == "learned" and model is not None:
    if ui.second(settings) and (learned_b := ui.learned_text(settings.sentence2, model, which="Second sentence: ")):
        pieces_b, full_b = learned_b
        keep_b = pieces_b.shown(settings.special)
        second = (
            pieces_b.shown_tokens(settings.special),
            full_b.layers[layer].v[head][keep_b].astype(np.float64),  # [n_B, 32]
            heads.visible(full_b.layers[layer].weights[head], pieces_b.special, settings.special).astype(np.float64),
        )
    else:
        second = None
else:
    second = None if (pair := ui.second_attention(settings)) is None else (pair[1].tokens, pair[1].x, pair[1].weights)
if second is not None:
    tokens_b, xb, wb = second
    if how == "pca":  # each sentence in its own best plane
        xb = ui.own_span(xb)
        plane_b = geometry.fit_pca(np.vstack([xb, wb @ xb]))
    else:
        plane_b = plane
    yb = wb @ xb  # [n_B, d]
    st.header("Two sentences side by side")
    left, right = st.columns(2)
    for box, name, args, key in (
        (left, "A, the sentence", (plane(x), plane(y), w, tokens), "geo_pair_a"),
        (right, "B, the second sentence", (plane_b(xb), plane_b(yb), wb, tokens_b), "geo_pair_b"),
    ):
        with box:
            st.markdown(f"**{name}**")
            ui.chart(figures.geometry(*args, axes=(plane if box is left else plane_b).axes), key=key)
    st.caption(
        f"Both sentences' vectors before ({before_name}) and after ({after_name}) attention, each in "
        + ("its own PCA plane." if how == "pca" else "the same plane.")
    )
    shared = cross.shared_pieces(tokens, tokens_b)
    if len(shared):
        moved_a, moved_b = dist[shared.a], geometry.moved(xb, yb)[shared.b]
        ui.chart(
            figures.heatmap(
                np.stack([moved_a, moved_b, moved_b - moved_a], axis=1),
                figures.token_labels(shared.tokens),
                ["A", "B", "B − A"],
                signed=True,
                row_name="piece",
                col_name="sentence",
                value_name="distance moved",
            ),
            key="geo_pair_moved",
        )
        st.caption(
            f"How far each of the {len(shared)} shared pieces moved in the full {d}-dimensional space, in A and in B, "
            "and the difference: red where it moved further in B."
        )
    else:
        st.info("The two sentences share no word pieces, so there is no difference to show.", icon=":material/info:")

# --- repeated attention ---------------------------------------------------------------------
# The animation and its distances: the heaviest part of the page, drawn only while open.
repeat = ui.section("**Apply the same attention again and again** (an animation)", "repeat", key=OPEN, options=SECTIONS)
if repeat.open:
    with repeat:
        residual = st.toggle("Residual connection: Y = X + W X", key="geo_residual")
        frames = geometry.repeat(w, x, STEPS, residual=residual)  # [K + 1, n, d]
        st.latex(r"Y_k = \tfrac{1}{2}\left(Y_{k-1} + W Y_{k-1}\right)" if residual else r"Y_k = W\,Y_{k-1} = W^k X")
        ui.chart(figures.animation(plane(frames), tokens, axes=plane.axes), key="geo_animation")
        mean_d, diam = geometry.spread(frames)
        ui.chart(
            figures.distance_chart({"mean distance between two words": mean_d, "largest distance": diam}),
            key="geo_distances",
        )
        if residual:
            st.caption(
                "With the residual, each step keeps every vector itself and only adds its context (the sum is halved "
                "so the picture keeps its size; that changes no angle or ratio), so the words stay apart far longer. "
                "Real transformers add the input back around every attention layer for this reason; with different "
                "weights in each layer, an MLP and LayerNorm, the words stay distinct through all the layers."
            )
        else:
            st.caption(
                "Press Play: every step replaces each point by a weighted average of the points, so the cloud can only "
                "shrink (the largest distance never grows; the mean can rise for a step when close words are pulled "
                "apart) and the words collapse toward one common point, losing what made them different. "
                "This is why real transformers add the input back: try the residual toggle."
            )
