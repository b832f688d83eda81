"""Servers and processes: start `streamlit run` on a free port, stop it with its children, read
their memory from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: app.py, pages/, .streamlit/
# The interpreter `make run` starts servers with, when the checkout has its venv; else this one.
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
SERVER_PYTHON = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_S = 60.0
ROWSUM_TOL = 1e-6

# --- servers ---------------------------------------------------------------------------------

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether `url`/_stcore/health answers 200 (a Streamlit server, or a balancer in front of one)."""
    try:
        with _DIRECT.open(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True and anything it started: its process group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class Server:
    """A running `streamlit run`: its process (a process group of its own), base URL and log."""

    proc: subprocess.Popen
    url: str
    port: int
    start_s: float  # launch -> healthy
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop(self.proc)


def streamlit_command(app: str, port: int, *, python: str | Path = sys.executable, extra: Sequence[str] = ()):
    """`<python> -m streamlit run <app>` headless on 127.0.0.1:port, without usage statistics."""
    return [
        str(python), "-m", "streamlit", "run", app,
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        *extra,
    ]  # fmt: skip


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = SERVER_START_S) -> bool:
    """Poll `url`'s /_stcore/health until it answers: True, or False once `proc` has exited or `timeout` s passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if healthy(url):
            return True
        time.sleep(0.2)
    return False


def start_server(
    log_path: Path,
    app: str = "app.py",
    *,
    extra: Sequence[str] = (),
    python: str | Path = sys.executable,
    env: dict[str, str] | None = None,
    timeout: float = SERVER_START_S,
    port: int | None = None,
) -> Server:
    """`streamlit run <app> [extra]` (cwd = the checkout) on a free loopback port, polled until healthy.

    Output goes to log_path (appended). A free port can be taken between the probe and the bind, so a
    server that does not come up is retried on another port (unless `port` is given); RuntimeError with
    the log's tail if none does."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **ENV, **(env or {})}
    last = ""
    for _attempt in range(1 if port else 3):
        p = port or free_port()
        url = f"http://127.0.0.1:{p}"
        with open(log_path, "ab") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                streamlit_command(app, p, python=python, extra=extra),
                cwd=ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_healthy(proc, url, timeout):
            return Server(proc, url, p, time.perf_counter() - t0, log_path)
        last = f"exited with {proc.returncode}" if proc.poll() is not None else "never became healthy"
        stop(proc)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the Streamlit server {last}; {log_path} ends with:\n{tail}")


# --- processes, from /proc -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (streamlit normally runs as one process)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in seen and Path(f"/proc/{p}").exists():
            seen.append(p)
            todo += _children(p)
    return seen


def _status_kib(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def tree_rss_mb(pid: int) -> float:
    """VmRSS summed over the process tree, in MB (10**6 bytes)."""
    return sum(_status_kib(p, "VmRSS") for p in process_tree(pid)) * 1024 / 1e6


def hwm_mb(pid: int) -> float:
    """The kernel's peak RSS (VmHWM) of the process itself, in MB."""
    return _status_kib(pid, "VmHWM") * 1024 / 1e6


def model_mappings(pid: int) -> int:
    """Mappings of the MiniLM weights file across the tree: one per live model copy (transformers
    memory-maps model.safetensors and the loaded tensors keep the mapping alive)."""
    n = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            n += sum("model.safetensors" in line for line in Path(f"/proc/{p}/maps").read_text().splitlines())
    return n


# --- Chromium --------------------------------------------------------------------------------
