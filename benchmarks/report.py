"""Gather the rows the benchmarks recorded in this run (out/results.jsonl) into one table:
out/bench.md and out/bench.json, and with --docs the docs site's table (docs/benchmarks.md, (between the
markers `<!-- bench:begin -->` and `<!-- bench:end -->`).

    .venv/bin/python benchmarks/report.py [--docs]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from results import OUT, markdown, rows

TABLE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"  # the docs site's Benchmarks page
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", action="store_true", help="also rewrite the table in docs/benchmarks.md")
    args = p.parse_args()
    table = rows()
    if not table:
        print("report: no rows recorded; run the benchmarks first (make bench)", file=sys.stderr)
        return 1
    md = markdown(table)
    (OUT / "bench.md").write_text(md + "\n")
    (OUT / "bench.json").write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    print(md)
    print(f"\nreport: {len(table)} rows -> {OUT / 'bench.md'}, {OUT / 'bench.json'}")
    if args.docs:
        text = TABLE_PAGE.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        when = table[-1]["when"]
        TABLE_PAGE.write_text(
            f"{head}{BEGIN}\nFrom `make bench` on {when} (one run; ratios within it):\n\n{md}\n{END}{tail}"
        )
        print(f"report: docs/benchmarks.md's table rewritten ({len(table)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
