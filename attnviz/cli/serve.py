"""attnviz serve: the app in a browser, as `make run` starts it (http://localhost:8501, "hi how are you").

The Streamlit entry (app.py), its pages and its theme (.streamlit/config.toml) ship inside the wheel
as attnviz/_app/; in a checkout (or an editable install) they are the repository's own files. Streamlit
runs with that folder as its working directory, so the theme applies.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # attnviz/
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def app_folder() -> Path:
    """The folder holding app.py, pages/ and .streamlit/: the wheel's copy, else the checkout."""
    for folder in (PACKAGE / "_app", PACKAGE.parent):
        if (folder / "app.py").is_file() and (folder / "pages").is_dir():
            return folder
    raise FileNotFoundError(f"attnviz: no app.py and pages/ in {PACKAGE / '_app'} or {PACKAGE.parent}")


def command(port: int, address: str | None) -> list[str]:
    """The `streamlit run` command line for the app on `port` (every interface unless `address`)."""
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.port", str(port), "--browser.gatherUsageStats", "false"]
    return cmd + (["--server.address", address] if address else [])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="attnviz serve", description="Start the app (Streamlit) in the foreground.")
    p.add_argument("--port", type=int, default=8501, help="the port to listen on (default 8501)")
    p.add_argument(
        "--address",
        help="the interface to listen on, e.g. 127.0.0.1 for this machine only (default: every interface, "
        "so a class on the room's network can open it)",
    )
    args = p.parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"attnviz: --port {args.port}: use 1-65535", file=sys.stderr)
        return 2
    try:
        folder = app_folder()
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    where = f"on {args.address} only" if args.address else "on every interface (--address 127.0.0.1: this machine)"
    print(f"attnviz: serving {folder / 'app.py'} at http://localhost:{args.port}, listening {where}", flush=True)
    env = {**os.environ, **OFFLINE}
    try:
        return subprocess.run(command(args.port, args.address), cwd=folder, env=env).returncode
    except KeyboardInterrupt:
        return 130
