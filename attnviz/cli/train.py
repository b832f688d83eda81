"""attnviz train: one attention layer learns a task (the Train attention page's runs)."""

from __future__ import annotations

import argparse
import json
import sys

from attnviz.cli.explain import weights_table


def main(argv: list[str]) -> int:
    """python -m attnviz train …: train the tiny attention layer and print its loss and W on the probe."""
    from attnviz.learn import training

    defaults = training.Config()
    p = argparse.ArgumentParser(
        prog="attnviz train",
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
