"""What the Vision page's attention classifier is measured against: two classic classifiers on the same split.

Both read an image as its 64 pixels / 16 (the classifier's patch vectors, flattened), fit on the 1,347
training digits of `vision.split()` and are scored on the same 450 test digits:

    k nearest neighbours   the k training digits nearest in Euclidean distance vote; ties go to the smaller
                           digit (scikit-learn's KNeighborsClassifier with its defaults: uniform weights)
    logistic regression    softmax(x W + b), W [64, 10] and b [10] minimising
                           mean cross-entropy + |W|² / (2 C n)   (scikit-learn's LogisticRegression: L2, C = 1,
                           the intercept not penalised), solved by Newton's method with a backtracking line search

Without its attention layer (H = E), the classifier is flatten(X W_e + b_e + P) W_out + b_out: an affine map
of the pixels and a softmax, the same family of models as logistic regression.

NumPy only (scikit-learn is not imported: the tests compare with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from attnviz.learn import vision

CLASSES = 10
NEIGHBOURS = (1, 5)  # the nearest digit alone, and scikit-learn's default vote of 5
C = 1.0  # scikit-learn's default inverse regularisation strength


def features(images: np.ndarray) -> np.ndarray:
    """images [N, 8, 8] -> [N, 64]: the pixels / 16, row by row."""
    images = np.asarray(images, dtype=np.float64)
    return images.reshape(len(images), -1) / vision.PIXEL_MAX


def nearest_neighbours(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """The vote of the k nearest training points (Euclidean; equal distances: the earlier training point).

    x_train [N, d], y_train [N] int, x [M, d] -> [M] int, ties between digits going to the smaller one
    """
    d2 = np.sum(x * x, axis=1)[:, None] + np.sum(x_train * x_train, axis=1)[None, :] - 2.0 * x @ x_train.T  # [M, N]
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]  # [M, k]
    votes = np.zeros((len(x), CLASSES), dtype=np.int64)
    np.add.at(votes, (np.arange(len(x))[:, None], y_train[nearest]), 1)
    return np.argmax(votes, axis=1)  # the first of equal counts: the smaller digit


@dataclass(frozen=True)
class Logistic:
    """A fitted multinomial logistic regression."""

    w: np.ndarray  # [d, 10]
    b: np.ndarray  # [10]
    iterations: int  # Newton steps taken

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x [M, d] -> [M] int"""
        return np.argmax(x @ self.w + self.b, axis=1)


def _objective(theta: np.ndarray, x1: np.ndarray, y1: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Mean cross-entropy + reg/2 |W|² and the class probabilities.  theta [d + 1, 10] (the last row is b)."""
    logits = x1 @ theta  # [n, 10]
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -float(np.sum(y1 * log_p)) / len(x1) + 0.5 * reg * float(np.sum(theta[:-1] ** 2))
    return loss, np.exp(log_p)


def logistic_regression(
    x: np.ndarray, y: np.ndarray, *, c: float = C, tol: float = 1e-10, max_iter: int = 100
) -> Logistic:
    """Multinomial logistic regression with an L2 penalty on W (not b), by Newton's method.

    x [n, d], y [n] int -> Logistic. Minimises mean cross-entropy + |W|² / (2 c n), scikit-learn's objective
    divided by c n. Stops when the gradient's largest entry is below tol.
    """
    n, d = x.shape
    x1 = np.hstack([x, np.ones((n, 1))])  # [n, d + 1]: the last column carries the intercept
    y1 = np.eye(CLASSES)[y]  # [n, 10]
    reg = 1.0 / (c * n)
    penalised = np.ones((d + 1, CLASSES))
    penalised[-1] = 0.0  # the intercept row
    theta = np.zeros((d + 1, CLASSES))
    loss, p = _objective(theta, x1, y1, reg)
    for it in range(1, max_iter + 1):
        grad = x1.T @ (p - y1) / n + reg * penalised * theta  # [d + 1, 10]
        if np.abs(grad).max() < tol:
            return Logistic(theta[:-1].copy(), theta[-1].copy(), it - 1)
        # Hessian over (feature j, class a) × (feature l, class c): Σ_i x_ij x_il p_ia (δ_ac − p_ic) / n,
        # = the blocks x1ᵀ diag(p_a) x1 on the diagonal, minus Zᵀ Z with Z[i, (j, a)] = x_ij p_ia
        m = d + 1
        z = (x1[:, :, None] * p[:, None, :]).reshape(n, m * CLASSES)  # [n, m · 10]
        h = -(z.T @ z) / n  # [m · 10, m · 10]
        for a in range(CLASSES):
            h[a::CLASSES, a::CLASSES] += (x1 * p[:, a : a + 1]).T @ x1 / n
        h += np.diag(reg * penalised.ravel() + 1e-12)  # the penalty; a whisker for the intercepts' one free direction
        step = np.linalg.solve(h, grad.ravel()).reshape(m, CLASSES)
        t = 1.0
        while True:  # backtracking (Armijo): Newton's full step, halved until the objective falls enough
            new_loss, new_p = _objective(theta - t * step, x1, y1, reg)
            if new_loss <= loss - 1e-4 * t * float(np.sum(grad * step)) or t < 1e-8:
                break
            t /= 2
        theta, loss, p = theta - t * step, new_loss, new_p
    return Logistic(theta[:-1].copy(), theta[-1].copy(), max_iter)


@dataclass(frozen=True)
class Baselines:
    """Accuracies on the 450 test digits."""

    neighbours: dict[int, float]  # k -> accuracy of the k-nearest-neighbour vote
    logistic: float  # accuracy of logistic regression
    predictions: dict[str, np.ndarray]  # "1-NN", "5-NN", "logistic" -> [450] int


@lru_cache(maxsize=1)
def digits_baselines() -> Baselines:
    """Both classifiers fitted on the training digits and scored on the test digits: once per process."""
    data = vision.digits()
    train, test = vision.split()
    x_train, y_train = features(data.images[train]), data.targets[train]
    x_test, y_test = features(data.images[test]), data.targets[test]
    predictions = {f"{k}-NN": nearest_neighbours(x_train, y_train, x_test, k) for k in NEIGHBOURS}
    predictions["logistic"] = logistic_regression(x_train, y_train).predict(x_test)
    accuracy = {name: float(np.mean(p == y_test)) for name, p in predictions.items()}
    return Baselines(
        neighbours={k: accuracy[f"{k}-NN"] for k in NEIGHBOURS},
        logistic=accuracy["logistic"],
        predictions=predictions,
    )
