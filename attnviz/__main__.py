"""The command line: python -m attnviz "hi how are you" [--json] [--embedding …] [--scale …] [--cross B] …
and python -m attnviz train --task TASK --steps N --seed S [--length n] [--lr X] [--d-head h] [--json],
python -m attnviz cost [--json],
python -m attnviz vision --index I --patch P [--json] and python -m attnviz vision train --seed S [--json].

Computed by the same core as the pages. Errors go to stderr with exit code 2; a pipe closed early
(`| head`) ends the output quietly with exit code 141. To analyse the word
"train" itself, write python -m attnviz -- train.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from attnviz import core
from attnviz.embeddings import KINDS, Embedded, ModelUnavailable, bert_weights, embedder, load_minilm


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m attnviz",
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


def embed(text: str, kind: str) -> Embedded:
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
    from attnviz import bert
    from attnviz.heads import visible

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
    if args.layer is None:
        a, b = _each(texts, lambda text: embed(text, args.embedding))
        if not args.special:
            a, b = a.without_special(), b.without_special()
        trace = core.cross_attention(
            a.vectors, b.vectors, a.tokens, b.tokens, scale=args.scale, temperature=args.temperature
        )
        queries, keys, scores, weights = trace.queries, trace.keys, trace.scores, trace.weights
    else:
        from attnviz import bert, qkv

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


def train_main(argv: list[str]) -> int:
    """python -m attnviz train …: train the tiny attention layer and print its loss and W on the probe."""
    from attnviz import training

    defaults = training.Config()
    p = argparse.ArgumentParser(
        prog="python -m attnviz train",
        description="Train one attention layer on a toy task with hand-written gradients and Adam (NumPy).",
    )
    p.add_argument("--task", default=defaults.task, help=f"one of: {', '.join(training.TASKS)}")
    p.add_argument("--steps", type=int, default=defaults.steps, help=f"Adam steps (default {defaults.steps})")
    p.add_argument("--seed", type=int, default=defaults.seed, help="decides the initial weights and every batch")
    p.add_argument("--length", type=int, default=defaults.length, help=f"sequence length (default {defaults.length})")
    p.add_argument("--lr", type=float, default=defaults.lr, help=f"learning rate (default {defaults.lr:g})")
    p.add_argument(
        "--d-head", type=int, default=defaults.d_head, help=f"query/key/value size (default {defaults.d_head})"
    )
    p.add_argument("--json", action="store_true", help="print task, steps, seed, loss per step and W on the probe")
    args = p.parse_args(argv)
    try:
        config = training.Config(
            task=args.task, steps=args.steps, seed=args.seed, length=args.length, lr=args.lr, d_head=args.d_head
        )
        trainer = training.train(config)
    except training.TrainingError as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    tokens = [training.VOCAB[t] for t in trainer.probe]
    weights = trainer.checkpoints[-1].weights
    if args.json:
        out = {
            "task": config.task,
            "steps": config.steps,
            "seed": config.seed,
            "loss": trainer.losses,
            "probe": {"tokens": tokens, "weights": weights.tolist()},
        }
        print(json.dumps(out))
        return 0
    task = trainer.task
    print(f"{task.name}: {task.description}")
    print(f"{config.steps} steps, seed {config.seed}, length {config.length}, d_head {config.d_head}, lr {config.lr:g}")
    print(f"loss {trainer.losses[0]:.4g} at step 1, {trainer.losses[-1]:.4g} at step {config.steps}")
    print(f"W on the probe sequence (it should show {task.pattern}):")
    print(weights_table(tuple(tokens), weights))
    print(training.describe(trainer))
    if (warning := training.warning(trainer)) is not None:
        print(f"attnviz: {warning}", file=sys.stderr)
    return 0


def cost_main(argv: list[str]) -> int:
    """python -m attnviz cost …: exact vs linear attention timed on this machine, n = 16 … max-n."""
    from threadpoolctl import threadpool_limits

    from attnviz import cost

    p = argparse.ArgumentParser(
        prog="python -m attnviz cost",
        description="Time exact softmax attention and FAVOR+ linear attention against n on this machine.",
    )
    p.add_argument("--d", type=int, default=64, help="features per token (default 64)")
    p.add_argument("--features", type=int, default=256, help="random features m of the linear attention (256)")
    p.add_argument("--max-n", type=int, default=4096, help="the largest n, a power of 2 from 16 to 8192 (4096)")
    p.add_argument(
        "--json", action="store_true", help="print n, exact_s, linear_s, products_s, exact_bytes, linear_bytes"
    )
    args = p.parse_args(argv)
    sizes = [n for n in (*cost.SIZES, 8192) if n <= args.max_n]
    problems = [
        ("--d", args.d, 1, 1024),
        ("--features", args.features, 1, 65536),
        ("--max-n", args.max_n, 16, 8192),
    ]
    for flag, value, lo, hi in problems:
        if not lo <= value <= hi:
            print(f"attnviz: {flag} must be a whole number from {lo} to {hi}, not {value}.", file=sys.stderr)
            return 2
    with threadpool_limits(limits=1, user_api="blas"):  # as the app measures it
        points = [cost.measure(n, args.d, args.features) for n in sizes]
    out = {
        "n": [p.n for p in points],
        "exact_s": [p.exact_s for p in points],
        "linear_s": [p.linear_s for p in points],
        "products_s": [p.products_s for p in points],  # exact's two matrix products alone
        "exact_bytes": [p.exact_bytes for p in points],
        "linear_bytes": [p.linear_bytes for p in points],
        "d": args.d,
        "m": args.features,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"exact softmax vs linear (FAVOR+) attention, d = {args.d}, m = {args.features}, one BLAS thread")
    print(f"{'n':>6} {'exact s':>10} {'linear s':>10} {'products s':>10} {'exact bytes':>12} {'linear bytes':>12}")
    for p_ in points:
        print(
            f"{p_.n:>6} {p_.exact_s:>10.3g} {p_.linear_s:>10.3g} {p_.products_s:>10.3g} {p_.exact_bytes:>12,} "
            f"{p_.linear_bytes:>12,}"
        )
    print("products: exact attention's Q Kᵀ and W V alone; bytes: what each holds besides its inputs and output")
    ns = out["n"]
    print(
        f"slope for n >= 512: exact {cost.slope(ns, out['exact_s']):.2f}, linear {cost.slope(ns, out['linear_s']):.2f}"
    )
    where = cost.crossover(points)
    print(f"linear faster from n = {where}" if where else "linear attention was not faster at these sizes")
    return 0


def vision_main(argv: list[str]) -> int:
    """python -m attnviz vision …: attention among one digit's patches, or `vision train` (the classifier)."""
    if argv and argv[0] == "train":
        return vision_train_main(argv[1:])
    from attnviz import vision

    p = argparse.ArgumentParser(
        prog="python -m attnviz vision",
        description="Unparameterised self-attention among the P x P patches of one of scikit-learn's 8 x 8 digits: "
        "W = softmax(s X Xᵀ / T) by rows, X = the patches' pixels / 16. (`vision train`: the tiny classifier.)",
    )
    p.add_argument("--index", type=int, default=0, help=f"which digit, 0-{vision.N_IMAGES - 1} (default 0)")
    p.add_argument("--patch", type=int, default=2, help="patch size P: 1, 2 or 4 pixels on a side (default 2)")
    p.add_argument("--positions", action="store_true", help="append the one-hot patch index to each patch vector")
    p.add_argument("--scale", choices=core.SCALES, default="none", help="multiply scores by 1 or 1/√d")
    p.add_argument("--temperature", type=float, default=1.0, help="divide scores by T (default 1)")
    p.add_argument("--json", action="store_true", help="print image, patches, scores and weights as JSON")
    args = p.parse_args(argv)
    try:
        index, _ = vision.check_index(args.index), vision.check_patch(args.patch)  # before the images load
        image = vision.digits().images[index]
        trace = vision.attention(
            image, args.patch, positions=args.positions, scale=args.scale, temperature=args.temperature
        )
    except core.AttentionError as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "image": image.tolist(),
            "patches": list(trace.tokens),
            "scores": trace.scores.tolist(),
            "weights": trace.weights.tolist(),
        }
        print(json.dumps(out))
        return 0
    print(f"digit {index} (a {vision.digits().targets[index]}), 8 x 8 pixels 0-16:")
    print("\n".join(" ".join(f"{v:>2.0f}" for v in row) for row in image))
    where = ", one-hot positions appended" if args.positions else ""
    print(
        f"W = softmax(s·X Xᵀ / T) by rows over {len(trace.tokens)} patches of {args.patch} x {args.patch}{where}, "
        f"s = {trace.scale:.4g}, T = {trace.temperature:g}"
    )
    print(weights_table(trace.tokens, trace.weights))
    return 0


def vision_train_main(argv: list[str]) -> int:
    """python -m attnviz vision train …: train the tiny attention classifier on the digits."""
    from attnviz import classifier

    defaults = classifier.Config()
    p = argparse.ArgumentParser(
        prog="python -m attnviz vision train",
        description="Train a one-layer attention classifier on 2 x 2 patches of the 8 x 8 digits (NumPy, "
        "hand-written gradients, Adam) on train_test_split(range(1797), test_size=0.25, random_state=0).",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="decides the initial weights and batch order")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"passes over the data ({defaults.epochs})")
    p.add_argument("--json", action="store_true", help="print test_indices, predictions, test_accuracy, loss")
    args = p.parse_args(argv)
    try:
        config = classifier.Config(seed=args.seed, epochs=args.epochs)
    except core.AttentionError as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    result = classifier.train(config)
    if args.json:
        out = {
            "test_indices": result.test_indices.tolist(),
            "predictions": result.predictions.tolist(),
            "test_accuracy": result.accuracy,
            "loss": list(result.losses),
        }
        print(json.dumps(out))
        return 0
    steps = len(result.losses)
    print(f"seed {config.seed}, {config.epochs} epochs of {steps // config.epochs} steps (batch {config.batch})")
    print(f"loss {result.losses[0]:.4g} at step 1, {result.losses[-1]:.4g} at step {len(result.losses)}")
    right = int(np.sum(result.predictions == result.targets))
    print(f"test accuracy {result.accuracy:.4f} ({right} of {len(result.targets)})")
    print("confusions (rows: true digit, columns: predicted):")
    print("\n".join(" ".join(f"{v:>4d}" for v in row) for row in result.confusion()))
    return 0


def write_handout(args: argparse.Namespace, trace: core.AttentionTrace, source: str) -> int:
    """Write the lesson as one HTML file (with MiniLM's layer 3, head 1 unless the embedding is toy); 0 or 2."""
    from attnviz import handout, lesson

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


SUBCOMMANDS = {"train": train_main, "cost": cost_main, "vision": vision_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
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
        from attnviz import linear

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


SIGPIPE_EXIT = 141  # 128 + SIGPIPE (13): what a shell reports for `cat big | head` under pipefail


def run(argv: list[str] | None = None) -> int:
    """main, for a pipe whose reader may stop early (`| head -c 20`): the output is flushed here, so a
    closed pipe shows up as BrokenPipeError now, not at interpreter exit; then stdout goes to /dev/null
    (so the exit's own flush cannot fail again) and the exit code is 141, without a traceback."""
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    return code


if __name__ == "__main__":
    sys.exit(run())
