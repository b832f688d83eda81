"""The baseline: a bare Streamlit app with one Plotly heatmap (go.Heatmap) of an n×n matrix.

Driven like the real app: the first text_input in the sidebar is "Sentence"; its whitespace-separated
words are the n rows and columns. `?s=hi+how+are+you` seeds it, `?n=128` asks for n words "w1".."wn".
No caching, no model, no columns, no LaTeX: what one rerun with one heatmap costs at this n.

    .venv/bin/python -m streamlit run benchmarks/minimal_app.py
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

if "sentence" not in st.session_state:
    n = st.query_params.get("n")
    st.session_state.sentence = (
        " ".join(f"w{i + 1}" for i in range(int(n))) if n else st.query_params.get("s", "hi how are you")
    )

with st.sidebar:
    sentence = st.text_input("Sentence", key="sentence")

words = sentence.split() or ["(empty)"]
n = len(words)
labels = [f"{w} #{i + 1}" for i, w in enumerate(words)]  # unique labels, as the real app makes them
x = np.random.default_rng(len(sentence)).standard_normal((n, 8))
scores = x @ x.T
weights = np.exp(scores - scores.max(axis=1, keepdims=True))
weights /= weights.sum(axis=1, keepdims=True)

st.plotly_chart(go.Figure(go.Heatmap(z=weights, x=labels, y=labels, zmin=0.0, zmax=1.0)), key="minimal")
