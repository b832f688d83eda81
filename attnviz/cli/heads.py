"""attnviz heads: what each of MiniLM's 72 heads does on a text or over the bundled corpus (the Heads page).

`attnviz heads "TEXT" [--ablate L.H,L.H] [--uniform] [--json]`   and   `attnviz heads --corpus [--json]`
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

CLI_STATS = ("to_cls", "to_sep", "previous", "next", "entropy")  # the JSON's grids, [6][12] each


def _grid(values: np.ndarray) -> list[list[float]]:
    return np.asarray(values, dtype=float).tolist()


def table(values: np.ndarray, title: str) -> str:
    """A [L, H] grid as text: one row a layer, one column a head."""
    n_heads = values.shape[1]
    lines = [title, "layer " + " ".join(f"{h:>5}" for h in range(n_heads))]
    lines += [f"{layer:>5} " + " ".join(f"{v:5.2f}" for v in row) for layer, row in enumerate(values)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from attnviz.attention.core import AttentionError
    from attnviz.model import ablation, census, qkspace
    from attnviz.model.embeddings import ModelUnavailable
    from attnviz.model.minilm import load_minilm

    p = argparse.ArgumentParser(
        prog="attnviz heads",
        description="Measure every head of MiniLM (all-MiniLM-L6-v2, in NumPy) on a text, [CLS] and [SEP] kept: "
        "its mean weight on [CLS], on [SEP], on the previous and the next token, and its row entropy; with "
        "--ablate, the cosine between the sentence embedding with those heads removed and without.",
    )
    p.add_argument("text", nargs="?", help="the text to read (or --corpus)")
    p.add_argument("--corpus", action="store_true", help="the census over the bundled corpus's 50 pairs instead")
    p.add_argument("--ablate", default="", help="heads to remove, layer.head separated by commas, e.g. 0.2,1.8")
    p.add_argument("--uniform", action="store_true", help="removed heads attend uniformly instead of being zeroed")
    p.add_argument("--json", action="store_true", help="print the grids as JSON")
    args = p.parse_args(argv)
    if (args.text is None) == (not args.corpus):
        print("attnviz: give a text, or --corpus (not both).", file=sys.stderr)
        return 2
    try:
        removed = ablation.parse_heads(args.ablate)
        if removed and args.corpus:
            raise ValueError("--ablate works on a text, not with --corpus.")
        model = load_minilm("numpy")
        if args.corpus:
            pairs = census.corpus_pairs(qkspace.load_corpus(), model.tokenize)
            c = census.census(model.weights, pairs)
            tokens, cosine = None, None
        else:
            pieces = model.tokenize(args.text)
            c, trace = census.of_text(model.weights, pieces)
            tokens = list(pieces.tokens)
            cosine = (
                ablation.ablate(model.weights, pieces.ids, pieces.tokens, trace, removed, uniform=args.uniform).cosine
                if removed
                else None
            )
    except (AttentionError, ModelUnavailable, ValueError) as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    if not args.corpus:
        for notice in pieces.notices:
            print(f"attnviz: {notice}", file=sys.stderr)
    if args.json:
        out: dict = {"tokens": tokens} if tokens is not None else {"sequences": c.sequences}
        out |= {k: _grid(c.stats[k]) for k in CLI_STATS}
        out |= {"to_punct": _grid(c.stats["to_punct"]), "sep_sep": _grid(c.stats["sep_sep"]),
                "class": c.classes.tolist()}  # fmt: skip
        if cosine is not None:
            out |= {"ablate": [ablation.head_name(h) for h in removed], "uniform": args.uniform, "cosine": cosine}
        print(json.dumps(out, ensure_ascii=False))
        return 0
    where = f"the corpus ({c.sequences} pairs)" if args.corpus else f"{len(tokens or [])} tokens, [CLS] and [SEP] kept"
    print(f"MiniLM's 72 heads over {where}")
    for k in CLI_STATS:
        print(table(c.stats[k], census.STATS[k]))
    print("classes: " + ", ".join(f"{c.count(k)} {k}" for k in census.CLASSES))
    for cls in ("previous", "next"):
        for layer, head in c.heads(cls):
            print(c.why(layer, head))
    if cosine is not None:
        how = "given uniform attention" if args.uniform else "zeroed"
        print(f"heads {', '.join(ablation.head_name(h) for h in removed)} {how}: the sentence embedding's cosine to "
              f"intact is {cosine:.6f}")  # fmt: skip
    return 0
