"""attnviz cost: the time and memory of exact and linear (FAVOR+) attention as n grows."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    """python -m attnviz cost …: exact vs linear attention timed on this machine, n = 16 … max-n."""
    from threadpoolctl import threadpool_limits

    from attnviz.attention import cost

    p = argparse.ArgumentParser(
        prog="attnviz cost",
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
