"""What removing heads changes: one text's embedding, hidden states and patterns, and a pruning curve.

A head is removed by setting its 32 columns of the context vector to zero before W_o (Michel et al. 2019),
or, uniform=True, by giving it equal weights on every piece (Kovaleva et al. 2019): see
`bert.remove_heads`. The sentence embedding is sentence-transformers' for all-MiniLM-L6-v2 (mean pooling
over every piece, [CLS] and [SEP] included, then length 1), so an ablated embedding is comparable with
what the library returns with the same columns zeroed by a forward hook (tests).

The pruning curve (Michel et al.'s Fig. 3, on tasks of our own): heads are removed 10% at a time, in order
of importance (least important first) and in a seeded random order, and two scores are kept:

    cosine      the mean cosine of the corpus's sentence embeddings to the intact ones (1 = unmoved)
    paraphrase  the share of the bundled triples whose paraphrase is nearer the sentence than the
                distractor is (`attnviz/data/paraphrases.txt`, CC0)

Importance is measured by removal, not by gradients: I_h = 1 − the mean cosine of the corpus's first
`SENTENCES` sentences' embeddings to the intact ones with head h alone removed (the drop its removal causes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attnviz.model import bert
from attnviz.model.embeddings import Pieces

PARAPHRASES_PATH = Path(__file__).resolve().parents[1] / "data" / "paraphrases.txt"
FRACTIONS = tuple(i / 10 for i in range(11))  # 0%, 10%, …, 100% of the heads removed
SENTENCES = 30  # the corpus's first 30 sentences measure each head's importance and the curve's cosine
BEND = 0.05  # the curve "bends" where a score first falls this far below the intact model's
MICHEL = (0.2, 0.4)  # Michel et al. 2019: 20–40% of heads pruned without a noticeable loss

Head = tuple[int, int]  # (layer, head)


def parse_heads(text: str, *, layers: int = 6, heads: int = 12) -> tuple[Head, ...]:
    """ "0.2,1.8" -> ((0, 2), (1, 8)); ValueError with a plain message for anything else."""
    out: list[Head] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            layer, head = (int(x) for x in part.split("."))
        except ValueError:
            raise ValueError(f"{part!r} is not a head: write layer.head, e.g. 0.2 (layer 0, head 2).") from None
        if not (0 <= layer < layers and 0 <= head < heads):
            raise ValueError(f"{part!r}: layers are 0–{layers - 1} and heads 0–{heads - 1}.")
        if (layer, head) not in out:
            out.append((layer, head))
    return tuple(sorted(out))


def head_name(head: Head) -> str:
    return f"{head[0]}.{head[1]}"


# --- one text -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ablation:
    """One text with some heads removed, beside the intact model."""

    removed: tuple[Head, ...]
    uniform: bool
    cosine: float  # the sentence embedding's cosine to the intact one
    layer_cosine: np.ndarray  # [L + 1] mean over pieces of cos(hidden, intact hidden): embeddings, then each layer
    pattern_change: np.ndarray  # [L, H] mean over rows of ½ Σ |W − W_intact| (0: unchanged, 1: disjoint)
    trace: bert.BertTrace  # the ablated forward pass


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine.  [..., d], [..., d] -> [...]"""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def embedding(trace: bert.BertTrace) -> np.ndarray:
    """The sentence embedding of one forward pass (sentence-transformers' mean pooling, length 1).  -> [d]"""
    h = trace.hidden[-1]
    return bert.sentence_embedding(h[None], np.ones((1, len(h)), dtype=bool))[0]


def ablate(
    weights: bert.BertWeights, ids: np.ndarray, tokens, intact: bert.BertTrace, removed: Sequence[Head], *,
    uniform: bool = False,
) -> Ablation:  # fmt: skip
    """Remove the heads from one text's forward pass and measure what moved.  ids [n] -> Ablation"""
    trace = bert.forward(weights, ids, tokens, remove=removed, uniform=uniform)
    layer_cos = np.array([_cosines(a, b).mean() for a, b in zip(trace.hidden, intact.hidden)])
    change = 0.5 * np.abs(trace.attentions.astype(np.float64) - intact.attentions).sum(-1).mean(-1)  # [L, H]
    return Ablation(
        removed=tuple(removed),
        uniform=uniform,
        cosine=float(_cosines(embedding(trace), embedding(intact))),
        layer_cosine=layer_cos,
        pattern_change=change,
        trace=trace,
    )


# --- many texts: the importance of each head and the pruning curve -----------------------------------


def load_paraphrases(path: Path = PARAPHRASES_PATH) -> tuple[tuple[str, str, str], ...]:
    """The bundled (sentence, paraphrase, distractor) triples."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            a, b, c = (part.strip() for part in line.split("|"))
            out.append((a, b, c))
    return tuple(out)


@dataclass(frozen=True)
class Texts:
    """Sentences in padded batches of similar length, with their intact embeddings and layer inputs."""

    batches: tuple[bert.Batch, ...]
    order: np.ndarray  # [N] the sentence each row of the concatenated batches is
    inputs: tuple[tuple[np.ndarray, ...], ...]  # per batch: the input of every layer [B, n, d], intact
    intact: np.ndarray  # [N, d] the intact embeddings, in the sentences' order

    @classmethod
    def of(cls, weights: bert.BertWeights, pieces: Sequence[Pieces], *, batch: int = 25) -> Texts:
        order = np.array(sorted(range(len(pieces)), key=lambda i: len(pieces[i].ids)), dtype=int)
        batches = tuple(
            bert.Batch.of([pieces[i].ids for i in order[s : s + batch]]) for s in range(0, len(order), batch)
        )
        inputs = tuple(tuple(bert.forward_batch(weights, b)[0]) for b in batches)
        emb = np.concatenate([bert.sentence_embedding(h[-1], b.valid) for h, b in zip(inputs, batches)])
        intact = np.empty_like(emb)
        intact[order] = emb
        return cls(batches, order, inputs, intact)

    def embeddings(self, weights: bert.BertWeights, removed: Sequence[Head], *, uniform: bool = False) -> np.ndarray:
        """The embeddings with some heads removed; the layers below the lowest one are not run again.  -> [N, d]"""
        if not removed:
            return self.intact
        start = min(layer for layer, _ in removed)
        out = []
        for b, inputs in zip(self.batches, self.inputs):
            hidden, _ = bert.forward_batch(weights, b, remove=removed, uniform=uniform, start=start, h=inputs[start])
            out.append(bert.sentence_embedding(hidden[-1], b.valid))
        emb = np.concatenate(out)
        result = np.empty_like(emb)
        result[self.order] = emb
        return result


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The mean cosine of two sets of unit vectors.  [N, d], [N, d] -> float"""
    return float(_cosines(a, b).mean())


def paraphrase_score(emb: np.ndarray) -> float:
    """The share of triples whose paraphrase is nearer the sentence than the distractor.
    emb [3T, d]: sentence, paraphrase, distractor of each triple in turn (unit vectors)."""
    s, p, d = emb[0::3], emb[1::3], emb[2::3]
    return float(((s * p).sum(-1) > (s * d).sum(-1)).mean())


def importance_steps(weights: bert.BertWeights, texts: Texts, *, uniform: bool = False) -> Iterator[tuple[Head, float]]:
    """Each head's importance, one head per step: I_h = 1 − mean cosine to intact with h alone removed."""
    for layer in range(weights.n_layers):
        for head in range(weights.n_heads):
            emb = texts.embeddings(weights, [(layer, head)], uniform=uniform)
            yield (layer, head), 1.0 - mean_cosine(emb, texts.intact)


def pruning_order(importance: np.ndarray, *, seed: int | None = None) -> list[Head]:
    """The heads in the order they are removed: least important first, or a seeded random order.
    importance [L, H] -> 72 (layer, head)"""
    n_layers, n_heads = importance.shape
    flat = np.arange(n_layers * n_heads)
    if seed is None:
        flat = flat[np.argsort(importance.ravel(), kind="stable")]
    else:
        flat = np.random.default_rng(seed).permutation(flat)
    return [(int(i // n_heads), int(i % n_heads)) for i in flat]


@dataclass
class Curve:
    """The pruning curve so far, point by point (see the module's docstring)."""

    fractions: list[float] = field(default_factory=list)  # the share of heads removed at each point
    cosine: dict[str, list[float]] = field(default_factory=lambda: {"importance": [], "random": []})
    paraphrase: dict[str, list[float]] = field(default_factory=lambda: {"importance": [], "random": []})

    def bend(self, score: str = "paraphrase", order: str = "importance") -> float | None:
        """The first share removed at which the score is BEND (5 points) or more below intact, or None."""
        ys = getattr(self, score)[order]
        return next((f for f, y in zip(self.fractions, ys) if y <= ys[0] - BEND + 1e-9), None)

    def at(self, score: str, order: str, fraction: float) -> float:
        return getattr(self, score)[order][self.fractions.index(fraction)]

    def describe(self) -> str:
        """Where the curve bends, in words, beside Michel et al.'s 20–40% (empty until the curve is done)."""
        if len(self.fractions) < len(FRACTIONS):
            return ""
        intact = self.paraphrase["importance"][0]
        words = []
        for order, how in (("importance", "Removed least important first"), ("random", "In a random order")):
            f = self.bend("paraphrase", order)
            if f is None:
                words.append(f"{how}, the paraphrase score never falls 5 points below intact ({intact:.0%}).")
            else:
                kept = self.fractions[self.fractions.index(f) - 1]
                words.append(
                    f"{how}, {kept:.0%} of the heads can go before the paraphrase score falls 5 points below "
                    f"intact ({intact:.0%}): at {f:.0%} it is {self.at('paraphrase', order, f):.1%}."
                )
        lo, hi = MICHEL
        words.append(f"Michel et al. found {lo:.0%}–{hi:.0%} of heads could be pruned without a noticeable loss.")
        f = self.bend("paraphrase", "importance")
        kept = self.fractions[self.fractions.index(f) - 1] if f is not None else 0.5
        words.append(
            f"With {kept:.0%} removed, the corpus's embeddings keep a mean cosine of "
            f"{self.at('cosine', 'importance', kept):.2f} to intact in importance order and "
            f"{self.at('cosine', 'random', kept):.2f} in the random order."
        )
        return " ".join(words)


def curve_steps(
    weights: bert.BertWeights,
    corpus: Texts,
    triples: Texts,
    importance: np.ndarray,
    *,
    seed: int = 0,
    uniform: bool = False,
    curve: Curve | None = None,
) -> Iterator[Curve]:
    """The pruning curve one point at a time (two forward passes over the texts a point); resumes `curve`.

    corpus: sentences whose embeddings' cosine to intact is the first score; triples: the paraphrase
    triples' sentences in turn (see `paraphrase_score`)."""
    curve = curve or Curve()
    orders = {"importance": pruning_order(importance), "random": pruning_order(importance, seed=seed)}
    total = importance.size
    for f in FRACTIONS[len(curve.fractions) :]:
        k = round(f * total)
        for name, order in orders.items():
            removed = order[:k]
            if k == total and name == "random":  # every head gone: the same model in both orders
                c, p = curve.cosine["importance"][-1], curve.paraphrase["importance"][-1]
            else:
                c = mean_cosine(corpus.embeddings(weights, removed, uniform=uniform), corpus.intact)
                p = paraphrase_score(triples.embeddings(weights, removed, uniform=uniform))
            curve.cosine[name].append(c)
            curve.paraphrase[name].append(p)
        curve.fractions.append(f)
        yield curve


def texts(weights: bert.BertWeights, sentences: Sequence[str], tokenize: Callable[[str], Pieces]) -> Texts:
    return Texts.of(weights, [tokenize(s) for s in sentences])
