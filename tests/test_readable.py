"""Readable W at any size and setting: the one-hot / uniform line from row entropies (hand cases), the
relative colour scale with the absolute one a toggle away (in the URL), square cells; Home and Step."""

import json

import numpy as np
import pytest

from attnviz import figures
from attnviz.attention import core
from tests.test_lesson_apptest import numpy_w
from tests.test_pages import STEP, app


@pytest.fixture(scope="module", autouse=True)
def warm_model(model_ready):
    """The app's own loader, awaited (tests/conftest.py), whichever test runs first."""


@pytest.mark.parametrize(
    ("weights", "kind"),
    [
        (np.eye(4), "one-hot"),  # entropy 0
        (np.full((4, 4), 0.25), "uniform"),  # entropy log2 4 = 2 bits, the most
        (np.array([[0.5, 0.5, 0, 0]] * 4), None),  # 1 bit of 2: in between
        (np.array([[0.97, 0.01, 0.01, 0.01]] * 4), "one-hot"),  # 0.2419 bits of 2: 0.121 <= 0.15
        (np.array([[0.96, 0.02, 0.01, 0.01]] * 4), None),  # 0.3023 bits of 2: 0.151, just above
        (np.array([[0.26, 0.25, 0.25, 0.24]] * 4), "uniform"),  # 1.9994 bits of 2: 0.9997
        (np.ones((1, 1)), None),  # one token: nothing to say
    ],
)
def test_spread_by_hand(weights, kind):
    assert core.spread(weights) == kind


def test_spread_notes_say_what_to_try():
    assert "try 1/√d or a higher T" in core.spread_note(np.eye(3))
    assert "try a lower T" in core.spread_note(np.full((3, 3), 1 / 3))
    assert core.spread_note(np.array([[0.7, 0.3], [0.4, 0.6]])) is None


def test_relative_scale_and_square_cells():
    w = np.full((5, 5), 0.2) + np.eye(5) * 0.01
    w /= w.sum(axis=1, keepdims=True)
    fig = figures.weights_heatmap(w, list("abcde"), relative=True, square=True)
    assert fig.data[0].zmin == 0.0 and fig.data[0].zmax == pytest.approx(w.max())
    assert fig.layout.yaxis.scaleanchor == "x"
    assert figures.weights_heatmap(w, list("abcde")).data[0].zmax == 1.0
    fig.to_html(include_plotlyjs=False)


def spec(at, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith("-" + key))


@pytest.mark.parametrize(("page", "key"), [(None, "home_weights"), (STEP, "step_weights")])
def test_w_views_relative_by_default_absolute_in_the_url(minilm, page, key):
    text = "the cat sat on the mat"
    _, w = numpy_w(minilm, text)
    at = app(page, s=text)
    trace = spec(at, key)["data"][0]
    assert trace["zmin"] == 0 and trace["zmax"] == pytest.approx(w.max(), rel=1e-6)
    assert spec(at, key)["layout"]["yaxis"]["scaleanchor"] == "x"
    at.toggle(key="_w_w_absolute").set_value(True).run()
    assert spec(at, key)["data"][0]["zmax"] == 1 and at.query_params["wabs"] == "1"
    at = app(page, s=text, wabs="1")
    assert spec(at, key)["data"][0]["zmax"] == 1


@pytest.mark.parametrize(("params", "line"), [
    ({"e": "contextual"}, "try 1/√d or a higher T"),  # MiniLM's contextual vectors: W is the identity
    ({"t": "5", "scale": "sqrt-d"}, "try a lower T"),  # static, scaled and hot: nearly 1/n everywhere
    ({}, None),
])  # fmt: skip
def test_the_plain_line_follows_ws_entropy(minilm, params, line):
    text = "hi how are you"
    at = app(STEP, s=text, **params)
    shown = [i.value for i in at.info if "W is nearly" in i.value]
    if line is None:
        _, w = numpy_w(minilm, text)
        h = -(w * np.log2(w)).sum(axis=1).mean() / 2  # log2 4 = 2
        assert 0.15 < h < 0.97 and shown == []
    else:
        assert len(shown) == 1 and line in shown[0]
