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
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from attnviz.attention.core import AttentionError
from attnviz.model.bert import BertWeights

if TYPE_CHECKING:
    from attnviz.model.minilm import MiniLM, Reference

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

    @property
    def kind(self) -> Kind: ...  # read-only, so a frozen dataclass's field satisfies it

    def __call__(self, text: str) -> Embedded: ...


def clean_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Remove control and format characters; refuse empty text.  -> (text, notices)"""
    if not isinstance(text, str):
        raise AttentionError("The sentence must be text.")
    notices: tuple[str, ...]
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
    notices: tuple[str, ...] = (f"{removed} control character(s) were removed from the text.",) if removed else ()
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


def _is_hangul_syllable(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"  # the 11,172 precomposed syllables, which NFD splits into jamo


def _words(text, tokens, spans, unk) -> list[tuple[str, list[str]]]:
    """The pieces grouped into words (a piece, then the '##' pieces that continue it), each with the text it
    came from.  -> [(original, pieces without '##')]; [UNK] pieces are left out"""
    words: list[tuple[int, int, list[str]]] = []
    for piece, (a, b) in zip(tokens, spans):
        if piece.startswith("##") and words:
            start, _, parts = words[-1]
            words[-1] = (start, b, [*parts, piece[2:]])
        else:
            words.append((a, b, [piece]))
    return [(text[a:b], parts) for a, b, parts in words if parts != [unk]]


def _change(original: str, parts: list[str]) -> str | None:
    """What the tokenizer did to one word: "hangul", "accents", "case", "other" or None (nothing)."""
    if "".join(parts) == original:
        return None
    if any(_is_hangul_syllable(ch) for ch in original):
        return "hangul"
    if any(unicodedata.category(ch) == "Mn" for ch in unicodedata.normalize("NFD", original)):
        return "accents"
    return "case" if original != original.lower() else "other"


def _tokenizer_notices(text, tokens, spans, unk) -> tuple[str, ...]:
    """Say which characters became [UNK] and what the tokenizer did to the other words: lowercased them,
    stripped their accents (NFD, then the combining marks dropped) or split Hangul syllables into their
    letters (the same NFD: a syllable is a block of two or three jamo, which are letters, not accents)."""
    unknown = []
    for piece, (a, b) in zip(tokens, spans):
        if piece == unk and text[a:b] not in unknown:
            unknown.append(text[a:b])
    changed: dict[str, list[tuple[str, list[str]]]] = {}
    for original, parts in _words(text, tokens, spans, unk):
        kind = _change(original, parts)
        if kind is not None and original not in (w for w, _ in changed.get(kind, ())):
            changed.setdefault(kind, []).append((original, parts))
    notices = []
    if unknown:
        shown = ", ".join(f"“{u}”" for u in unknown[:8]) + (" …" if len(unknown) > 8 else "")
        notices.append(
            f"{len(unknown)} piece(s) are not in the model's vocabulary and became [UNK] (one shared vector): {shown}."
        )
    if changed:

        def listed(kind: str, show) -> str:
            words = changed[kind]
            return ", ".join(f"“{w}” → {show(parts)}" for w, parts in words[:5]) + (" …" if len(words) > 5 else "")

        joined = lambda parts: f"“{''.join(parts)}”"  # noqa: E731
        said = []
        if "case" in changed:
            said.append(f"lowercases {listed('case', joined)}")
        if "accents" in changed:
            capitals = any(w != w.lower() for w, _ in changed["accents"])
            said.append(f"{'lowercases and ' if capitals else ''}strips accents from {listed('accents', joined)}")
        if "hangul" in changed:
            said.append(
                "splits Hangul syllables into their letters (jamo), which it reads as separate word pieces: "
                + listed("hangul", lambda parts: " + ".join(parts))
            )
        if "other" in changed:
            said.append(f"reads {listed('other', joined)}")
        notices.append("The model's tokenizer " + "; it ".join(said) + ".")
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
    """The model's weights as NumPy arrays (float32), for attnviz.model.bert's forward pass (either backend)."""
    return minilm.weights
