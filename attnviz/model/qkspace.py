"""The query/key space: one head's queries and keys, of many sentences, in one plane (after AttentionViz).

For one head of MiniLM, every word piece of every sentence has a query q and a key k (32 numbers each).
A head's weights depend on them only through q · k, and two changes leave every softmax as it is
(Yeh et al. 2023, "AttentionViz", on vector normalisation):

    k' = k + t        one vector t for all keys: query i's scores all grow by q_i · t (a constant per row)
    q' = s q, k' = k / s                       every dot product stays the same

This module picks t and s so that the keys' centroid meets the queries' centroid and the two clouds have
the same mean norm. What that buys is that queries and keys mix instead of forming two separate clouds
(`Mixing.key_nearest`: how many queries have a key as their nearest neighbour, before and after). It does
not make distance a measure of the dot product: |q − k|² = |q|² + |k|² − 2 q · k, so lengths count too
(`Mixing.correlation`: over the corpus, distance follows q · k less closely after the moves than before).
For one query the order of its keys by nearness is the order of q'·k' − |k'|²/2, its scores minus half
each key's squared length. The plane is PCA (an SVD of the queries and keys together), or scikit-learn's
t-SNE (imported inside, seeded).

    Corpus         every piece of the bundled sentences: q, k [layers, heads, N, d_head], which sentence
    Normalisation  t and s, fitted on one head's shown corpus queries and keys
    Mixing         what the moves change: queries next to keys, and distance against q · k, before and after
    Plane          PCA: the centre and two axes; projects any query or key
    Space          the points: [P, 2], which are queries, their tokens and sentences (-1 = the typed one)

NumPy only; no streamlit, no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attnviz.attention import core
from attnviz.model import bert, qkv

if TYPE_CHECKING:
    from attnviz.model.embeddings import Pieces

CORPUS_PATH = Path(__file__).parents[1] / "data" / "corpus.txt"  # found beside the module, wherever it is installed
TYPED = -1  # the sentence index of the typed sentence's points
METHODS = {"pca": "PCA", "tsne": "t-SNE"}
TSNE_SENTENCES = 12  # t-SNE sees the typed sentence and this many corpus sentences (seeded): ~330 points
TSNE_SEED = 0


def load_corpus(path: Path = CORPUS_PATH) -> tuple[str, ...]:
    """The bundled sentences, one a line (lines starting with # are the header)."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True)
class Corpus:
    """Every word piece of some sentences, with its query and key in every head of every layer."""

    sentences: tuple[str, ...]
    tokens: tuple[str, ...]  # [N] the pieces of all sentences, one after another
    sentence: np.ndarray  # [N] int, which sentence each piece is in
    special: np.ndarray  # [N] bool, the [CLS] / [SEP] the tokenizer added
    q: np.ndarray  # [L, h, N, d_head]
    k: np.ndarray  # [L, h, N, d_head]

    def shown(self, show_special: bool) -> np.ndarray:
        """[N] bool: the pieces a view shows (all, or all but [CLS]/[SEP])."""
        return np.ones(len(self.tokens), dtype=bool) if show_special else ~self.special


def head_qk(trace: bert.BertTrace, layer: int, head: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One head's queries, keys and weights from a forward pass.  -> q, k [n, d_head], weights [n, n]"""
    t = trace.layers[layer]
    return t.q[head], t.k[head], t.weights[head]


def project_head(weights: bert.BertWeights, h: np.ndarray, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """One head's queries and keys from the layer's input alone (no attention computed).

    h: [n, d] the input to `layer` -> q, k [n, d_head], Q = H W_q + b_q and K = H W_k + b_k on the head's columns
    """
    p = qkv.head_slice(weights.layers[layer], weights.n_heads, head)
    return h @ p["w_q"] + p["b_q"], h @ p["w_k"] + p["b_k"]


def build_corpus(
    weights: bert.BertWeights,
    sentences: Sequence[str],
    tokenize: Callable[[str], Pieces],
    *,
    progress: Callable[[int], None] | None = None,
) -> Corpus:
    """Run the NumPy forward pass on every sentence and keep the queries and keys of every head.

    tokenize(text) -> an object with .ids [n] and .tokens (n) and .special [n] (embeddings.Pieces);
    progress(i) is called after sentence i (for a progress bar).
    """
    qs, ks, which, special = [], [], [], []
    tokens: list[str] = []
    for i, text in enumerate(sentences):
        pieces = tokenize(text)
        trace = bert.forward(weights, pieces.ids, pieces.tokens)
        qs.append(np.stack([t.q for t in trace.layers]))  # [L, h, n, dh]
        ks.append(np.stack([t.k for t in trace.layers]))
        tokens += pieces.tokens
        which += [i] * len(pieces.tokens)
        special.append(pieces.special)
        if progress is not None:
            progress(i)
    return Corpus(
        sentences=tuple(sentences),
        tokens=tuple(tokens),
        sentence=np.asarray(which, dtype=np.int64),
        special=np.concatenate(special),
        q=np.concatenate(qs, axis=2),  # [L, h, N, dh]
        k=np.concatenate(ks, axis=2),
    )


# --- the two freedoms ------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalisation:
    """q' = s q and k' = (k + t) / s: the same softmax for every query, whatever the keys.

    q' · k' = q · k + q · t, and q · t is the same for every key of a query's row.
    """

    shift: np.ndarray  # [d_head] t, added to every key
    scale: float  # s

    def queries(self, q: np.ndarray) -> np.ndarray:
        """q [n, d_head] -> s q [n, d_head]"""
        return np.asarray(q, dtype=np.float64) * self.scale

    def keys(self, k: np.ndarray) -> np.ndarray:
        """k [n, d_head] -> (k + t) / s [n, d_head]"""
        return (np.asarray(k, dtype=np.float64) + self.shift) / self.scale


def mean_norm(x: np.ndarray) -> float:
    """x [n, d] -> the mean length of its rows"""
    return float(np.linalg.norm(x, axis=1).mean())


def fit_normalisation(q: np.ndarray, k: np.ndarray) -> Normalisation:
    """t and s such that the normalised keys' centroid is the normalised queries' and their mean norms match.

    q: [N, d_head], k: [M, d_head] -> Normalisation

    With u = s², the conditions read t = u m_q − m_k and mean |(k − m_k) + u m_q| = u mean |q| (m: means).
    g(u) = mean |(k − m_k) + u m_q| − u mean |q| is convex, positive at 0 and its slope never exceeds
    |m_q| − mean |q| < 0 (the triangle inequality), so it crosses 0 once: bisection finds u.
    """
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    m_q, m_k = q.mean(axis=0), k.mean(axis=0)
    centred, a = k - m_k, mean_norm(q)
    if a == 0.0 or mean_norm(centred) == 0.0 or np.linalg.norm(m_q) >= a * (1 - 1e-12):
        raise core.AttentionError("The queries or keys are too alike to normalise (all equal or all parallel).")

    def g(u: float) -> float:
        return mean_norm(centred + u * m_q) - u * a

    lo, hi = 0.0, 1.0
    while g(hi) > 0:  # g decreases at least as fast as (mean |q| − |m_q|) u: this ends
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
    u = 0.5 * (lo + hi)
    return Normalisation(shift=u * m_q - m_k, scale=float(np.sqrt(u)))


# --- what the moves change ------------------------------------------------------------------


@dataclass(frozen=True)
class Mixing:
    """What the two moves do to one head's corpus (the shown pieces), in all d_head dimensions."""

    key_nearest: float  # share of the queries whose nearest other point (of all queries and keys) is a key, after
    key_nearest_raw: float  # the same before the moves
    correlation: float  # Pearson r of |q' − k'| with q · k, over every (query, key) pair of one sentence, after
    correlation_raw: float  # the same with |q − k|, before


def key_nearest(q: np.ndarray, k: np.ndarray, *, chunk: int = 512) -> float:
    """The share of the queries whose nearest other point, among all queries and keys, is a key (ties: a query).

    q: [N, d], k: [M, d] -> in [0, 1]
    """
    x = np.concatenate([q, k]).astype(np.float64)  # [N + M, d]: queries first
    sq = np.einsum("ij,ij->i", x, x)
    keys = 0
    for a in range(0, len(q), chunk):
        b = min(a + chunk, len(q))
        d2 = sq[None, :] - 2.0 * (x[a:b] @ x.T)  # [b - a, N + M] squared distances less the row's own |x|²
        d2[np.arange(b - a), np.arange(a, b)] = np.inf  # not itself
        keys += int(np.sum(np.argmin(d2, axis=1) >= len(q)))
    return keys / len(q)


def distance_correlation(qd: np.ndarray, kd: np.ndarray, q: np.ndarray, k: np.ndarray, sentence: np.ndarray) -> float:
    """Pearson r of |qd_i − kd_j| with q_i · k_j over every pair (i, j) of pieces in the same sentence.

    qd, kd: [N, d] the points whose distances are read (moved or not), q, k: [N, d] raw, sentence: [N] int
    """
    dist, dot = [], []
    for s in np.unique(sentence):
        i = np.flatnonzero(sentence == s)
        dist.append(np.linalg.norm(qd[i, None, :] - kd[None, i, :], axis=-1).ravel())  # [n * n]
        dot.append((q[i] @ k[i].T).ravel())
    return float(np.corrcoef(np.concatenate(dist), np.concatenate(dot))[0, 1])


def mixing(q: np.ndarray, k: np.ndarray, norm: Normalisation, sentence: np.ndarray) -> Mixing:
    """q, k: [N, d_head] raw, sentence: [N] int -> Mixing"""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    qn, kn = norm.queries(q), norm.keys(k)
    return Mixing(
        key_nearest=key_nearest(qn, kn),
        key_nearest_raw=key_nearest(q, k),
        correlation=distance_correlation(qn, kn, q, k, sentence),
        correlation_raw=distance_correlation(q, k, q, k, sentence),
    )


# --- the plane -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plane:
    """PCA's plane: the centre and the two directions of largest variance."""

    mean: np.ndarray  # [d]
    axes: np.ndarray  # [2, d] orthonormal rows
    explained: np.ndarray  # [2] each axis's share of the total variance

    def project(self, x: np.ndarray) -> np.ndarray:
        """x [n, d] -> [n, 2]"""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.axes.T


def fit_plane(x: np.ndarray) -> Plane:
    """PCA by SVD.  x [P, d] -> Plane

    Each axis's sign is fixed so its largest loading is positive (as scikit-learn's svd_flip does), so
    the picture does not flip between runs.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
    axes = axes * signs[:, None]
    var = sv**2
    return Plane(mean=mean, axes=axes, explained=var[:2] / var.sum())


def tsne(x: np.ndarray, *, seed: int = TSNE_SEED) -> np.ndarray:
    """scikit-learn's t-SNE, seeded (PCA start, so the same input gives the same picture).  x [P, d] -> [P, 2]"""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30.0, (len(x) - 1) / 3))
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, max_iter=500)  # 250 exaggerated, 250 free
    with threadpool_limits(1):  # one core: it runs beside a server, and small inputs gain nothing from more
        return tsne.fit_transform(np.asarray(x, dtype=np.float64))


# --- the points ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """One head's queries and keys, of the corpus and of the typed sentence, in one plane.

    Point p is a query if is_query[p], else a key; the first points are the corpus's, the typed
    sentence's come last (sentence == TYPED), queries then keys, in reading order.
    """

    layer: int
    head: int
    method: str  # "pca" or "tsne"
    points: np.ndarray  # [P, 2]
    is_query: np.ndarray  # [P] bool
    tokens: tuple[str, ...]  # [P]
    sentence: np.ndarray  # [P] int, the corpus sentence, or TYPED
    normalisation: Normalisation
    plane: Plane | None  # PCA's plane (None for t-SNE)

    def typed(self, queries: bool) -> np.ndarray:
        """The typed sentence's query (or key) points, in reading order.  -> [n, 2]"""
        return self.points[(self.sentence == TYPED) & (self.is_query == queries)]


@dataclass(frozen=True)
class CorpusHead:
    """One head's corpus points, fitted once: the normalisation, the plane and the projected points."""

    layer: int
    head: int
    normalisation: Normalisation
    plane: Plane
    q: np.ndarray  # [N', d_head] normalised queries of the shown pieces
    k: np.ndarray  # [N', d_head] normalised keys
    points: np.ndarray  # [2 N', 2] queries then keys, in the plane
    tokens: tuple[str, ...]  # [N']
    sentence: np.ndarray  # [N'] int
    mixing: Mixing  # what the moves change, over these pieces


def corpus_head(corpus: Corpus, layer: int, head: int, *, show_special: bool) -> CorpusHead:
    """Fit the normalisation and PCA's plane on one head's corpus queries and keys (the shown pieces)."""
    keep = corpus.shown(show_special)
    raw_q, raw_k, sentence = corpus.q[layer, head][keep], corpus.k[layer, head][keep], corpus.sentence[keep]
    norm = fit_normalisation(raw_q, raw_k)
    q, k = norm.queries(raw_q), norm.keys(raw_k)
    both = np.concatenate([q, k])  # [2 N', dh]
    plane = fit_plane(both)
    tokens = tuple(t for t, shown in zip(corpus.tokens, keep) if shown)
    mixed = mixing(raw_q, raw_k, norm, sentence)
    return CorpusHead(layer, head, norm, plane, q, k, plane.project(both), tokens, sentence, mixed)


def space(
    fitted: CorpusHead,
    q: np.ndarray,
    k: np.ndarray,
    tokens: Sequence[str],
    *,
    method: str = "pca",
    tsne_sentences: np.ndarray | None = None,
) -> Space:
    """The corpus's points and the typed sentence's (q, k [n, d_head], raw) in one plane.

    pca: the typed sentence is placed in the corpus's plane with the corpus's t and s.
    tsne: t-SNE of the typed sentence's points and of the corpus sentences listed in tsne_sentences
    (all when None), normalised with the corpus's t and s.
    """
    norm = fitted.normalisation
    tq, tk = norm.queries(q), norm.keys(k)  # [n, dh]
    n, m = len(tokens), len(fitted.tokens)
    if method == "pca":
        keep = np.ones(m, dtype=bool)
        points = np.concatenate([fitted.points, fitted.plane.project(np.concatenate([tq, tk]))])
    elif method == "tsne":
        keep = np.ones(m, dtype=bool) if tsne_sentences is None else np.isin(fitted.sentence, tsne_sentences)
        x = np.concatenate([fitted.q[keep], fitted.k[keep], tq, tk])
        points = tsne(x)
    else:
        raise core.AttentionError(f"Unknown projection {method!r}; use one of {', '.join(METHODS)}.")
    kept = int(keep.sum())
    tokens_kept = tuple(t for t, shown in zip(fitted.tokens, keep) if shown)
    sentence = fitted.sentence[keep]
    return Space(
        layer=fitted.layer,
        head=fitted.head,
        method=method,
        points=points,
        is_query=np.concatenate([np.ones(kept, bool), np.zeros(kept, bool), np.ones(n, bool), np.zeros(n, bool)]),
        tokens=tokens_kept * 2 + tuple(tokens) * 2,
        sentence=np.concatenate([sentence, sentence, np.full(2 * n, TYPED)]),
        normalisation=norm,
        plane=fitted.plane if method == "pca" else None,
    )


def tsne_subset(n_sentences: int, count: int = TSNE_SENTENCES, seed: int = TSNE_SEED) -> np.ndarray:
    """The corpus sentences t-SNE sees beside the typed one: a seeded choice.  -> [count] int, sorted"""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_sentences, size=min(count, n_sentences), replace=False))


def weights(norm: Normalisation, q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """softmax(q' k'ᵀ / √d_head) from the normalised vectors: the head's weights, unchanged.

    q, k: [n, d_head] (raw) -> [n, n]
    """
    qn, kn = norm.queries(q), norm.keys(k)
    return core.softmax(qn @ kn.T / np.sqrt(qn.shape[1]), axis=-1)


def strongest(row: np.ndarray, top: int) -> np.ndarray:
    """The indices of a row's `top` largest weights, largest first (ties: reading order).  row [n] -> [<= top]"""
    return np.argsort(-np.asarray(row), kind="stable")[:top]
