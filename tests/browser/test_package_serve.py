"""`attnviz serve` from the installed wheel (tests/conftest.py's `installed`), run from a folder that is not the
checkout, answers a browser session with its sentence, with the wheel's own theme and pages."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

from attnviz_harness import free_port, stop, wait_for_chart, wait_healthy
from attnviz_harness.browser import expected_pieces

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def test_attnviz_serve_answers_a_browser_session_with_its_sentence(installed, browser):
    bin_dir, work, _ = installed
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [str(bin_dir / "attnviz"), "serve", "--port", str(port), "--address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(proc, base, 90), proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
        sentence = "a package serves its own pages"
        page = browser.new_page()
        page.goto(f"{base}/?s={sentence.replace(' ', '+')}")
        _, why = wait_for_chart(page, "home_weights", expected_pieces()(sentence), timeout=120)
        assert why == "", why
        # the wheel's .streamlit/config.toml applies: it turns Streamlit's own page list off (the app
        # draws its own), which a server started elsewhere than the app's folder would show
        config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
        assert config["client"]["showSidebarNavigation"] is False
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.locator('[data-testid="stSidebar"] a').count() >= len(PAGES)  # the app's own links
    finally:
        stop(proc)
