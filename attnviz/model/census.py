"""What each of MiniLM's 72 heads does, measured: a census of where every head puts its weight.

For one sequence, a head's W [n, n] (rows: queries, each sums to 1, [CLS] and [SEP] kept) gives:

    to_cls      mean over rows i of W[i, 0]                    the weight on [CLS]
    to_sep      mean over rows of Σ W[i, j] over the [SEP]s     (one [SEP] for a sentence, two for a pair)
    to_punct    mean over rows of Σ W[i, j] over punctuation pieces (. , ! ? ; : $ < …: `is_punctuation`)
    previous    mean over rows i ≥ 1 of W[i, i − 1]
    next        mean over rows i ≤ n − 2 of W[i, i + 1]
    self        mean over rows of W[i, i]
    sep_sep     mean over the [SEP] rows of their weight on the [SEP]s
    entropy     mean over rows of −Σ_j W[i, j] ln W[i, j] (nats; ln n when W is uniform)
    cls_entropy the entropy of the [CLS] row

Over a corpus each statistic is the mean over its sequences (each sequence counts once). The class of a
head is the first of these that holds (the thresholds are `THRESHOLDS`):

    previous       previous > 0.5                      (Clark et al. 2019 count heads over 50%)
    next           next > 0.5
    vertical       to_cls + to_sep > 0.5               most weight on the markers (Kovaleva et al. 2019)
    diagonal       self + previous + next > 0.5        most weight on the piece itself and its neighbours
    broad          entropy ≥ 0.75 · ln n               spread nearly evenly (Clark's broad heads)
    heterogeneous  none of these

The corpus is the bundled one (`attnviz/data/corpus.txt`, CC0) read as 50 pairs [CLS] A [SEP] B [SEP],
B with token type 1, as Clark et al. read Wikipedia segments.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.model import bert
from attnviz.model.embeddings import Pieces

STATS = {  # name -> what a caption calls it
    "to_cls": "weight on [CLS]",
    "to_sep": "weight on [SEP]",
    "to_punct": "weight on punctuation",
    "previous": "weight on the previous token",
    "next": "weight on the next token",
    "self": "weight on itself",
    "sep_sep": "[SEP]'s weight on the [SEP]s",
    "entropy": "row entropy (nats)",
    "cls_entropy": "entropy of the [CLS] row (nats)",
}
THRESHOLDS = {"previous": 0.5, "next": 0.5, "vertical": 0.5, "diagonal": 0.5, "broad": 0.75}
CLASSES = ("previous", "next", "vertical", "diagonal", "broad", "heterogeneous")


@dataclass(frozen=True)
class Seq:
    """One sequence the census reads: its pieces and where the markers and punctuation are."""

    ids: np.ndarray  # [n] int
    tokens: tuple[str, ...]
    segments: np.ndarray  # [n] int, token types
    sep: np.ndarray  # [n] bool, the [SEP]s the tokenizer added
    punct: np.ndarray  # [n] bool, pieces made of punctuation only


def is_punctuation(token: str) -> bool:
    """True for a word piece made only of punctuation or symbol characters (Unicode categories P… and S…,
    which cover all of ASCII's !"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~), e.g. "." or "?!"; never a [CLS] or [SEP]."""
    t = token.removeprefix("##")
    return bool(t) and all(unicodedata.category(c)[0] in "PS" for c in t)


def sequence(pieces: Pieces, second: Pieces | None = None) -> Seq:
    """A sentence, or a pair [CLS] A [SEP] B [SEP] (B's own [CLS] dropped, token type 1)."""
    tokens, ids = list(pieces.tokens), list(pieces.ids)
    sep = [False] * (len(tokens) - 1) + [True]
    segments = [0] * len(tokens)
    if second is not None:
        tokens += second.tokens[1:]
        ids += list(second.ids[1:])
        sep += [False] * (len(second.tokens) - 2) + [True]
        segments += [1] * (len(second.tokens) - 1)
    special = np.zeros(len(tokens), dtype=bool)
    special[0] = True
    special |= np.array(sep)
    punct = np.array([is_punctuation(t) for t in tokens]) & ~special
    return Seq(ids=np.array(ids), tokens=tuple(tokens), segments=np.array(segments), sep=np.array(sep), punct=punct)


def _entropy(w: np.ndarray) -> np.ndarray:
    """−Σ w ln w over the last axis (0 ln 0 = 0).  [..., n] -> [...]"""
    w = w.astype(np.float64)
    return -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)


def head_stats(attentions: np.ndarray, seq: Seq) -> dict[str, np.ndarray]:
    """Every statistic of every head on one sequence.  attentions [L, H, n, n] -> {name: [L, H]}"""
    a = np.asarray(attentions, dtype=np.float64)
    n = a.shape[-1]
    rows = np.arange(n)
    return {
        "to_cls": a[..., 0].mean(-1),
        "to_sep": a[..., seq.sep].sum(-1).mean(-1),
        "to_punct": a[..., seq.punct].sum(-1).mean(-1),
        "previous": a[..., rows[1:], rows[:-1]].mean(-1) if n > 1 else np.zeros(a.shape[:2]),
        "next": a[..., rows[:-1], rows[1:]].mean(-1) if n > 1 else np.zeros(a.shape[:2]),
        "self": a[..., rows, rows].mean(-1),
        "sep_sep": a[..., seq.sep, :][..., seq.sep].sum(-1).mean(-1),
        "entropy": _entropy(a).mean(-1),
        "cls_entropy": _entropy(a[..., 0, :]),
    }


@dataclass(frozen=True)
class Census:
    """The statistics of every head, over one text or a corpus."""

    stats: dict[str, np.ndarray]  # name (see STATS) -> [L, H]
    ln_n: float  # mean ln n over the sequences: the entropy of uniform attention
    sequences: int

    @property
    def classes(self) -> np.ndarray:
        """[L, H] the class of every head (see the module's docstring)."""
        s = self.stats
        tests = [
            s["previous"] > THRESHOLDS["previous"],
            s["next"] > THRESHOLDS["next"],
            s["to_cls"] + s["to_sep"] > THRESHOLDS["vertical"],
            s["self"] + s["previous"] + s["next"] > THRESHOLDS["diagonal"],
            s["entropy"] >= THRESHOLDS["broad"] * self.ln_n,
        ]
        return np.select(tests, list(CLASSES[:-1]), default=CLASSES[-1])

    def count(self, cls: str) -> int:
        return int((self.classes == cls).sum())

    def heads(self, cls: str) -> list[tuple[int, int]]:
        """The (layer, head) of every head of a class, in order."""
        return [(int(layer), int(head)) for layer, head in zip(*np.nonzero(self.classes == cls))]

    def why(self, layer: int, head: int) -> str:
        """The class of one head and the numbers that decided it, in words."""
        s = {k: float(v[layer, head]) for k, v in self.stats.items()}
        cls = str(self.classes[layer, head])
        markers = s["to_cls"] + s["to_sep"]
        near = s["self"] + s["previous"] + s["next"]
        reasons = {
            "previous": f"on average it puts {s['previous']:.0%} of a row's weight on the previous token (over 50%)",
            "next": f"on average it puts {s['next']:.0%} of a row's weight on the next token (over 50%)",
            "vertical": f"{markers:.0%} of its weight goes to [CLS] and [SEP] ({s['to_cls']:.0%} and "
            f"{s['to_sep']:.0%}; over 50%): a vertical stripe, which Clark et al. read as a no-op",
            "diagonal": f"{near:.0%} of its weight stays on the piece itself and its neighbours (over 50%)",
            "broad": f"its rows are spread nearly evenly: entropy {s['entropy']:.2f} nats, "
            f"{s['entropy'] / self.ln_n:.0%} of uniform's {self.ln_n:.2f} (at least 75%)",
            "heterogeneous": f"no pattern holds most of its weight (markers {markers:.0%}, neighbours "
            f"{near:.0%}, entropy {s['entropy'] / self.ln_n:.0%} of uniform)",
        }
        return f"Layer {layer}, head {head} is {cls}: {reasons[cls]}."


def census(
    weights: bert.BertWeights,
    sequences: Sequence[Seq],
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = 25,
) -> Census:
    """The census over some sequences, in padded batches of similar length (progress(done) after each)."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].ids))
    total: dict[str, np.ndarray] = {}
    for start in range(0, len(order), batch):
        chunk = [sequences[i] for i in order[start : start + batch]]
        _, wts = bert.forward_batch(weights, bert.Batch.of([s.ids for s in chunk], [s.segments for s in chunk]))
        a = np.stack(wts, axis=1)  # [B, L, H, n, n]
        for b, seq in enumerate(chunk):
            n = len(seq.ids)
            for k, v in head_stats(a[b, ..., :n, :n], seq).items():
                total[k] = total.get(k, 0) + v
        if progress is not None:
            progress(min(start + batch, len(order)))
    m = len(sequences)
    ln_n = float(np.mean([np.log(len(s.ids)) for s in sequences]))
    return Census(stats={k: v / m for k, v in total.items()}, ln_n=ln_n, sequences=m)


def of_trace(trace: bert.BertTrace, pieces: Pieces) -> Census:
    """The census of one text from its forward pass (every layer, [CLS] and [SEP] kept)."""
    seq = sequence(pieces)
    return Census(stats=head_stats(trace.attentions, seq), ln_n=float(np.log(len(seq.ids))), sequences=1)


def of_text(weights: bert.BertWeights, pieces: Pieces) -> tuple[Census, bert.BertTrace]:
    """The census of one typed text and its forward pass."""
    trace = bert.forward(weights, pieces.ids, pieces.tokens)
    return of_trace(trace, pieces), trace


def corpus_pairs(sentences: Sequence[str], tokenize: Callable[[str], Pieces]) -> list[Seq]:
    """Consecutive sentences as pairs [CLS] A [SEP] B [SEP] (the 100 corpus sentences: 50 pairs)."""
    return [sequence(tokenize(a), tokenize(b)) for a, b in zip(sentences[0::2], sentences[1::2])]


# --- MiniLM beside the papers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One published number about BERT-base beside MiniLM's."""

    what: str
    paper: str  # the published figure, as the paper states it
    source: str
    minilm: str  # MiniLM's, from the census


def layer_share(c: Census, stat: str, layers: slice) -> float:
    """The mean of a statistic over the heads of some layers."""
    return float(c.stats[stat][layers].mean())


def findings(c: Census) -> list[Finding]:
    """Clark et al. 2019's figures for BERT-base (12 layers) beside MiniLM's (6 layers; BERT's layers 6–10
    of 12, 1-based, are read as MiniLM's layers 3–5 of 0–5, the same depth)."""
    s = c.stats
    last = s["cls_entropy"][-1].mean()
    return [
        Finding("Share of attention on [SEP] in the later layers", "over 50% (layers 6–10)", "Clark et al. 2019",
                f"{layer_share(c, 'to_sep', slice(3, 6)):.0%} (layers 3–5)"),
        Finding("[SEP]'s attention to the [SEP]s in the later layers", "over 90%", "Clark et al. 2019",
                f"{layer_share(c, 'sep_sep', slice(3, 6)):.0%} (layers 3–5)"),
        Finding("Heads with over 50% on the previous token", "4 of 144", "Clark et al. 2019",
                f"{c.count('previous')} of 72"),
        Finding("Heads with over 50% on the next token", "5 of 144", "Clark et al. 2019", f"{c.count('next')} of 72"),
        Finding("Entropy of the last layer's [CLS] row", "3.89 nats", "Clark et al. 2019",
                f"{last:.2f} nats (ln n = {c.ln_n:.2f})"),
        Finding("Heads mostly on [CLS] and [SEP] (vertical)", "a large share; often harmless to remove",
                "Kovaleva et al. 2019", f"{c.count('vertical')} of 72"),
    ]  # fmt: skip


def sink_sentence(c: Census) -> str:
    """What differs from BERT, in words, from the census's own numbers."""
    cls_all, sep_all = float(c.stats["to_cls"].mean()), float(c.stats["to_sep"].mean())
    sink = "[CLS]" if cls_all > sep_all else "[SEP]"
    return (
        f"Over the corpus, MiniLM's heads put {cls_all:.0%} of their weight on [CLS] and {sep_all:.0%} on "
        f"[SEP]: its sink is {sink}"
        + (", where BERT-base's was [SEP]. The distilled model moved where idle heads park their attention."
           if sink == "[CLS]" else ", as in BERT-base.")
    )  # fmt: skip
