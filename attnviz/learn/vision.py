"""Attention over image patches (the idea of the Vision Transformer), on scikit-learn's 8 × 8 digits.

An image is cut into P × P patches (P = 1, 2 or 4), k = (8 / P)² of them, in row-major order over the
image; a patch's vector holds its pixel values / 16 (the digits' pixels run from 0 to 16) in row-major
order inside the patch:

    patch r, c  ->  x = image[rP : rP + P, cP : cP + P].ravel() / 16      [P²]
    X           =   the k patch vectors as rows                             [k, P²]

Optional position features: the one-hot patch index appended, X -> `[X | I_k]`, shape `[k, P² + k]`. Two
different one-hots are orthogonal, so they add exactly 1 to each patch's score with itself and nothing
elsewhere: X Xᵀ -> X Xᵀ + I. The attention among the patches is then the text's, unchanged
(`core.self_attention`: W = softmax(s X Xᵀ / T) by rows, Y = W X).

The trained classifier lives in `attnviz/classifier.py`. NumPy only; scikit-learn is imported inside
`digits()` (it takes ~1.7 s), the first time the images are needed.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from attnviz.attention import core

SIDE = 8  # the digits are 8 × 8 pixels
PIXEL_MAX = 16.0  # their pixel values run 0 … 16
PATCH_SIZES = (1, 2, 4)
N_IMAGES = 1797


class VisionError(core.AttentionError):
    """An image index or patch size the page cannot take; the message says what to use."""


@dataclass(frozen=True)
class Digits:
    images: np.ndarray  # [N, 8, 8] float64, pixel values 0 … 16
    targets: np.ndarray  # [N] int, the digit 0 … 9 each image shows


@lru_cache(maxsize=1)
def digits() -> Digits:
    """scikit-learn's bundled 8 × 8 digits (1797 images, no download), read once per process.

    Read from the package's own file (what `load_digits` reads: 64 pixels and the digit per line) without
    importing scikit-learn, which would add ~140 MB to a server for one small table."""
    spec = importlib.util.find_spec("sklearn")  # finds the package; does not import it
    if spec is None or not spec.submodule_search_locations:
        raise VisionError("The digits come with scikit-learn, which is not installed.")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")  # [1797, 65]
    images = np.ascontiguousarray(table[:, :-1].reshape(-1, 8, 8), dtype=np.float64)
    images.setflags(write=False)
    targets = table[:, -1].astype(np.int64)
    targets.setflags(write=False)
    return Digits(images=images, targets=targets)


@lru_cache(maxsize=1)
def split() -> tuple[np.ndarray, np.ndarray]:
    """The split of train_test_split(range(1797), test_size=0.25, random_state=0): (train [1347], test [450])
    indices, each in the order scikit-learn returns them (its ShuffleSplit: one permutation by
    RandomState(0), the first ceil(0.25 · 1797) = 450 for the test), computed without importing it."""
    order = np.random.RandomState(0).permutation(N_IMAGES)
    n_test = math.ceil(0.25 * N_IMAGES)
    return order[n_test:].astype(np.int64), order[:n_test].astype(np.int64)


def check_patch(patch: int) -> int:
    if isinstance(patch, bool) or not isinstance(patch, int | np.integer) or patch not in PATCH_SIZES:
        sizes = ", ".join(map(str, PATCH_SIZES))
        raise VisionError(f"The patch size must be one of {sizes} (pixels on a side), not {patch!r}.")
    return int(patch)


def check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < N_IMAGES:
        raise VisionError(f"The digit index must be a whole number from 0 to {N_IMAGES - 1}, not {index!r}.")
    return int(index)


def grid(patch: int) -> int:
    """Patches on a side: 8 / P."""
    return SIDE // check_patch(patch)


def patches(images: np.ndarray, patch: int) -> np.ndarray:
    """Cut images into P × P patches, row-major over the image and inside each patch, pixels / 16.

    images: [..., 8, 8] -> [..., k, P²] with k = (8 / P)²
    """
    images = np.asarray(images, dtype=np.float64)
    if images.shape[-2:] != (SIDE, SIDE):
        raise VisionError(f"Expected 8 × 8 images, got shape {images.shape}.")
    p, g = check_patch(patch), grid(patch)
    lead = images.shape[:-2]
    blocks = images.reshape(*lead, g, p, g, p)  # [..., r, i, c, j]: pixel (rP + i, cP + j)
    blocks = np.moveaxis(blocks, -3, -2)  # [..., r, c, i, j]
    return blocks.reshape(*lead, g * g, p * p) / PIXEL_MAX


def patch_labels(patch: int) -> tuple[str, ...]:
    """ "r0c0", "r0c1", … : the patch's row and column in the grid of patches (row-major).  -> k labels"""
    g = grid(patch)
    return tuple(f"r{r}c{c}" for r in range(g) for c in range(g))


def with_positions(x: np.ndarray) -> np.ndarray:
    """Append the one-hot patch index to each patch vector.  x: [k, m] -> [k, m + k]"""
    return np.concatenate([x, np.eye(len(x))], axis=1)


def patch_vectors(image: np.ndarray, patch: int, *, positions: bool = False) -> np.ndarray:
    """One image's X: its patches, with the one-hot position appended if asked.  image [8, 8] -> [k, d]"""
    x = patches(image, patch)  # [k, P²]
    return with_positions(x) if positions else x


def attention(
    image: np.ndarray, patch: int, *, positions: bool = False, scale: core.Scale = "none", temperature: float = 1.0
) -> core.AttentionTrace:
    """Unparameterised self-attention among one image's patches, exactly as for words.

    image: [8, 8] -> AttentionTrace(tokens k labels, x [k, d], scores [k, k], weights [k, k], output [k, d])
    """
    x = patch_vectors(image, patch, positions=positions)
    return core.self_attention(x, patch_labels(patch), scale=scale, temperature=temperature)


def paint(values: np.ndarray, patch: int) -> np.ndarray:
    """Give every pixel its patch's value: a row of W painted back onto the image.  values: [k] -> [8, 8]"""
    values = np.asarray(values, dtype=np.float64)
    g, p = grid(patch), check_patch(patch)
    if values.shape[-1] != g * g:
        raise VisionError(f"Expected one value per patch ({g * g}), got {values.shape[-1]}.")
    return np.kron(values.reshape(*values.shape[:-1], g, g), np.ones((p, p)))


def patch_box(index: int, patch: int) -> tuple[int, int, int, int]:
    """Patch `index`'s pixels: (first row, first column, last row, last column), inclusive."""
    g, p = grid(patch), check_patch(patch)
    if not 0 <= index < g * g:
        raise VisionError(f"There are {g * g} patches (0 to {g * g - 1}), not patch {index}.")
    r, c = divmod(int(index), g)
    return r * p, c * p, r * p + p - 1, c * p + p - 1


def strongest(row: np.ndarray, labels, top: int = 3) -> list[tuple[str, float]]:
    """The `top` largest weights of a row of W with their patch labels, largest first (ties: reading order)."""
    order = np.argsort(-np.asarray(row), kind="stable")[:top]
    return [(labels[j], float(row[j])) for j in order]
