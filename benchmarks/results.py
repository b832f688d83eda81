"""One table of every benchmark's figures: each script records its rows here as it prints them, and
`report.py` (run last by `make bench`) writes them as markdown and JSON and into docs/benchmarks.md.

Shared plumbing of the benchmarks only; no test imports it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
RESULTS = OUT / "results.jsonl"  # one row a line, appended; `make bench` starts it empty


def record(script: str, what: str, measured: str, target: str, *, met: bool | None = None, **numbers) -> None:
    """Add one row: what was measured, the figures in words (medians, ratios), the target, whether it is
    met (None: no pass/fail), and the raw numbers for the JSON."""
    OUT.mkdir(exist_ok=True)
    row = {"script": script, "what": what, "measured": measured, "target": target,
           "met": None if met is None else bool(met), "numbers": numbers,
           "when": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    with RESULTS.open("a") as f:  # NumPy scalars as plain numbers
        f.write(json.dumps(row, ensure_ascii=False, default=lambda o: o.item()) + "\n")


def rows() -> list[dict]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def markdown(table: list[dict]) -> str:
    """The rows as a markdown table: what (script) | measured | target | met."""
    mark = {True: "yes", False: "**no**", None: "—"}
    lines = ["| what (script) | measured | target | met? |", "|---|---|---|---|"]
    for r in table:
        cells = [f"{r['what']} (`{r['script']}`)", r["measured"], r["target"], mark[r["met"]]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
