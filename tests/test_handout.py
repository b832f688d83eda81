"""The plotly.js the handout inlines: the vendored cartesian bundle is the plotly package's version and
registers every trace type the lesson's figures use; anything else gets the full bundle."""

import re

import numpy as np
import pytest
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from attnviz import lesson
from attnviz.attention import core
from attnviz.lesson import handout

REFRESH = "refresh attnviz/data/plotly-cartesian.min.js with `make plotlyjs` (see the README)"


def vendored() -> str:
    return handout.CARTESIAN.read_text(encoding="utf-8")


def test_the_vendored_bundle_is_the_plotly_packages_plotlyjs():
    source = vendored()
    assert source.startswith("/**\n* plotly.js (cartesian - minified) v")  # its MIT licence header, intact
    assert "Licensed under the MIT license" in source[:300]
    assert handout.version(get_plotlyjs()) == get_plotlyjs_version()  # the header reader, on the full bundle
    assert handout.version(source) == get_plotlyjs_version(), REFRESH


def test_the_bundles_trace_types_are_read_from_their_code():
    cartesian, full = handout.trace_types(vendored()), handout.trace_types(get_plotlyjs())
    # the cartesian bundle's README lists these twelve; the full bundle has them and more
    assert cartesian == {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                         "image", "pie", "scatter", "scatterternary", "violin"}  # fmt: skip
    assert cartesian < full and {"scatter3d", "scattergl", "parcoords", "table"} <= full - cartesian


def contexts(served):
    """Lesson contexts whose figures differ: 1, 4 and 40 toy tokens (40: cells too small for numbers),
    and MiniLM's static vectors with its learned head."""
    rng = np.random.default_rng(0)
    out = [lesson.Context(core.self_attention(rng.normal(size=(n, 3)), tuple(f"w{i}" for i in range(n))), "toy")
           for n in (1, 4, 40)]  # fmt: skip
    from attnviz.model.embeddings import bert_weights

    text = "the trophy did not fit in the suitcase because it was too big"
    emb = served.static(text)
    head = lesson.learned_head(bert_weights(served), served.tokenize(text), True)
    out.append(lesson.Context(core.self_attention(emb.vectors, emb.tokens), emb.source, head))
    return out


def test_every_trace_type_of_the_lesson_is_in_the_cartesian_bundle(served):
    registered = handout.trace_types(vendored())
    used = set()
    for c in contexts(served):
        for s in lesson.screens(c):
            if s.figure is not None:
                used |= {trace.type for trace in s.figure().data}
        page = handout.render(c)
        assert page.count(vendored()) == 1 and get_plotlyjs() not in page  # the small bundle, inlined once
        inlined = {m for m in re.findall(r'"type":\s*"(\w+)"', page.replace(vendored(), ""))}
        assert inlined & handout.trace_types(get_plotlyjs()) <= registered  # what the page's charts ask for
    assert {"heatmap", "scatter", "bar"} <= used <= registered


def test_other_trace_types_or_another_version_get_the_full_bundle(tmp_path, monkeypatch):
    assert handout.plotlyjs_for({"heatmap", "bar", "scatter"}) == vendored()
    assert handout.plotlyjs_for(set()) == vendored()
    for outside in ("scatter3d", "scattergl", "parcoords", "table"):
        assert handout.plotlyjs_for({"heatmap", outside}) == get_plotlyjs()
    old = tmp_path / "plotly-cartesian.min.js"
    old.write_text(vendored().replace(f" v{get_plotlyjs_version()}", " v0.0.1", 1), encoding="utf-8")
    monkeypatch.setattr(handout, "CARTESIAN", old)
    handout.cartesian.cache_clear()
    try:
        assert handout.plotlyjs_for({"heatmap"}) == get_plotlyjs()
    finally:
        handout.cartesian.cache_clear()


@pytest.mark.parametrize("given", ["/* a plotly.js */", get_plotlyjs()])
def test_a_given_plotlyjs_is_inlined_as_it_is(given):
    page = handout.render(lesson.Context(core.self_attention(np.eye(3), ("a", "b", "c")), "x"), plotlyjs=given)
    assert page.count(given) == 1 and vendored() not in page


def test_room_is_made_for_the_labels_the_titles_and_the_colour_bar():
    from attnviz import figures

    short = handout.room(figures.weights_heatmap(np.eye(2), ("a", "b")))
    long = handout.room(figures.weights_heatmap(np.eye(2), ("a", "x" * 20)))  # 20 characters
    # at least the handout's own estimate (the figure's margins, sized by figures.label_px, may be wider)
    assert long["l"] - short["l"] >= 19 * handout.PX_PER_CHAR - 1
    assert short["r"] == long["r"] == handout.COLOUR_BAR_PX  # the colour bar
    assert short["b"] == 10  # nothing below the chart: the figure's own margin
    tagged = handout.room(figures.weights_heatmap(np.eye(2), ("a", "<b>")))  # shown as typed: 3 characters
    assert tagged["l"] == handout.room(figures.weights_heatmap(np.eye(2), ("a", "bbb")))["l"]
    words = tuple(f"word{i:04d}" for i in range(9))
    level = figures.weights_heatmap(np.eye(2), words[:2])
    few = handout.room(level)  # labels across the top: a line, or the figure's own margin if that is wider
    many = handout.room(figures.weights_heatmap(np.eye(9), words))  # 9 columns: labels at -45°, taller
    assert few["t"] == max(10 + handout.LINE_PX, level.layout.margin.t)
    assert many["t"] >= 10 + 0.7 * 8 * handout.PX_PER_CHAR
    bars = handout.room(figures.row_bars(np.full(3, 1 / 3), ("a", "b", "c")))  # labels below, no colour bar
    assert bars["b"] > 10 and bars["r"] == 10 and bars["l"] >= 10 + handout.LINE_PX  # the y axis has a title
    fig = figures.qkv(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), ("a", "b", "c"), query=0)
    room = handout.room(fig)  # the panels' own margins: a line of tick labels and a line of titles; no bar
    assert room["t"] >= 10 + 2 * handout.LINE_PX and room["r"] == 10
