"""axe-core audits every page in Chromium: no serious or critical WCAG violation that a bare Streamlit app
(benchmarks/minimal_app.py, on the same config) does not have too. Captions, sidebar notes and selected
options must meet WCAG AA contrast (4.5:1), in the light theme and the dark one.

axe-core is vendored (tests/browser/axe/axe.min.js, MPL-2.0, its licences beside it; `make axe` refreshes it
from the npm registry), so the suite needs no Node.js and no network; without the file the tests fail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attnviz_harness as testing
import pytest

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "axe" / "axe.min.js"
SERIOUS = ("serious", "critical")
# every rule axe-core has, on the whole document; per violation: its rule, impact and the first nodes
AUDIT_JS = """async (only) => {
  const result = await axe.run(only ? {include: [[only]]} : document, {resultTypes: ['violations']});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) =>
    ({target: n.target.join(' ').slice(-120), why: n.failureSummary.slice(0, 240), html: n.html.slice(0, 120)}))}));
}"""
PAGES = ("/Lesson?screen=4",)  # a Lesson screen with a chart and its caption (the first has neither)


CAPTIONS = '[data-testid="stCaptionContainer"]'


def audit(page, only: str | None = None) -> list[dict]:
    """The page's serious and critical violations (only: within the elements this selector picks), axe-core
    injected from the vendored file."""
    assert AXE.is_file(), f"axe-core is missing: {AXE} (make axe puts it there)"
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(AUDIT_JS, only) if v["impact"] in SERIOUS]


@pytest.fixture(scope="module")
def bare_rules(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The rules a bare Streamlit app breaks (serious or critical): Streamlit's, not ours."""
    server = testing.start_server(tmp_path_factory.mktemp("bare") / "server.log", app="benchmarks/minimal_app.py")
    context = browser.new_context(viewport=testing.VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/?s=hi+how+are+you")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.wait_for_timeout(500)
        yield {v["id"] for v in audit(page)}
    finally:
        context.close()
        server.stop()


def test_the_vendored_axe_core_is_whole():
    source = AXE.read_text(encoding="utf-8")
    assert re.match(r"/\*! axe v\d+\.\d+\.\d+", source), source[:80]
    assert "Mozilla Public" in source[:600] and (AXE.parent / "LICENSE").is_file()
    assert (AXE.parent / "LICENSE-3RD-PARTY.txt").is_file()


def test_no_page_has_a_serious_violation_the_bare_app_has_not(app, app_pages, bare_rules):
    paths = ["/", *(f"/{name}" for _, name in app_pages if name != "Lesson"), *PAGES]
    found = {}
    for path in paths:
        # every lazy section open, a second sentence (its captions), the sidebar as a student sees it
        sep = "&" if "?" in path else "?"
        app.page.goto(f"{app.base_url}{path}{sep}open=all&s=the+cat+sat+on+the+mat&s2=a+dog+barked")
        app.wait_for_model(chart=False)
        if bad := [v for v in audit(app.page) if v["id"] not in bare_rules]:
            app.screenshot(f"axe_{path.strip('/').split('?')[0] or 'home'}")
            found[path] = bad
    assert found == {}, found
    app.assert_no_exception()


def test_the_dark_themes_captions_read_too(browser, base_url):
    """A projector's laptop in dark mode: Streamlit follows the system, and the captions must still read.
    (Only the captions: Streamlit's dark slider value, #cf4250 on #21201d, reads 3.5:1, and no one red is both
    light enough for it and dark enough under the white text of a primary button.)"""
    context = browser.new_context(viewport=testing.VIEWPORT, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/Step_by_step?open=all")  # a caption in every section
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=120_000)
        page.wait_for_function("() => !document.body.innerText.includes('Loading the MiniLM model')", timeout=120_000)
        page.wait_for_timeout(500)
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
        )
        assert background != "rgb(255, 255, 255)", "the page is not in the dark theme"
        assert page.locator(CAPTIONS).count() > 0
        assert audit(page, CAPTIONS) == []
    finally:
        context.close()
