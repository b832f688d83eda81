"""attnviz induction: a small attention-only transformer learns to copy in context (the Induction heads page).

`attnviz induction --layers L [--heads H] [--smeared-keys] [--steps N] --seed S --probe-seed P [--json]`
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    from attnviz.learn import induction

    d = induction.Settings()
    p = argparse.ArgumentParser(
        prog="attnviz induction",
        description="Train an attention-only transformer on repeated random segments (NumPy, hand-written "
        "gradients, Adam) and report the loss on the repeated tokens, the induction and previous-token "
        "scores, and the phase change.",
    )
    p.add_argument("--layers", type=int, default=d.layers, help=f"attention layers (1-4, default {d.layers})")
    p.add_argument("--heads", type=int, default=d.heads, help=f"heads per layer (1-8, default {d.heads})")
    p.add_argument("--smeared-keys", action="store_true", help="each key mixes in the previous position's key")
    p.add_argument("--steps", type=int, default=d.steps, help=f"Adam steps (default {d.steps:,})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    p.add_argument("--seed", type=int, default=d.seed, help="the initial weights and every batch")
    p.add_argument("--probe-seed", type=int, default=d.probe_seed, help="the probe sequence drawn at the end")
    p.add_argument("--json", action="store_true", help="print the run's checkpoints and the probe as JSON")
    args = p.parse_args(argv)
    try:
        settings = induction.Settings(
            layers=args.layers, heads=args.heads, smeared_keys=args.smeared_keys, steps=args.steps, lr=args.lr,
            seed=args.seed, probe_seed=args.probe_seed,
        )  # fmt: skip
        trainer = induction.Trainer(settings)
        while not trainer.done:
            trainer.run(500)
    except induction.InductionError as e:
        print(f"attnviz: {e}", file=sys.stderr)
        return 2
    cps, probe, last = trainer.checkpoints, trainer.probe, trainer.checkpoints[-1]
    change = induction.phase_change(cps)
    if args.json:
        out = {
            "steps": [c.step for c in cps],
            "loss_repeat": [c.loss for c in cps],
            "induction_score": [c.best_induction for c in cps],
            "previous_token_score": [float(c.previous[0].max()) for c in cps],
            "chance": induction.chance(),
            "seconds": trainer.seconds,
            "probe": {
                "tokens": probe.tokens[0].tolist(),
                "offset": int(probe.offset[0]),
                "repeat": [int(probe.repeat[0]), int(probe.repeat[0] + probe.size[0] - 1)],
                "predicted": last.predicted.tolist(),
                "weights": last.weights.tolist(),
            },
        }
        print(json.dumps(out))
        return 0
    kind = f"{settings.layers}-layer" + (" with smeared keys" if settings.smeared_keys else "")
    print(f"{kind} attention-only transformer, {settings.heads} heads, seed {settings.seed}: {settings.steps:,} steps "
          f"in {trainer.seconds:.1f} s")  # fmt: skip
    chance = induction.chance()
    print(f"loss on the repeated tokens: {cps[0].loss:.2f} → {last.loss:.2f} nats (chance ln 64 = {chance:.2f})")
    print(f"best last-layer induction score: {cps[0].best_induction:.2f} → {last.best_induction:.2f}")
    print(induction.describe(change) if change else "No phase change: no last-layer head began to copy.")
    prev = induction.previous_token_head(last)
    if settings.layers > 1:
        print(f"layer 0's previous-token head: head {prev[0]} ({prev[1]:.2f})" if prev else
              "no layer-0 head attends to the previous token (≥ 0.3): the model found another circuit")  # fmt: skip
    accuracy = induction.copy_accuracy(last.predicted, probe)
    print(f"on the probe it predicts {accuracy:.0%} of the second copy's next tokens")
    return 0
