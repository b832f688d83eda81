"""The seed's geometric picture: word vectors before (X) and after (Y = W X), in a plane.

NumPy only. Repeating the same attention k times gives Y_k = W^k X: every step replaces each
point by a weighted average of the points, so the cloud can only shrink toward a common point.
With a residual connection, each step keeps the vector itself: Y_k = Y_{k-1} + W Y_{k-1}
(halved, to keep the size of X: the same shape, without doubling every step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """An affine map to the plane: p = (x - mean) @ components.T"""

    mean: np.ndarray  # [d]
    components: np.ndarray  # [2, d] orthonormal rows
    explained: float  # share of the fitted points' variance the plane keeps (0..1)
    axes: tuple[str, str]  # axis titles

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """[..., d] -> [..., 2]"""
        return (np.asarray(x) - self.mean) @ self.components.T


def fit_pca(points: np.ndarray) -> Projection:
    """The plane of the two largest principal components, fitted once on all the points given.

    points: [m, d] (stack X and every Y so that both live in the same plane) -> Projection
    """
    points = np.asarray(points, dtype=np.float64)
    mean = points.mean(axis=0)
    centred = points - mean  # [m, d]
    # The top right-singular vectors of the centred points, from the smaller of the two symmetric
    # eigenproblems (m x m Gram or d x d scatter): a few ms instead of a full SVD.
    m, d = centred.shape
    if m < d:
        var, u = np.linalg.eigh(centred @ centred.T)  # ascending
        var, u = var[::-1], u[:, ::-1]
        top = centred.T @ u[:, :2]  # [d, 2] = V S for the top two
        norms = np.linalg.norm(top, axis=0)
        vt = (top / np.where(norms > 0, norms, 1.0)).T
    else:
        var, v = np.linalg.eigh(centred.T @ centred)
        var, vt = var[::-1], v[:, ::-1].T[:2]
    var = np.clip(var, 0.0, None)
    total = var.sum()
    components = np.zeros((2, d))
    k = min(2, vt.shape[0])
    components[:k] = vt[:k]
    # An axis has no preferred sign; fix it by the data (the first point on the positive side),
    # so the picture does not flip between reruns or between equivalent coordinates.
    flip = np.where(centred[0] @ components.T < 0, -1.0, 1.0)
    components *= flip[:, None]
    explained = float(var[:2].sum() / total) if total > 0 else 1.0
    return Projection(mean, components, explained, ("principal component 1", "principal component 2"))


def in_own_span(x: np.ndarray) -> np.ndarray:
    """The rows of x in an orthonormal basis of the space they span.  [n, d] -> [n, min(n, d)]

    Every weighted average W X stays in that span, and distances and principal components do not
    depend on the basis, so the geometry of X, W X, W^k X is the same with n numbers per word
    instead of d (128 instead of 384 for a 128-token text).
    """
    n, d = x.shape
    if n >= d:
        return x
    q, _ = np.linalg.qr(x.T)  # [d, n], orthonormal columns spanning the rows of x
    return x @ q


def feature_plane(d: int, i: int, j: int) -> Projection:
    """Two of the vectors' own features as the axes, as the seed draws it (no fitting)."""
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise ValueError(f"Choose two different features between 1 and {d}.")
    components = np.zeros((2, d))
    components[0, i] = components[1, j] = 1.0
    return Projection(np.zeros(d), components, float("nan"), (f"feature d{i + 1}", f"feature d{j + 1}"))


def repeat(weights: np.ndarray, x: np.ndarray, steps: int, *, residual: bool = False) -> np.ndarray:
    """Apply the same attention again and again.  weights [n, n], x [n, d] -> [steps + 1, n, d]

    Without residual: Y_k = W Y_{k-1} = W^k X. With residual: Y_k = (Y_{k-1} + W Y_{k-1}) / 2,
    the residual sum halved so the picture keeps its size instead of doubling every step (halving
    changes no angle or ratio). Each token then keeps half of itself per step: the words still
    drift together, but far more slowly.
    """
    frames = [np.asarray(x, dtype=np.float64)]
    for _ in range(steps):
        y = weights @ frames[-1]
        frames.append((frames[-1] + y) / 2 if residual else y)
    return np.stack(frames)


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """[..., n, d] -> [..., n, n] Euclidean distances."""
    sq = np.sum(x**2, axis=-1)
    d2 = sq[..., :, None] + sq[..., None, :] - 2.0 * (x @ np.swapaxes(x, -1, -2))  # |xi|² + |xj|² - 2 xi·xj
    d2 = np.maximum(d2, 0.0)  # rounding can make a zero slightly negative
    n = x.shape[-2]
    d2[..., np.arange(n), np.arange(n)] = 0.0
    return np.sqrt(d2)


def spread(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and largest distance between two different tokens, per frame (0 for a single token).

    [K, n, d] -> ([K], [K]). The largest never grows under averaging; the mean can, for a step.
    """
    dist = pairwise_distances(frames)  # [K, n, n]
    n = frames.shape[-2]
    mean = dist.sum(axis=(-1, -2)) / (n * (n - 1)) if n > 1 else np.zeros(len(frames))
    return mean, dist.max(axis=(-1, -2))


def moved(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How far each token moved, in the full space.  [n, d], [n, d] -> [n]"""
    return np.linalg.norm(np.asarray(y) - np.asarray(x), axis=-1)
