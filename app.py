"""attnviz home: one picture of W for the sentence, the pipeline in four lines, and the pages."""

import streamlit as st

from attnviz import ui

settings = ui.setup("Home", ui.W_SETTINGS)
st.title("attnviz: self-attention, made visible")
st.caption(
    "Type a sentence in the sidebar. Every page computes attention for it with NumPy, "
    "and every number in a chart shows its exact value when you hover over it."
)

emb, trace = ui.attention(settings)
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Attention weights W")
    ui.weights_view(trace.weights, trace.tokens, key="home_weights")
    st.caption(
        "Row i shows how much word i takes from every word (the columns) to build its new, "
        "context-aware vector; each row adds up to 1."
    )
with right:
    st.subheader("The pipeline")
    st.markdown(
        "1. **X**: an embedding layer turns each word into a vector, independent of the others.\n"
        "2. **W\\* = X Xᵀ**: the dot product of every pair of word vectors, a raw similarity score.\n"
        "3. **W = softmax(W\\*)**: each row is turned into positive weights that add up to 1.\n"
        "4. **Y = W X**: each word's new vector is the weighted average of all the word vectors."
    )
    st.latex(r"Y = \operatorname{softmax}\!\left(\frac{s\,X X^\top}{T}\right) X")
    for page, label, icon in ui.PAGES[1:]:
        st.page_link(page, label=label, icon=icon)
    st.caption(
        "Lesson: the same walk-through one idea per screen, for class (arrow keys, presenter mode, guesses "
        "before each reveal, a handout to take home). "
        "Step by step: the seed's walk-through with every matrix. Unparameterised vs learned: the same "
        "sentence through MiniLM's real, trained heads. Geometry: watch the word vectors move together. "
        "Query, key, value: one learned head from its input to the next layer's, and cross-attention. "
        "Train attention: press Train and watch one attention layer learn its pattern from scratch. "
        "Vision: attention among the patches of a handwritten digit, and a tiny attention classifier. "
        "Query/key space: one head's queries and keys, of a corpus and of your sentence, as two clouds in one plane."
    )
if (pair := ui.second_attention(settings)) is not None:
    ui.compare("home_pair", (trace.tokens, trace.weights), (pair[1].tokens, pair[1].weights), what="W")
