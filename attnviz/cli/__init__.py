"""The command line: the console script `attnviz` and `python -m attnviz` are the same program.

    attnviz "hi how are you" [--json] [--embedding …] [--scale …] [--cross B] [--handout F] …
    attnviz train --task TASK --steps N --seed S [--length n] [--lr X] [--d-head h] [--json]
    attnviz induction --layers L [--heads H] [--smeared-keys] [--steps N] --seed S --probe-seed P [--json]
    attnviz heads "TEXT" [--ablate L.H,…] [--uniform] [--json]   and   attnviz heads --corpus [--json]
    attnviz cost [--json]
    attnviz vision --index I --patch P [--json]   and   attnviz vision train --seed S [--json]
    attnviz serve [--port P] [--address A]

Each subcommand is a module here (`explain` is the sentence, the default). Everything is computed by
the same code as the pages. Errors go to stderr with exit code 2; a pipe closed early (`| head`) ends
the output quietly with exit code 141. To analyse the word "train" itself, write `attnviz -- train`.
"""

from __future__ import annotations

import os
import sys

from attnviz.cli import cost, explain, heads, induction, serve, train, vision

SUBCOMMANDS = {
    "train": train.main,
    "induction": induction.main,
    "heads": heads.main,
    "cost": cost.main,
    "vision": vision.main,
    "serve": serve.main,
}
SIGPIPE_EXIT = 141  # 128 + SIGPIPE (13): what a shell reports for `cat big | head` under pipefail


def main(argv: list[str] | None = None) -> int:
    """Run one command: a subcommand's name first, or else a sentence (attnviz.cli.explain)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    return explain.main(argv)


def run(argv: list[str] | None = None) -> int:
    """main, for a pipe whose reader may stop early (`| head -c 20`): the output is flushed here, so a
    closed pipe shows up as BrokenPipeError now, not at interpreter exit; then stdout goes to /dev/null
    (so the exit's own flush cannot fail again) and the exit code is 141, without a traceback."""
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    return code


def console() -> None:
    """The `attnviz` console script."""
    sys.exit(run())
