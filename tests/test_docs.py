"""The docs: the site builds offline with no warning and loads nothing from the internet; the README stays
a page a newcomer reads (≤ 12,000 bytes) and every link of it into docs/ resolves; every app page has its
page in the docs with a screenshot; every subpackage has its API reference; the pins agree with pyproject."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import attnviz

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_the_readme_fits_on_a_screen_and_its_links_resolve():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) <= 12_000
    links = re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", text)
    assert len(links) >= 15  # the pages, install, CLI, notebook, the tree, how it is checked, benchmarks
    assert [link for link in links if not (ROOT / link).is_file()] == []
    for needed in ("make run", "make test", "pip install", "attnviz serve", "<!-- api-example -->", "docs/step.png"):
        assert needed in text, needed


def test_every_app_page_has_a_docs_page_with_its_screenshot():
    config = (ROOT / "mkdocs.yml").read_text()
    for page in sorted((ROOT / "pages").glob("*.py")):
        slug = page.stem.split("_", 1)[1]
        matches = [p for p in (DOCS / "pages").glob("*.md") if p.read_text().count(f"8501/{slug}`")]
        assert len(matches) == 1, slug
        images = re.findall(r"!\[[^\]]*\]\(\.\./([^)]+)\)", matches[0].read_text())
        assert images and all((DOCS / i).is_file() for i in images), slug
        assert f"pages/{matches[0].name}" in config, slug


def test_every_subpackage_has_its_api_reference():
    package = Path(attnviz.__file__).parent
    for sub in sorted(p.parent.name for p in package.glob("*/__init__.py")):
        ref = DOCS / "reference" / f"{sub}.md"
        assert ref.is_file(), sub
        modules = {p.stem for p in (package / sub).glob("*.py") if p.stem != "__init__"}
        assert {m for m in modules if f"::: attnviz.{sub}.{m}" not in ref.read_text()} == set(), sub


def test_the_site_builds_offline_with_no_warning_and_fetches_nothing(tmp_path):
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING" not in run.stderr
    assert (site / "index.html").is_file() and (site / "reference" / "attention" / "index.html").is_file()
    fetches = []
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        fetches += re.findall(r"<(?:script|img|iframe)[^>]+src=\"(https?://[^\"]+)", html)
        fetches += re.findall(r"<link[^>]+href=\"(https?://[^\"]+)\"[^>]*rel=\"(?:stylesheet|preconnect)", html)
        fetches += re.findall(r"<link[^>]+rel=\"(?:stylesheet|preconnect)\"[^>]+href=\"(https?://[^\"]+)", html)
    for css in site.rglob("*.css"):
        fetches += re.findall(r"@import\s+url\(['\"]?(https?://[^)'\"]+)", css.read_text(encoding="utf-8"))
    assert fetches == []
    api = (site / "reference" / "attention" / "index.html").read_text(encoding="utf-8")
    assert "self_attention" in api and "AttentionTrace" in api  # generated from the docstrings


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_pinned_requirements_agree_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(ROOT / "requirements.txt") | _pins(ROOT / "requirements-dev.txt")
    serve = _pins(ROOT / "requirements-serve.txt")

    def name(spec: str) -> str:
        return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()

    for spec in project["dependencies"]:
        assert name(spec) in pins and name(spec) in serve, spec  # make run installs what the package needs
    assert "torch" not in {name(s) for s in project["dependencies"]}
    for spec in project["optional-dependencies"]["check"] + project["optional-dependencies"]["dev"]:
        pinned = spec.split("==")[1] if "==" in spec else None
        assert pinned is None or pins.get(name(spec)) == pinned, spec
