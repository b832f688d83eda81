"""Two sentences: the word pieces they share, and how one view differs between them.

Cross-attention itself is `core.cross_attention` (unparameterised) and `qkv.head_trace(a, context=b)`
(through a learned head's projections). NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np


@dataclass(frozen=True)
class Shared:
    """The pieces two sentences share, paired in reading order (a repeated word pairs by position)."""

    a: np.ndarray  # [k] int: positions in A
    b: np.ndarray  # [k] int: the matching positions in B
    tokens: tuple[str, ...]  # [k] the shared pieces, as in A

    def __len__(self) -> int:
        return len(self.tokens)


def shared_pieces(tokens_a, tokens_b) -> Shared:
    """Pair equal pieces of A and B in order, the longest common runs first (difflib's matching blocks).

    "the trophy … too big" / "the trophy … too small" pairs every piece but the last.
    """
    tokens_a, tokens_b = list(tokens_a), list(tokens_b)
    blocks = SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False).get_matching_blocks()
    a = [i + k for i, _, size in blocks for k in range(size)]
    b = [j + k for _, j, size in blocks for k in range(size)]
    return Shared(np.asarray(a, dtype=int), np.asarray(b, dtype=int), tuple(tokens_a[i] for i in a))


def shared_difference(wa: np.ndarray, wb: np.ndarray, shared: Shared) -> np.ndarray:
    """W_B − W_A on the pairs of shared pieces: how much more weight B gives each pair.

    wa: [nA, nA], wb: [nB, nB] -> [k, k] (rows: shared queries, columns: shared keys)
    """
    return wb[np.ix_(shared.b, shared.b)] - wa[np.ix_(shared.a, shared.a)]


def most_changed(diff: np.ndarray) -> int:
    """The shared query whose row changes most (sum of |Δ|).  diff [k, k] -> index into the shared pieces"""
    return int(np.argmax(np.abs(diff).sum(axis=1)))


def top_keys(row: np.ndarray, tokens, top: int = 3) -> list[tuple[str, float]]:
    """The keys a row of weights favours most, largest first.  row [m] -> [(token, weight)]"""
    order = np.argsort(-np.asarray(row), kind="stable")[:top]
    return [(tokens[j], float(row[j])) for j in order]


def fragmentation(tokens) -> tuple[int, int, int]:
    """How badly an English word-piece vocabulary fits a text: (words, continuation pieces "##…", [UNK]).

    tokens: the word pieces (with or without [CLS]/[SEP])
    """
    pieces = [t for t in tokens if t not in ("[CLS]", "[SEP]")]
    words = sum(1 for t in pieces if not t.startswith("##"))
    return words, len(pieces) - words, sum(1 for t in pieces if t == "[UNK]")


def looks_foreign(tokens) -> bool:
    """True when the text falls apart: any [UNK], or one word in four split into extra pieces."""
    words, continued, unknown = fragmentation(tokens)
    return unknown > 0 or continued >= 0.25 * max(words, 1)
