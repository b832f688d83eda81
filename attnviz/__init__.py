"""attnviz: self-attention made visible.

The tree is the design; arrows point down, never back:

- `attnviz.attention`: the maths in NumPy, no model (X Xᵀ → softmax → W X, cross, FAVOR+, cost, geometry)
- `attnviz.learn`: what is trained here, with hand-written gradients (one layer, the digit classifier)
- `attnviz.model`: word vectors and all-MiniLM-L6-v2 served through NumPy (no torch), its heads, Q/K/V
- `attnviz.figures`: functions that return a Plotly go.Figure
- `attnviz.lesson`: the Lesson's screens and the offline handout
- `attnviz.ui`: the Streamlit glue, the only part that imports streamlit; `attnviz.cli`: the command line

`attnviz.explain(text)` is the notebook entry point (attnviz.api, imported on first use, so that
`import attnviz` stays cheap).
"""

import importlib
import warnings

__version__ = "0.2.0"

# The flat modules of 0.1 and where they live now; `from attnviz import core` keeps working for one
# release, with a DeprecationWarning naming the new home.
MOVED = {
    **{m: f"attention.{m}" for m in ("core", "cross", "linear", "cost", "geometry", "patterns")},
    **{m: f"model.{m}" for m in ("bert", "embeddings", "heads", "qkv", "qkspace")},
    **{m: f"learn.{m}" for m in ("training", "classifier", "vision", "baselines", "autograd")},
    "handout": "lesson.handout",
}


def __getattr__(name: str):
    if name == "explain":
        from attnviz.api import explain

        return explain
    if name in MOVED:
        warnings.warn(f"attnviz.{name} moved to attnviz.{MOVED[name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(f"attnviz.{MOVED[name]}")
    raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
