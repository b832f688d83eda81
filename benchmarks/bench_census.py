"""The Heads page's long work: the corpus census, each head's importance, the pruning curve, and how long one
chunk of the curve holds the worker (what Stop waits for), with the app's own thread settings.

    .venv/bin/python benchmarks/bench_census.py [--reps 5]

Prints medians over the runs of this one invocation; targets from issue 22: the census ≤ 2 s per server,
the pruning curve ≤ 10 s in bounded chunks with Stop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from results import record

from attnviz.model import ablation, census, qkspace
from attnviz.model.minilm import load_minilm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    from attnviz.ui import all_cores  # the app's own BLAS settings: one thread, all cores for the model

    model = load_minilm("numpy")
    w = model.weights
    sentences = qkspace.load_corpus()
    flat = [s for t in ablation.load_paraphrases() for s in t]
    times: dict[str, list[float]] = {"census": [], "importance": [], "curve": [], "chunk": []}
    with all_cores():
        for _ in range(args.reps):
            t0 = time.perf_counter()
            c = census.census(w, census.corpus_pairs(sentences, model.tokenize))
            times["census"].append(time.perf_counter() - t0)
            corpus = ablation.texts(w, sentences[: ablation.SENTENCES], model.tokenize)
            triples = ablation.texts(w, flat, model.tokenize)
            t0 = time.perf_counter()
            importance = np.zeros((6, 12))
            for (la, h), v in ablation.importance_steps(w, corpus):
                importance[la, h] = v
            times["importance"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            last = t0
            curve = ablation.Curve()
            for _ in ablation.curve_steps(w, corpus, triples, importance, curve=curve):
                now = time.perf_counter()
                times["chunk"].append(now - last)
                last = now
            times["curve"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"bench_census: {args.reps} runs, medians")
    print(f"  corpus census (50 pairs):            {med['census']:.2f} s   (target ≤ 2 s)")
    print(f"  importance (72 heads removed alone): {med['importance']:.2f} s")
    print(f"  pruning curve (11 points, 2 orders): {med['curve']:.2f} s   (target ≤ 10 s)")
    print(f"  one chunk of the curve (one point):  {med['chunk']:.2f} s median, {max(times['chunk']):.2f} s max")
    print(f"  classes: {', '.join(f'{c.count(k)} {k}' for k in census.CLASSES)}; {curve.describe()}")
    record("bench_census.py", "Heads: the corpus census", f"{med['census']:.2f} s", "≤ 2 s", met=med["census"] <= 2,
           seconds=med["census"])  # fmt: skip
    record("bench_census.py", "Heads: each head's importance (background, once per server)",
           f"{med['importance']:.2f} s", "", seconds=med["importance"])  # fmt: skip
    chunks = f"{med['curve']:.2f} s (chunks ≤ {max(times['chunk']):.2f} s)"
    record("bench_census.py", "Heads: the pruning curve", chunks, "≤ 10 s", met=med["curve"] <= 10,
           seconds=med["curve"], chunk_max=max(times["chunk"]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
