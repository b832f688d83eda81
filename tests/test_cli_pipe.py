"""The command line into a pipe whose reader stops early (`| head -c 20`): no traceback, exit 141 quietly,
for every subcommand and output mode."""

import os
import shlex
import subprocess
import sys

import pytest

LONG = "the cat sat on the mat " * 60  # 360 pieces: cut at 256, megabytes of JSON
MODES = {
    "json": [LONG, "--json"],
    "table": [LONG],
    "toy table": ["hi how are you", "--embedding", "toy"],
    "learned head json": ["hi how are you", "--layer", "0", "--head", "0", "--json"],
    "learned head table": ["hi how are you", "--layer", "0", "--head", "0"],
    "cross json": ["hi there", "--cross", "hello you", "--json"],
    "cross table": ["hi there", "--cross", "hello you", "--embedding", "toy"],
    "features json": ["hi how are you", "--features", "16", "--json"],
    "features table": ["hi how are you", "--features", "16", "--embedding", "toy"],
    "handout": ["hi how are you", "--embedding", "toy", "--handout", "{tmp}/lesson.html"],
    "help": ["--help"],
    "train json": ["train", "--steps", "5", "--json"],
    "train table": ["train", "--steps", "5"],
    "cost json": ["cost", "--max-n", "16", "--json"],
    "cost table": ["cost", "--max-n", "16"],
    "vision json": ["vision", "--index", "3", "--json"],
    "vision table": ["vision", "--index", "3"],
    "vision train json": ["vision", "train", "--epochs", "1", "--json"],
    "vision train table": ["vision", "train", "--epochs", "1"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_closed_pipe_ends_quietly(mode, tmp_path):
    """stdout is a real pipe whose read end is closed before the CLI writes: every write fails (EPIPE)."""
    args = [a.format(tmp=tmp_path) for a in MODES[mode]]
    read, write = os.pipe()
    os.close(read)  # the reader is gone, as when `head` has read its bytes and exited
    try:
        r = subprocess.run(
            [sys.executable, "-m", "attnviz", *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=180
        )
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert "Exception ignored" not in r.stderr, r.stderr
    # 128 + SIGPIPE, as a shell reports `cat big | head`; argparse itself drops a help text it cannot write
    assert r.returncode == (0 if mode == "help" else 141), (r.returncode, r.stderr)


def test_head_reads_twenty_bytes_and_the_cli_exits_quietly():
    """The issue's own command line, through a shell: `python -m attnviz "<long text>" --json | head -c 20`."""
    cli = f"{shlex.quote(sys.executable)} -m attnviz {shlex.quote(LONG)} --json"
    cmd = f"{cli} | head -c 20; s=${{PIPESTATUS[0]}}; echo; echo $s"  # the CLI's exit code, not head's
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=180)
    first, code = r.stdout.splitlines()[:2]
    assert len(first) == 20 and first.startswith('{"tokens": ["')
    assert code == "141" and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr


def test_a_reader_that_reads_everything_gets_everything():
    r = subprocess.run([sys.executable, "-m", "attnviz", LONG, "--json"], capture_output=True, timeout=180)
    assert r.returncode == 0 and r.stdout.endswith(b"]]}\n")
