"""`make run` (which runs `attnviz serve`): every network interface by default (a class on the room's
network), and it says so; `make run ADDRESS=127.0.0.1` keeps the app on this machine (checked on the socket
the server listens on)."""

import subprocess
import sys
from pathlib import Path

import attnviz_harness as testing

from attnviz.cli import serve

ROOT = Path(__file__).resolve().parents[1]


def dry_run(*args: str) -> list[str]:
    """The commands `make run` would run (make -n), with this interpreter's environment."""
    r = subprocess.run(
        ["make", "-n", "run", f"VENV={sys.prefix}", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return r.stdout.splitlines()


def listening(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) with a socket listening on `port`."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                out.add(address)
    return out


def test_make_run_says_it_listens_on_every_interface():
    lines = dry_run()
    command = next(line for line in lines if "attnviz serve" in line)
    assert "--address" not in command  # Streamlit's default: every interface
    assert serve.command(8501, None)[3:6] == ["run", "app.py", "--server.headless"]
    assert "--server.address" not in serve.command(8501, None)
    said = " ".join(line for line in lines if line.startswith("echo"))
    assert "every network interface" in said and "ADDRESS=127.0.0.1" in said


def test_make_run_address_keeps_the_app_on_this_machine(tmp_path):
    port = testing.free_port()
    lines = dry_run("ADDRESS=127.0.0.1", f"PORT={port}")
    command = next(line for line in lines if "attnviz serve" in line)
    assert "--address 127.0.0.1" in command and f"--port {port}" in command
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["sh", "-c", command], cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
    try:
        assert testing.wait_healthy(proc, f"http://127.0.0.1:{port}", 60), log.read_text()
        assert listening(port) == {"0100007F"}  # 127.0.0.1 only: not 0.0.0.0, not ::
    finally:
        testing.stop(proc)
