"""The seed's walk-through: X -> W* = X Xᵀ -> W = softmax(W*) -> Y = W X, for the typed sentence."""

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.lesson import Matrix
from attnviz.model.embeddings import KIND_LABELS

SECTIONS = ("x", "scores", "w", "y", "row")  # the steps a reader opens; in the URL as `open=x,w` (or `all`)
OPEN = "step_open"
settings = ui.setup("Step by step", {**ui.W_SETTINGS, OPEN: ui.Setting("open", ("w",), ui.some_of(SECTIONS))})
st.title("Step by step")
emb, trace = ui.attention(settings)
n, d = trace.n, trace.d
tokens = trace.tokens
st.caption(
    "The seed's walk-through, one step per section: open them in order, or just the one you need. "
    "A section is computed and drawn only while it is open, so a new sentence redraws what you look at."
)


def section(label: str, name: str):
    return ui.section(label, name, key=OPEN, options=SECTIONS)


# The steps in the seed's order; a closed step's code does not run. W (the matrix every page is
# about) is filled first, so it is the first chart to change after Enter; the others follow.
words = st.container()
x_box = section("**1 · Word vectors X**", "x")
scores_box = section("**2 · Raw scores W\\* = X Xᵀ**", "scores")
weights_box = section("**3 · Weights W = softmax(W\\*), along each row**", "w")
y_box = section("**4 · Context-aware vectors Y = W X**", "y")
query_box = section("**One word's new vector, as a weighted average**", "row")


def why_softmax() -> None:
    negative_rows = np.flatnonzero((trace.scores < 0).any(axis=1))
    with st.popover("Why a softmax, and not just dividing each row by its sum?"):
        if negative_rows.size:
            r = int(negative_rows[0])
            row = trace.scores[r]
            st.markdown(
                f"Row {r + 1} ({ui.md_escape(figures.unique_labels(tokens)[r])}) has negative scores. Dividing by its sum "
                f"({row.sum():.4f}) would give these 'weights':"
            )
            st.text("  ".join(f"{v:+.3f}" for v in row / row.sum()))
            st.markdown(
                "Some are negative (or huge, when the sum is near 0), so they are not a recipe for an average. "
                "The exponential makes every score positive first, keeps their order, and the division then "
                "makes the row add up to 1."
            )
        else:
            st.markdown(
                "In this sentence every score happens to be positive, but dot products can be negative; "
                "dividing by the row sum would then give negative weights (or explode when the sum is near 0). "
                "The exponential makes every score positive first and keeps their order."
            )


# --- 3. W ------------------------------------------------------------------------------------
if weights_box.open:
    with weights_box:
        s_tex = "1" if settings.scale == "none" else rf"\tfrac{{1}}{{\sqrt{{{d}}}}}"
        st.latex(
            rf"W_{{ij}} = \frac{{\exp\!\left(s\,W^*_{{ij}} / T\right)}}{{\sum_k \exp\!\left(s\,W^*_{{ik}} / T\right)}}"
            rf"\qquad s = {s_tex},\; T = {settings.temperature:g}"
        )
        ui.weights_view(trace.weights, tokens, key="step_weights")
        st.caption(
            "Each row now holds positive weights that add up to 1: how much the row word takes from each column word."
        )
        why_softmax()
        ui.csv_button(Matrix("W", tokens, tokens, trace.weights), key="step_csv_w")
        if (pair := ui.second_attention(settings)) is not None:
            ui.compare("step_pair", (tokens, trace.weights), (pair[1].tokens, pair[1].weights), what="W")

# --- 0. tokens --------------------------------------------------------------------------------
with words:
    st.header("0 · The words")
    st.text(" | ".join(tokens))
    if emb.source == KIND_LABELS["toy"]:
        markers = "The toy embeddings have no [CLS] or [SEP]."
    elif settings.special:
        markers = "[CLS] and [SEP] are shown: the model adds them at the start and the end."
    else:
        markers = (
            "[CLS] and [SEP] are hidden: they are dropped before the softmax "
            "(the same as dropping them and renormalising each row)."
        )
    st.caption(f"{n} tokens from {emb.source}. {markers}")

# --- 1. X ------------------------------------------------------------------------------------
if x_box.open:
    with x_box:
        st.latex(
            rf"X = \begin{{bmatrix}} x_1 \\ \vdots \\ x_{{{n}}} \end{{bmatrix}} \in \mathbb{{R}}^{{{n} \times {d}}}"
        )
        ui.chart(figures.vectors_heatmap(trace.x, tokens, value_name="x"), key="step_x")
        st.caption(
            f"Each row is one word's vector of {d} numbers from the embedding layer; "
            "at this point every word knows nothing about its neighbours."
        )
        ui.csv_button(Matrix("X", tokens, None, trace.x), key="step_csv_x")

# --- 2. W* -----------------------------------------------------------------------------------
if scores_box.open:
    with scores_box:
        i, j = (0, 1) if n > 1 else (0, 0)
        st.latex(
            rf"W^*_{{ij}} = x_i \cdot x_j \qquad\text{{e.g.}}\quad "
            rf"W^*_{{{i + 1}{j + 1}}} = x_{{{ui.latex_text(figures.unique_labels(tokens)[i])}}} \cdot x_{{{ui.latex_text(figures.unique_labels(tokens)[j])}}} "
            rf"= {trace.scores[i, j]:.4f}"
        )
        ui.chart(figures.scores_heatmap(trace.scores, tokens, value_name="W*"), key="step_scores")
        above, below = int((trace.scores > 1).sum()), int((trace.scores < 0).sum())
        st.caption(
            "Each cell is the dot product of a row word with a column word: large when they point the same way. "
            f"These are not normalised: {above} of the {n * n} scores are above 1 and {below} are below 0."
        )
        ui.csv_button(Matrix("W*", tokens, tokens, trace.scores), key="step_csv_scores")

# --- 4. Y ------------------------------------------------------------------------------------
if y_box.open:
    with y_box:
        st.latex(rf"y_i = \sum_{{j=1}}^{{{n}}} W_{{ij}}\, x_j \qquad Y = W X \in \mathbb{{R}}^{{{n} \times {d}}}")
        ui.chart(figures.vectors_heatmap(trace.output, tokens, value_name="y"), key="step_y")
        st.caption(
            "Each row is the weighted average of all the word vectors, using that word's row of W: "
            "every word now carries a little of its context."
        )
        st.info(
            "On conventions: the seed writes this step as Xᵀ W. Here the words are the *rows* of X and W sums to 1 "
            "along its rows, so the weighted averages are the rows of W X (equivalently the columns of Xᵀ Wᵀ). "
            "Xᵀ W would weight by W's columns, which do not add up to 1.",
            icon=":material/straighten:",
        )
        ui.csv_button(Matrix("Y", tokens, None, trace.output), key="step_csv_y")

# --- one query, as a weighted average ---------------------------------------------------------
if query_box.open:
    with query_box:
        labels = figures.unique_labels(tokens)
        q = ui.pick("Query token", labels, key="step_query")
        ui.chart(figures.row_bars(trace.weights[q], tokens), key="step_row")
        st.caption(
            f"Row {q + 1} of W: the share of each word's vector that goes into the new vector of "
            f"“{ui.md_escape(labels[q])}”."
        )
        top = np.argsort(-trace.weights[q])[: min(n, 4)]
        terms = " + ".join(rf"{trace.weights[q, k]:.3f}\,x_{{{k + 1}}}" for k in top)
        more = r" + \dots" if n > len(top) else ""
        st.latex(rf"y_{{{q + 1}}} = {terms}{more}")
        if d <= 4:
            vec = lambda v: r"\begin{bmatrix}" + r" \\ ".join(f"{a:.3f}" for a in v) + r"\end{bmatrix}"  # noqa: E731
            parts = " + ".join(rf"{trace.weights[q, k]:.3f}{vec(trace.x[k])}" for k in range(n) if n <= 6)
            if parts:
                st.latex(rf"y_{{{q + 1}}} = {parts} = {vec(trace.output[q])}")
