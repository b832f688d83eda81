"""The geometry page's maths and figure data: the plotted points are the projections of X and W X."""

from itertools import pairwise

import numpy as np
import pytest

from attnviz import figures
from attnviz.attention import core, geometry
from attnviz.model.embeddings import ToyEmbedder
from tests.apptest_charts import decode, figure
from tests.test_pages import app

GEO = "pages/3_Geometry.py"
# Every page test here reads the page with the model loaded: awaited, not left to an earlier test.
pytestmark = pytest.mark.usefixtures("model_ready")


def test_pca_plane_is_fitted_once_on_both_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 10))
    y = core.self_attention(x).output
    plane = geometry.fit_pca(np.vstack([x, y]))
    both = plane(np.vstack([x, y]))
    np.testing.assert_allclose(both.mean(axis=0), 0, atol=1e-12)  # centred on both sets together
    np.testing.assert_allclose(plane.components @ plane.components.T, np.eye(2), atol=1e-12)
    assert 0 < plane.explained <= 1
    # exact when the data is already 2-D
    flat = np.c_[x[:, :2], np.zeros((6, 8))]
    assert geometry.fit_pca(flat).explained == pytest.approx(1.0)


def test_feature_plane_picks_features():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(geometry.feature_plane(4, 2, 0)(x), x[:, [2, 0]])
    with pytest.raises(ValueError):
        geometry.feature_plane(4, 1, 1)


def test_repeat_is_powers_of_w():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3))
    w = core.self_attention(x).weights
    frames = geometry.repeat(w, x, 4)
    assert frames.shape == (5, 5, 3)
    np.testing.assert_allclose(frames[3], np.linalg.matrix_power(w, 3) @ x)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("temperature", [0.5, 1.0, 5.0])
def test_averaging_contracts(seed, temperature):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(rng.integers(2, 12)), int(rng.integers(2, 30))))
    w = core.self_attention(x, temperature=temperature).weights
    frames = geometry.repeat(w, x, 20)
    _, diam = geometry.spread(frames)
    assert all(b <= a + 1e-9 for a, b in pairwise(diam))  # every new point lies inside the old cloud
    # (the *mean* distance can rise for a while when close points are pulled apart; the page says so)


@pytest.mark.parametrize("text", ["hi how are You", "the cat sat on the mat", "a b c d"])
def test_mean_distance_decreases_step_by_step_for_the_seed_example(text):
    emb = ToyEmbedder()(text)
    for t in (0.5, 1.0, 2.0, 5.0):
        frames = geometry.repeat(core.self_attention(emb.vectors, temperature=t).weights, emb.vectors, 20)
        mean, _ = geometry.spread(frames)
        assert all(b < a or b < 1e-6 * mean[0] for a, b in pairwise(mean)), t  # until one point


def test_residual_keeps_words_apart():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    w = core.self_attention(x).weights
    plain = geometry.repeat(w, x, 20)
    res = geometry.repeat(w, x, 20, residual=True)
    np.testing.assert_allclose(res[1], (x + w @ x) / 2)
    assert geometry.spread(res[-1:])[0][0] > geometry.spread(plain[-1:])[0][0]


def test_spread_per_frame_matches_pair_by_pair():
    frames = np.random.default_rng(4).normal(size=(5, 7, 3))
    mean, diam = geometry.spread(frames)
    pairs = [[np.linalg.norm(f[i] - f[j]) for i in range(7) for j in range(7) if i != j] for f in frames]
    np.testing.assert_allclose(mean, [np.mean(p) for p in pairs])
    np.testing.assert_allclose(diam, [np.max(p) for p in pairs])


def test_pca_matches_svd_in_both_shapes():
    rng = np.random.default_rng(5)
    for shape in [(8, 30), (40, 5)]:
        pts = rng.normal(size=shape) * np.linspace(3, 0.1, shape[1])
        plane = geometry.fit_pca(pts)
        _, s, vt = np.linalg.svd(pts - pts.mean(axis=0), full_matrices=False)
        np.testing.assert_allclose(np.abs(plane.components), np.abs(vt[:2]), atol=1e-9)
        assert plane.explained == pytest.approx((s[:2] ** 2).sum() / (s**2).sum())


def test_pairwise_distances():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_allclose(geometry.pairwise_distances(x), [[0, 5, 1], [5, 0, np.sqrt(18)], [1, np.sqrt(18), 0]])
    mean, diam = geometry.spread(x[None, :1])  # a single token: no pair
    assert mean.tolist() == [0.0] and diam.tolist() == [0.0]


def test_geometry_figure_data():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tr = core.self_attention(x, ["a", "b", "c"])
    fig = figures.geometry(x, tr.output, tr.weights, tr.tokens, chosen=0)
    before, after = fig.data[-2], fig.data[-1]
    np.testing.assert_array_equal(np.c_[before.x, before.y], x)
    np.testing.assert_allclose(np.c_[after.x, after.y], tr.weights @ x)
    move = next(t for t in fig.data if t.name == "move")  # one arrow per token: before -> after
    xs = np.asarray(move.x, dtype=float).reshape(3, 3)
    np.testing.assert_array_equal(xs[:, 0], x[:, 0])
    np.testing.assert_allclose(xs[:, 1], tr.output[:, 0])
    assert move.marker.symbol == "arrow"
    lines = [t for t in fig.data if t.mode == "lines" and t.name != "move"]
    thickest = max(lines, key=lambda t: t.line.width)
    j = int(np.argmax(tr.weights[0]))
    assert x[j, 0] in list(thickest.x) and thickest.line.width == round(0.5 + 12 * tr.weights[0, j])


def _points(fig_json, name):
    trace = next(t for t in fig_json["data"] if t.get("name") == name)
    return np.c_[decode(trace["x"]), decode(trace["y"])]


def test_page_with_toy_embeddings_plots_exactly_x_and_wx():
    at = app(GEO, s="hi how are You", e="toy", t="0.7", open="repeat")
    emb = ToyEmbedder()("hi how are You")
    tr = core.self_attention(emb.vectors, emb.tokens, temperature=0.7)
    fig = figure(at, "geo_picture")
    np.testing.assert_array_equal(_points(fig, "before: X"), emb.vectors)
    np.testing.assert_allclose(_points(fig, "after: Y = W X"), tr.output, atol=1e-12)
    anim = figure(at, "geo_animation")
    assert len(anim["frames"]) == 21
    last = anim["frames"][-1]["data"][0]
    np.testing.assert_allclose(
        np.c_[decode(last["x"]), decode(last["y"])], np.linalg.matrix_power(tr.weights, 20) @ emb.vectors
    )


def test_page_with_minilm_plots_the_projection_of_wx(minilm):
    at = app(GEO, s="the cat sat on the mat")
    emb = minilm.static("the cat sat on the mat").without_special()
    tr = core.self_attention(emb.vectors, emb.tokens)
    plane = geometry.fit_pca(np.vstack([tr.x, tr.output]))
    fig = figure(at, "geo_picture")
    np.testing.assert_allclose(_points(fig, "after: Y = W X"), plane(tr.output), atol=1e-9)
    np.testing.assert_allclose(_points(fig, "before: X"), plane(tr.x), atol=1e-9)
    assert any("of the variance" in c.value for c in at.caption)


@pytest.mark.parametrize(
    "actions",
    [
        {"geo_residual": True},
        {"geo_source": "learned"},
        {"geo_source": "learned", "geo_layer": 5, "geo_head": 11},
        {"geo_projection": "features"},
    ],
)
def test_page_controls(actions):
    at = app(GEO, s="Geometry makes attention visible", open="repeat")
    for key, value in actions.items():
        widget = next(w for kind in ("toggle", "radio", "number_input") for w in at.get(kind) if w.key == key)
        widget.set_value(value).run()
        assert not at.exception, at.exception
    figure(at, "geo_picture")
    figure(at, "geo_distances")
    # the path asked for, with the model: a head's 32-number value vectors, or MiniLM's 384 features
    captions = " ".join(c.value for c in at.caption)
    if actions.get("geo_source") == "learned":
        assert "before attention (V)" in captions and "full 32-dimensional space" in captions, captions
    else:
        assert "before attention (X)" in captions and "full 384-dimensional space" in captions, captions


@pytest.mark.parametrize(
    "params", [{"s": "one"}, {"s": "same same same"}, {"s": "😀 <b>x</b>"}, {"t": "0.05"}, {"t": "5"}]
)
def test_page_edge_cases(params):
    at = app(GEO, **params)
    assert not at.exception


def test_own_span_keeps_the_geometry():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(7, 50))
    w = core.self_attention(x).weights
    xr = geometry.in_own_span(x)
    assert xr.shape == (7, 7)
    np.testing.assert_allclose(geometry.pairwise_distances(xr), geometry.pairwise_distances(x), atol=1e-9)
    np.testing.assert_allclose(geometry.moved(xr, w @ xr), geometry.moved(x, w @ x), atol=1e-9)
    full, reduced = geometry.fit_pca(np.vstack([x, w @ x])), geometry.fit_pca(np.vstack([xr, w @ xr]))
    np.testing.assert_allclose(reduced(w @ xr), full(w @ x), atol=1e-9)  # the same picture, same orientation
    assert reduced.explained == pytest.approx(full.explained)
    small = x[:, :3]
    assert geometry.in_own_span(small) is small  # n >= d: already as small as it gets


def test_animation_is_drawn_only_while_its_section_is_open():
    """The animation is the page's heaviest part: closed by default, so a new sentence does not rebuild it."""
    closed = app(GEO, s="the cat sat")
    keys = [c.proto.id.rsplit("-", 1)[-1] for c in closed.get("plotly_chart")]
    assert "geo_picture" in keys and "geo_animation" not in keys and "geo_distances" not in keys
    assert "open" not in closed.query_params
    opened = app(GEO, s="the cat sat", open="repeat")
    keys = [c.proto.id.rsplit("-", 1)[-1] for c in opened.get("plotly_chart")]
    assert {"geo_picture", "geo_animation", "geo_distances"} <= set(keys)
    assert opened.query_params["open"] == "repeat"
