"""attnviz "<sentence>": self-attention for a sentence, as the pages compute it."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from attnviz.attention import core
from attnviz.model.embeddings import KINDS, Embedded, Kind, ModelUnavailable, bert_weights, embedder
from attnviz.model.minilm import load_minilm


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="attnviz",
        description="Self-attention for a sentence: W* = X Xᵀ, W = softmax(s W* / T) by rows, Y = W X.",
    )
    p.add_argument("sentence", help='the text, e.g. "hi how are you"')
    p.add_argument("--json", action="store_true", help="print tokens, scores, weights and output as JSON")
    p.add_argument("--embedding", choices=KINDS, default="static", help="where X comes from (default static)")
    p.add_argument("--scale", choices=core.SCALES, default="none", help="multiply scores by 1 or 1/√d")
    p.add_argument("--temperature", type=float, default=1.0, help="divide scores by T (default 1)")
    p.add_argument(
        "--special",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep [CLS] and [SEP] (default: dropped before the softmax, as the app and attnviz.explain do)",
    )
    p.add_argument("--layer", type=int, help="a learned head of MiniLM: layer 0-5 (with --head)")
    p.add_argument("--head", type=int, help="a learned head of MiniLM: head 0-11 (with --layer)")
    p.add_argument(
        "--cross",
        metavar="B",
        help="cross-attention: queries from the sentence, keys and values from B "
        '(prints {"queries", "keys", "scores", "weights"}, nA x nB)',
    )
    p.add_argument(
        "--features",
        type=int,
        metavar="M",
        help='linear attention (FAVOR+) with M random features: adds "approx_weights", the n x n matrix it implies',
    )
    p.add_argument("--seed", type=int, default=0, help="the random features' seed, with --features (default 0)")
    p.add_argument("--gaussian", action="store_true", help="plain Gaussian features instead of orthogonal ones")
    p.add_argument(
        "--handout",
        metavar="FILE",
        help="also write the lesson for the sentence as one self-contained HTML file (opens offline)",
    )
    args = p.parse_args(argv)
    if (args.layer is None) != (args.head is None):
        p.error("--layer and --head go together")
    if args.features is not None and (args.layer is not None or args.cross is not None):
        p.error("--features goes with the unparameterised self-attention (not --layer/--head or --cross)")
    if args.features is not None and not 1 <= args.features <= 65536:
        p.error(f"--features must be a whole number from 1 to 65536, not {args.features}")
    if args.seed < 0:
        p.error(f"--seed must be a whole number >= 0, not {args.seed}")
    if args.handout is not None and (args.layer is not None or args.cross is not None):
        p.error("--handout goes with the unparameterised self-attention (not --layer/--head or --cross)")
    return args


def embed(text: str, kind: Kind) -> Embedded:
    minilm = None if kind == "toy" else load_minilm()
    return embedder(kind, minilm)(text)


def weights_table(tokens: tuple[str, ...], weights: np.ndarray, keys: tuple[str, ...] | None = None) -> str:
    """W as an aligned text table: one row per query, one column per key (the same tokens unless given)."""
    short = lambda ts: [t if len(t) <= 10 else t[:9] + "…" for t in ts]  # noqa: E731
    labels, columns = short(tokens), short(tokens if keys is None else keys)
    width = max(6, *(len(t) for t in labels + columns))
    head = " " * width + " " + " ".join(f"{t:>{width}}" for t in columns)
    rows = [f"{t:>{width}} " + " ".join(f"{v:>{width}.3f}" for v in row) for t, row in zip(labels, weights)]
    return "\n".join([head, *rows])


def learned_head(args: argparse.Namespace) -> dict:
    """The model's head (layer, head), recomputed in NumPy: tokens, scores Q Kᵀ/√d_head, weights."""
    from attnviz.model import bert
    from attnviz.model.heads import visible

    minilm = load_minilm()
    weights = bert_weights(minilm)
    if not 0 <= args.layer < weights.n_layers or not 0 <= args.head < weights.n_heads:
        raise core.AttentionError(
            f"There are layers 0-{weights.n_layers - 1} and heads 0-{weights.n_heads - 1}; "
            f"got layer {args.layer}, head {args.head}."
        )
    pieces = minilm.tokenize(args.sentence)
    trace = bert.forward(weights, pieces.ids, pieces.tokens).layers[args.layer]
    keep = pieces.shown(args.special)
    scores = trace.scores[args.head][keep][:, keep]
    return {
        "tokens": list(pieces.shown_tokens(args.special)),
        "scores": scores.astype(float).tolist(),
        "weights": visible(trace.weights[args.head], pieces.special, args.special).astype(float).tolist(),
        "notices": list(pieces.notices),
    }


def _each(texts: dict[str, str], fn):
    """fn(text) for each named sentence; an error names the sentence it came from."""
    out = []
    for name, text in texts.items():
        try:
            out.append(fn(text))
        except core.AttentionError as e:
            raise core.AttentionError(f"{name}: {e}") from e
    return out


def cross_attention(args: argparse.Namespace) -> dict:
    """A -> B: A's pieces ask (rows), B's answer (columns). Unparameterised: scores are the raw X_A X_Bᵀ
    (before s and T); with --layer/--head: Q Kᵀ / √d_head, each sentence encoded on its own."""
    texts = {"the sentence (A)": args.sentence, "--cross (B)": args.cross}
    trace: core.CrossTrace | core.HeadsTrace  # unparameterised, or one MiniLM head (batch of one)
    if args.layer is None:
        a, b = _each(texts, lambda text: embed(text, args.embedding))
        if not args.special:
            a, b = a.without_special(), b.without_special()
        trace = core.cross_attention(
            a.vectors, b.vectors, a.tokens, b.tokens, scale=args.scale, temperature=args.temperature
        )
        queries, keys, scores, weights = trace.queries, trace.keys, trace.scores, trace.weights
    else:
        from attnviz.model import bert, qkv

        minilm = load_minilm()
        w = bert_weights(minilm)
        a, b = _each(texts, minilm.tokenize)  # Pieces
        sa, sb = (
            qkv.minilm_source(w, bert.forward(w, p.ids, p.tokens, layers=args.layer), args.layer, args.head)
            for p in (a, b)
        )  # each sentence encoded on its own, up to the layer's input
        show = args.special
        trace = qkv.head_trace(sa, context=sb, keep=a.shown(show), keep_context=b.shown(show))
        queries, keys = a.shown_tokens(show), b.shown_tokens(show)
        scores, weights = trace.scores[0], trace.weights[0]
    return {
        "queries": list(queries),
        "keys": list(keys),
        "scores": np.asarray(scores, dtype=float).tolist(),
        "weights": np.asarray(weights, dtype=float).tolist(),
        "notices": [f"A: {n}" for n in a.notices] + [f"B: {n}" for n in b.notices],
    }


def report(args: argparse.Namespace, compute, title: str, table) -> int:
    """compute(args) -> dict with "notices"; errors to stderr with exit code 2, notices to stderr,
    then the dict as JSON (--json) or title and table(dict) as text."""
    try:
        out = compute(args)
    except (core.AttentionError, ModelUnavailable) as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    for notice in out.pop("notices"):
        print(f"attnviz: {notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(title)
        print(table(out))
    return 0


def run_cross(args: argparse.Namespace) -> int:
    """Print cross-attention A -> B (JSON or a table)."""
    return report(
        args,
        cross_attention,
        "Cross-attention A -> B: rows are A's pieces (queries), columns B's (keys); rows sum to 1",
        lambda out: weights_table(tuple(out["queries"]), np.asarray(out["weights"]), tuple(out["keys"])),
    )


def write_handout(args: argparse.Namespace, trace: core.AttentionTrace, source: str) -> int:
    """Write the lesson as one HTML file (with MiniLM's layer 3, head 1 unless the embedding is toy); 0 or 2."""
    from attnviz import lesson
    from attnviz.lesson import handout

    head = None
    if args.embedding != "toy":
        try:
            minilm = load_minilm()
            head = lesson.learned_head(bert_weights(minilm), minilm.tokenize(args.sentence), args.special)
        except ModelUnavailable:
            head = None  # the lesson says the head is random
    text = handout.render(lesson.Context(trace, source, head))
    try:
        with open(args.handout, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        print(f"attnviz: cannot write the handout to {args.handout}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"attnviz: wrote the handout to {args.handout} ({len(text.encode()):,} bytes)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.cross is not None:
        return run_cross(args)
    if args.layer is not None:
        return report(
            args,
            learned_head,
            f"MiniLM layer {args.layer}, head {args.head}: W = softmax(Q Kᵀ / √d_head) by rows",
            lambda out: weights_table(tuple(out["tokens"]), np.asarray(out["weights"])),
        )
    try:
        emb = embed(args.sentence, args.embedding)
        if not args.special:
            emb = emb.without_special()
        trace = core.self_attention(emb.vectors, emb.tokens, scale=args.scale, temperature=args.temperature)
    except (core.AttentionError, ModelUnavailable) as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    for notice in emb.notices:
        print(f"attnviz: {notice}", file=sys.stderr)
    if args.handout is not None and (code := write_handout(args, trace, emb.source)):
        return code
    approx = None
    if args.features is not None:
        from attnviz.attention import linear

        try:
            approx = linear.approximate_weights(
                trace.x, args.features, args.seed, factor=trace.scale / trace.temperature, orthogonal=not args.gaussian
            )
        except core.AttentionError as e:
            print(f"attnviz: {e}", file=sys.stderr)
            return 2
    if args.json:
        out = {
            "tokens": list(trace.tokens),
            "scores": trace.scores.tolist(),
            "weights": trace.weights.tolist(),
            "output": trace.output.tolist(),
        }
        if approx is not None:
            out["approx_weights"] = approx.tolist()
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"W = softmax(s·X Xᵀ / T) by rows, s = {trace.scale:.4g}, T = {trace.temperature:g}, {emb.source}")
        print(weights_table(trace.tokens, trace.weights))
        if approx is not None:
            delta = np.abs(approx - trace.weights)
            print(f"FAVOR+ with m = {args.features} random features (seed {args.seed}): mean |Δ| {delta.mean():.2e}")
            print(weights_table(trace.tokens, approx))
    return 0
