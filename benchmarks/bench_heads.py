"""All 72 heads of MiniLM for one text: the NumPy forward (attnviz.model.bert) against the model's own.

    .venv/bin/python benchmarks/bench_heads.py [--reps 30] [--pieces 128]

Both compute every layer's hidden states and every head's attention for the same word pieces:
the model with eager attention and output_attentions=True (torch, CPU), NumPy with attnviz.model.bert.
The two alternate in blocks of runs, so a noisy neighbour slows both alike; the script prints
medians and their ratio from this one run, and checks the two agree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from results import record  # noqa: E402

from attnviz.model import bert  # noqa: E402
from attnviz.model.embeddings import bert_weights  # noqa: E402
from attnviz.model.minilm import load_minilm  # noqa: E402

TEXT = "Attention lets every word look at every other word and decide what matters. "


def text_with_pieces(minilm, n: int) -> str:
    """A text that the model reads as exactly n word pieces, [CLS] and [SEP] included."""
    words = (TEXT * 40).split()
    for k in range(1, len(words)):
        text = " ".join(words[:k])
        if len(minilm.tokenize(text).ids) >= n:
            break
    ids = minilm.tokenize(text).ids
    while len(ids) > n:  # drop words from the end until it fits exactly (pieces are >= 1 per word)
        k -= 1
        text = " ".join(words[:k])
        ids = minilm.tokenize(text).ids
    return text


def timed_block(fn, *args, runs: int = 7, **kwargs) -> list[float]:
    """Seconds per call for runs - 1 calls of fn(*args, **kwargs) after one untimed warm-up call."""
    fn(*args, **kwargs)
    out = []
    for _ in range(runs - 1):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--pieces", type=int, nargs="+", default=[6, 128])
    args = p.parse_args(argv)

    import torch

    from attnviz.ui import all_cores  # the app's own thread settings, so this measures what it runs

    minilm = load_minilm("torch")  # the model's own forward is the reference here
    weights = bert_weights(minilm)
    print(
        f"bench_heads: torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__} (BLAS on {os.cpu_count()} cores for the forward, as in the app), reps={args.reps}"
    )
    print(f"{'pieces':>7}{'numpy ms':>11}{'model ms':>11}{'ratio':>8}{'max |Δ| weights':>17}{'max |Δ| hidden':>16}")
    ok = True
    for n in args.pieces:
        pieces = minilm.tokenize(text_with_pieces(minilm, n))
        assert len(pieces.ids) == n, (len(pieces.ids), n)
        ours = bert.forward(weights, pieces.ids, pieces.tokens)
        theirs = minilm.forward(pieces.ids, attentions=True)
        d_attn = max(float(np.abs(a - t[0].numpy()).max()) for a, t in zip(ours.attentions, theirs.attentions))
        d_hidden = max(float(np.abs(a - t[0].numpy()).max()) for a, t in zip(ours.hidden, theirs.hidden_states))
        t_np, t_model = [], []
        # In blocks, each warmed by an untimed first run: interleaving single runs makes the two
        # thread pools (OpenBLAS's and torch's) spin against each other and slows both.
        for _ in range(max(1, args.reps // 6)):
            with all_cores():  # as the app runs it (attnviz.ui.learned)
                t_np += timed_block(bert.forward, weights, pieces.ids, pieces.tokens)
            t_model += timed_block(minilm.forward, pieces.ids, attentions=True)
        a, b = statistics.median(t_np) * 1e3, statistics.median(t_model) * 1e3
        print(f"{n:>7}{a:>11.2f}{b:>11.2f}{a / b:>7.2f}x{d_attn:>17.1e}{d_hidden:>16.1e}")
        record(
            "bench_heads.py",
            f"All 72 heads of a {n}-piece text: NumPy vs the model's eager forward",
            f"{a:.1f} vs {b:.1f} ms (**{a / b:.2f}×**); max |Δ| {d_attn:.1e} (weights), {d_hidden:.1e} (hidden)",
            "≤ 1.5× at 128 pieces; ≤ 1e-5" if n == 128 else "≤ 1e-5",
            met=(d_attn <= 1e-5 and d_hidden <= 1e-5) and (n != 128 or a / b <= 1.5),
            ratio=a / b,
            max_weights_delta=d_attn,
            max_hidden_delta=d_hidden,
        )
        ok &= d_attn <= 1e-5 and d_hidden <= 1e-5
    print("target: numpy <= 1.5x the model at 128 pieces; agreement <= 1e-5:", "OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
