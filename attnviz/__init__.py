"""attnviz: self-attention made visible. The maths (core, bert, heads, geometry) is NumPy only;
figures returns Plotly figures; ui is the only module that imports Streamlit.

`attnviz.explain(text)` is the notebook entry point (attnviz.api, imported on first use, so that
`import attnviz` stays cheap)."""


def __getattr__(name: str):
    if name == "explain":
        from attnviz.api import explain

        return explain
    raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
