"""attnviz vision: attention over an 8 × 8 digit's patches, and the classifier trained on them."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from attnviz.attention import core
from attnviz.cli.explain import weights_table


def main(argv: list[str]) -> int:
    """python -m attnviz vision …: attention among one digit's patches, or `vision train` (the classifier)."""
    if argv and argv[0] == "train":
        return vision_train_main(argv[1:])
    from attnviz.learn import vision

    p = argparse.ArgumentParser(
        prog="attnviz vision",
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
    from attnviz.learn import classifier

    defaults = classifier.Config()
    p = argparse.ArgumentParser(
        prog="attnviz vision train",
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
