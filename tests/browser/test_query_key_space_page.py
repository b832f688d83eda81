"""The Query/key space page in a real browser: type a sentence, pick a query, read the points and the lines
from the chart the browser holds and compare them with the torch reference (tests/test_qkspace.reference)."""

from __future__ import annotations

import numpy as np
import pytest
from attnviz_harness import DECODE_JS

from tests.browser.conftest import unescape_labels

pytestmark = pytest.mark.browser

TEXT = "The parrot watched the cat, and it stayed very still"
LAYER, HEAD = 2, 4

_TRACES_JS = (
    "(key) => {"
    + DECODE_JS
    + r"""
  const gd = document.querySelector(`.st-key-${key} [data-testid="stPlotlyChart"] .js-plotly-plot`);
  if (!gd || !gd.data) return null;
  const stale = document.querySelectorAll('[data-stale="true"]').length > 0;
  return {stale, traces: gd.data.map((t) => ({name: t.name, x: decode(t.x), y: decode(t.y),
                                              text: t.text ? Array.from(t.text) : null}))};
}
"""
)

# The pixel centre of point i of the named trace, from Plotly's own axes.
_POINT_JS = r"""
([key, name, i]) => {
  const gd = document.querySelector(`.st-key-${key} [data-testid="stPlotlyChart"] .js-plotly-plot`);
  const t = gd._fullData.find((d) => d.name === name);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(t.x[i]), y: box.top + ya._offset + ya.l2p(t.y[i])};
}
"""


def plane(app, check, what: str) -> dict[str, dict]:
    """The chart's traces by name, once check(traces) holds."""

    def attempt():
        raw = app.page.evaluate(_TRACES_JS, "qks_plane")
        if raw is None or raw["stale"]:
            return False, raw
        traces = {t["name"]: t for t in raw["traces"]}
        return check(traces), traces

    ok, traces = app.poll(attempt, timeout=60)
    if not ok:
        app.screenshot("qks_plane_timeout")
        pytest.fail(f"the plane never showed {what}; last seen: {list(traces or {})}")
    return traces


def test_type_pick_a_query_and_read_the_plane(app):
    from tests.test_qkspace import reference

    app.goto("/Query_key_space", layer=str(LAYER), head=str(HEAD))
    app.wait_for_model()
    app.type_sentence(TEXT)
    ref = reference(TEXT, LAYER, HEAD, special=False)
    labels = app.labels(ref["tokens"])

    def typed(traces):
        return "your queries" in traces and unescape_labels(traces["your queries"]["text"] or []) == labels

    plane(app, typed, f"the pieces {labels}")
    app.wait_for_model()
    choice = app.page.get_by_role("combobox", name="Follow one query")
    choice.scroll_into_view_if_needed()
    choice.click()
    app.page.get_by_role("option", name="it", exact=True).click()
    query = labels.index("it")
    traces = plane(app, lambda t: typed(t) and "the query it" in t, "the query “it”")
    app.wait_for_model()
    assert app.params()["q"] == str(query) and app.params()["layer"] == str(LAYER)

    # the typed sentence's queries and keys, where the reference puts them
    for name, key in (("your queries", "typed_q"), ("your keys", "typed_k")):
        xy = np.c_[traces[name]["x"], traces[name]["y"]].astype(float)
        assert np.abs(xy - ref[key]).max() <= 2e-4, name
    assert len(traces["corpus queries"]["x"]) == len(traces["corpus keys"]["x"]) == ref["corpus_pieces"]
    # lines from "it" to its three strongest keys, the weights in the legend
    w = ref["weights"][query]
    order = np.argsort(-w, kind="stable")[:3]
    lines = [t for name, t in traces.items() if name.startswith("→")]
    assert [t["name"] for t in lines] == [f"→ {labels[j]}: {w[j]:.3f}" for j in order]
    for line, j in zip(lines, order):
        ends = np.c_[line["x"], line["y"]].astype(float)
        assert np.abs(ends - [ref["typed_q"][query], ref["typed_k"][j]]).max() <= 2e-4
    # the hover names the token and the sentence
    app.page.locator(".st-key-qks_plane").scroll_into_view_if_needed()
    app.page.wait_for_timeout(300)
    other = next(j for j in range(len(labels)) if j not in order)  # no line ends there to share the hover
    point = app.page.evaluate(_POINT_JS, ["qks_plane", "your keys", other])
    app.page.mouse.move(point["x"], point["y"])
    hover = app.page.locator(".st-key-qks_plane .hoverlayer .hovertext").first
    hover.wait_for()
    assert f"{labels[other]} (key, your sentence)" in hover.text_content()
    app.assert_no_exception()
    app.screenshot("Query_key_space")
    assert app.dialogs == [] and not app.page_errors


def test_second_sentence_and_the_followed_query(app):
    """Chromium keeps a select box's old label when its options change and sends it back: the page once
    crashed on the second sentence typed (TypeError on the query's index) and the box could show another
    word than the chart. Now the box follows the new sentence: the same word while the sentence has it,
    else the same place, else the first piece, and the chart's chosen query is always the box's."""
    app.goto("/Query_key_space")
    app.wait_for_model()
    choice = app.page.get_by_role("combobox", name="Follow one query")

    def settled_on(sentence: str, word: str) -> None:
        labels = app.labels(tokens(sentence))
        plane(app, lambda t: "the query " + word in t and t["your queries"]["text"] is not None
              and unescape_labels(t["your queries"]["text"]) == labels, f"“{word}” of {labels}")  # fmt: skip
        app.wait_for_model()
        app.assert_no_exception()
        assert choice.input_value() == word
        assert app.params()["q"] == str(labels.index(word))

    for sentence, word, pick in [
        ("the cat sat on the mat", "the #1", "cat"),
        ("a cat ran far away quickly", "cat", "quickly"),  # "cat" is still there: followed
        ("birds fly", "birds", None),  # neither "quickly" nor its place (6th) is: the first piece
        ("birds fly south", "birds", "fly"),
        ("fly away now", "fly", "now"),  # the same word at another place
        ("one two three four", "three", None),  # no "now": its place
    ]:
        app.type_sentence(sentence)
        settled_on(sentence, word)
        if pick is not None:
            choice.click()
            app.page.get_by_role("option", name=pick, exact=True).click()
            settled_on(sentence, pick)
    # Home and back (the crash once stayed until a reload): the page, its word and a new sentence
    app.click_nav("")
    app.wait_for_model()
    app.click_nav("Query_key_space")
    settled_on("one two three four", "three")
    app.type_sentence("three blind mice")
    settled_on("three blind mice", "three")
    assert app.dialogs == [] and not app.page_errors


def tokens(sentence: str) -> list[str]:
    from attnviz_harness import expected_pieces

    return expected_pieces()(sentence)


@pytest.mark.parametrize(
    "sentence",
    ["the cat sat on the mat and the dog sat on the cat",
     "The parrot watched the cat, and it stayed very still while the cat watched the parrot"],
)  # fmt: skip
def test_drawn_labels_do_not_overlap(app, sentence):
    """Each query and key of the sentence is labelled (points at one place share a label) and no two drawn
    labels cover each other, though repeated words' queries and keys lie close."""
    app.goto("/Query_key_space", s=sentence)
    app.wait_for_model()
    plane(app, lambda t: "your keys" in t, "the sentence's points")
    app.page.locator(".st-key-qks_plane").scroll_into_view_if_needed()
    drawn = app.drawn_labels("qks_plane")
    named = [name for label in drawn["labels"] for name in names(label)]
    labels = app.labels(tokens(sentence))
    assert sorted(named) == sorted(labels * 2), "each piece named once as a query and once as a key"
    assert drawn["overlaps"] == [], f"labels drawn over each other: {drawn['overlaps']}"
    app.assert_no_exception()


def names(label: str) -> list[str]:
    """The pieces one drawn label names: "the #1, #3" -> the #1, the #3; "a · b" -> a, b."""
    out = []
    for part in label.split(" · "):
        base, _, counts = part.partition(" #")
        out += [f"{base} #{c}" for c in counts.split(", #")] if counts else [base]
    return out
