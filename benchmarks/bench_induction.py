"""Training the induction models: NumPy with hand-written gradients against torch autograd, per step, and the
longest chunk one press holds a thread.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_induction.py        # --reps 9 --steps 40

Prints medians and ratios measured in this run, one thread each (threadpoolctl for NumPy's BLAS,
torch.set_num_threads(1)):
1. For the page's three models at the defaults (same model, batch and seed): ms per training step of
   `induction.Trainer` in float32 (and float64) against `autograd.TransformerTrainer` (torch autograd +
   torch.optim.Adam) in float32, interleaved repetitions of `--steps` steps, wall and CPU time.
2. The longest chunk (`induction.CHUNK` steps, a checkpoint included) over a whole default run of each
   model, and the longest round of the three models one chunk each.
The wall time to the phase change for seeds 0 … 9 is in targets_induction.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np
from results import record
from threadpoolctl import threadpool_limits

from attnviz.learn import (
    autograd,
    induction,
)

HERE = Path(__file__).resolve().parent


MODELS = {
    "2-layer": induction.Settings(),
    "1-layer": induction.Settings(layers=1),
    "1-layer smeared": induction.Settings(layers=1, smeared_keys=True),
}


def clocked(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def per_step(settings: induction.Settings, reps: int, steps: int) -> dict[str, tuple[float, float]]:
    """Median ms per step (wall, CPU) of each trainer, repetitions interleaved so load hits all alike."""
    long = dataclasses.replace(settings, steps=induction.MAX_STEPS, every=induction.MAX_STEPS)  # no checkpoints
    trainers = {
        "numpy f32": induction.Trainer(long),
        "numpy f64": induction.Trainer(long, dtype=np.float64),
        "torch f32": autograd.TransformerTrainer(long, dtype="float32"),
    }
    times = {name: [] for name in trainers}
    for t in trainers.values():
        t.run(10)  # warm-up
    for _ in range(reps):
        for name, t in trainers.items():
            times[name].append(clocked(lambda t=t: t.run(steps)))
    return {
        name: (1e3 * statistics.median(w for w, _ in ts) / steps, 1e3 * statistics.median(c for _, c in ts) / steps)
        for name, ts in times.items()
    }


def chunks() -> None:
    trainers = {name: induction.Trainer(s) for name, s in MODELS.items()}
    longest = {name: (0.0, 0.0) for name in trainers}
    round_longest = (0.0, 0.0)
    while not all(t.done for t in trainers.values()):
        round_time = [0.0, 0.0]
        for name, t in trainers.items():
            w, c = clocked(lambda t=t: t.run(induction.CHUNK))
            longest[name] = (max(longest[name][0], w), max(longest[name][1], c))
            round_time = [round_time[0] + w, round_time[1] + c]
        round_longest = (max(round_longest[0], round_time[0]), max(round_longest[1], round_time[1]))
    for name, (w, c) in longest.items():
        print(f"  longest chunk of {induction.CHUNK} steps, {name}: {w:.3f} s wall, {c:.3f} s CPU")
    print(
        f"  longest round (the three models, one chunk each): {round_longest[0]:.3f} s wall, "
        f"{round_longest[1]:.3f} s CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with threadpool_limits(1):
        print(f"1. ms per step, median of {args.reps} × {args.steps} steps (wall / CPU), one thread")
        for name, settings in MODELS.items():
            r = per_step(settings, args.reps, args.steps)
            ratio_w = r["numpy f32"][0] / r["torch f32"][0]
            ratio_c = r["numpy f32"][1] / r["torch f32"][1]
            print(
                f"  {name:16s} numpy f32 {r['numpy f32'][0]:5.2f} / {r['numpy f32'][1]:5.2f}   "
                f"torch f32 {r['torch f32'][0]:5.2f} / {r['torch f32'][1]:5.2f}   "
                f"numpy f64 {r['numpy f64'][0]:5.2f} / {r['numpy f64'][1]:5.2f}   "
                f"numpy/torch {ratio_w:.2f} (wall) {ratio_c:.2f} (CPU)",
                flush=True,
            )
            record("bench_induction.py", f"induction: one Adam step, {name}, NumPy float32 vs torch autograd",
                   f"{r['numpy f32'][0]:.2f} vs {r['torch f32'][0]:.2f} ms: {ratio_w:.2f}×", "≤ 1.0×",
                   met=ratio_w <= 1.0, numpy_ms=r["numpy f32"][0], torch_ms=r["torch f32"][0])  # fmt: skip
        print("2. chunks over whole default runs")
        chunks()


if __name__ == "__main__":
    main()
