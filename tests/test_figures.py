"""Figures carry the right data: the matrix, the token labels, a hover with the exact value."""

import importlib
import inspect
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._utils import validate_coerce_fig_to_dict

import attnviz
from attnviz import figures
from attnviz.attention import core


def test_weights_heatmap_holds_the_matrix_and_tokens():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tr = core.self_attention(x, ["a", "b", "c"])
    fig = figures.weights_heatmap(tr.weights, tr.tokens)
    assert isinstance(fig, go.Figure)
    hm = fig.data[0]
    np.testing.assert_array_equal(np.asarray(hm.z), tr.weights)
    assert list(hm.x) == list(hm.y) == ["a", "b", "c"]
    assert "%{z:.6g}" in hm.hovertemplate and "%{y}" in hm.hovertemplate and "%{x}" in hm.hovertemplate
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)
    assert hm.texttemplate  # small: numbers in the cells


def test_repeated_tokens_get_unique_labels():
    assert figures.token_labels(["the", "cat", "the"]) == ["the #1", "cat", "the #2"]


def test_labels_are_not_markup():
    labels = figures.token_labels(["<b>", "x", "<img src=x onerror=alert(1)>"])
    assert all("<" not in label and ">" not in label for label in labels)
    assert labels[0] == "&lt;b&gt;"


def test_signed_heatmap_is_centred_on_zero():
    fig = figures.scores_heatmap(np.array([[2.0, -1.0], [-1.0, 0.5]]), ["a", "b"])
    assert fig.data[0].zmin == -2.0 and fig.data[0].zmax == 2.0


def test_long_inputs_drop_cell_numbers():
    n = figures.ANNOTATE_MAX + 1
    fig = figures.weights_heatmap(np.full((n, n), 1 / n), [f"t{i}" for i in range(n)])
    assert fig.data[0].texttemplate is None
    assert fig.layout.height <= 900


def test_vectors_heatmap_has_a_column_per_feature():
    fig = figures.vectors_heatmap(np.zeros((3, 384)), ["a", "b", "c"])
    hm = fig.data[0]
    assert np.asarray(hm.z).shape == (3, 384) and hm.x0 == 1 and hm.dx == 1  # columns d1 … d384
    assert "d%{x}" in hm.hovertemplate


def test_row_bars():
    fig = figures.row_bars(np.array([0.2, 0.8]), ["a", "b"])
    np.testing.assert_array_equal(np.asarray(fig.data[0].y), [0.2, 0.8])


def _samples() -> dict:
    """One call of every figure builder, by name (figures are built when called, so a test may
    switch validation on first)."""
    rng = np.random.default_rng(0)
    w = core.softmax(rng.normal(size=(5, 5)))
    tokens = ["<b>", "a", "a", "b", "c"]
    wt = w.T / w.T.sum(1, keepdims=True)
    r, f = rng.normal, figures
    digit = rng.integers(0, 17, size=(8, 8)).astype(np.float64)  # an 8 × 8 image, pixels 0 … 16
    return {
        "weights_heatmap": lambda: figures.weights_heatmap(w, tokens, title="W"),
        "scores_heatmap": lambda: figures.scores_heatmap(rng.normal(size=(5, 5)), tokens),
        "vectors_heatmap": lambda: figures.vectors_heatmap(rng.normal(size=(5, 384)).astype(np.float32), tokens),
        "heatmap": lambda: f.heatmap(r(size=(40, 3)), [f"t{i}" for i in range(40)], ["a", "b", "c"], signed=True),
        "row_bars": lambda: figures.row_bars(w[0], tokens),
        "entropy_bars": lambda: figures.entropy_bars({"one": core.row_entropy(w), "two": core.row_entropy(w)}, tokens),
        "model_grid": lambda: figures.model_grid(np.stack([np.stack([w] * 12)] * 6), chosen=(2, 3)),
        "head_view": lambda: figures.head_view({"L0 H0": w, "L0 H1": wt}, tokens, focus=1),
        "geometry": lambda: figures.geometry(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), w, tokens, chosen=0),
        "animation": lambda: figures.animation(rng.normal(size=(21, 5, 2)), tokens),
        "distance_chart": lambda: figures.distance_chart({"mean": np.arange(21.0)[::-1], "max": np.arange(21.0)[::-1]}),
        "loss_curve": lambda: figures.loss_curve(np.linspace(2.8, 0.1, 50), steps=400),
        "weights_animation": lambda: figures.weights_animation(np.stack([w, wt]), [0, 10], tokens),
        "cross_heatmap": lambda: figures.cross_heatmap(w[:3], tokens[:3], tokens),
        "qkv": lambda: figures.qkv(*rng.normal(size=(3, 5, 32)), tokens, query=2),
        "scores_and_weights": lambda: figures.scores_and_weights(rng.normal(size=(5, 5)), w, tokens, d_head=32),
        "query_walk": lambda: f.query_walk(*r(size=(2, 5)), w[0], r(size=(5, 32)), tokens, d_head=32),
        "heads_side_by_side": lambda: f.heads_side_by_side(r(size=(5, 384)), tokens, n_heads=12, chosen=3),
        "cost_chart": lambda: f.cost_chart(
            [16, 32], [1e-4, 4e-4], [2e-4, 3e-4], flops_line=[1e-5, 4e-5], slopes=(2, 1)
        ),
        "memory_chart": lambda: figures.memory_chart([16, 10**6], [2048, 8e12], [100, 1e6], {"a laptop": 1.7e10}),
        "error_chart": lambda: figures.error_chart([16, 64], {"mean |Δ|": [0.1, 0.05]}),
        "panels": lambda: figures.panels([figures.Panel(w, None, "W", signed=False)], figures.token_labels(tokens)),
        "digit_attention": lambda: f.digit_attention(digit, 4, ["r0c0", "r0c1", "r1c0", "r1c1"], row=w[0, :4], query=1),
        "digit_gallery": lambda: f.digit_gallery(
            np.stack([digit, digit]), r(size=(2, 8, 8)), ["a", "<b>"], value_name="w"
        ),
        "confusion_heatmap": lambda: figures.confusion_heatmap(np.arange(100).reshape(10, 10)),
        "fit_cell_text": lambda: f.fit_cell_text(f.qkv(*rng.normal(size=(3, 5, 8)), tokens, query=2), 620),
        "qk_space": lambda: f.qk_space(
            f.qk_corpus_traces(r(size=(6, 2)), np.arange(6) < 3, np.zeros(6, int), tuple(tokens[:3]) * 2, ("a <b>",)),
            *r(size=(2, 3, 2)),
            tokens[:3],
            chosen=1,
            top=np.array([2, 0]),
            top_weights=np.array([0.7, 0.2]),
        ),
        "repeat_loss_chart": lambda: f.repeat_loss_chart(
            {"1 layer": (np.arange(0, 150, 50), np.array([4.2, 3.9, 3.8]))},
            chance=np.log(64),
            steps=100,
            window=(50, 100),
        ),
        "scores_chart": lambda: f.scores_chart(
            {"best": (np.arange(3), np.array([0.1, 0.5, 0.7]))}, steps=2, window=None
        ),
        "head_grid": lambda: f.head_grid(np.stack([np.stack([w, wt])] * 2), tokens),
        "stripes": lambda: f.stripes(w, tokens, [(1, 0), (2, 1)], title="layer 0, head 1"),
        "attention_rows": lambda: f.attention_rows(w[:2], tokens, ["head 0", "head 1"]),
        "next_token_bars": lambda: f.next_token_bars(["3", "7"], np.array([0.6, 0.3])),
        "knockout_bars": lambda: f.knockout_bars(
            r(size=(3, 2)).clip(0, 1), 0.7, groups=["head 0", "head 1", "all"], paths=("Q", "K"), head=2
        ),
        "census_grid": lambda: f.census_grid(r(size=(6, 12)), name="weight on [CLS]", chosen=(1, 8), zmax=1.0),
        "class_grid": lambda: f.class_grid(
            np.array([["previous", "next", "vertical", "diagonal", "broad", "heterogeneous"] * 2] * 6), chosen=(0, 2)
        ),
        "sink_bars": lambda: f.sink_bars(*(r(size=(3, 6)) / 3)),
        "layer_cosine_chart": lambda: f.layer_cosine_chart(np.array([1.0, 1.0, 0.99, 0.97, 0.95, 0.9, 0.88])),
        "pruning_chart": lambda: f.pruning_chart(
            [0.0, 0.1, 0.2],
            {"importance": [1, 0.99, 0.98], "random": [1, 0.95, 0.9]},
            {"importance": [1, 1, 0.975], "random": [1, 0.975, 0.9]},
            band=(0.2, 0.4),
        ),
    }


def _builders() -> set[str]:
    """Every public function of attnviz that says it returns a go.Figure, found by reading the
    package (so a new builder cannot be left out of the tests below)."""
    found = set()
    package = Path(attnviz.__file__).parent
    for path in sorted(package.rglob("*.py")):
        if "go.Figure" not in path.read_text() or path.parts[-2] == "ui":  # ui: Streamlit glue, no builders
            continue
        dotted = ".".join(("attnviz", *path.relative_to(package).with_suffix("").parts))
        module = importlib.import_module(dotted.removesuffix(".__init__"))
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            public = fn.__module__ == module.__name__ and not name.startswith("_")
            if public and fn.__annotations__.get("return") in ("go.Figure", go.Figure):
                found.add(name if module.__name__.startswith("attnviz.figures") else f"{path.stem}.{name}")
    return found


def test_every_builder_has_a_sample():
    assert _builders() == set(_samples())


def test_every_figure_passes_plotlys_validation(monkeypatch):
    """Figures are built without validation for speed; here every one is built with it on."""
    monkeypatch.setattr(figures.base, "VALIDATE", True)
    for name, build in _samples().items():
        fig = build()
        assert isinstance(fig, go.Figure) and fig.data, name
        go.Figure(fig.to_dict())  # raises on any property Plotly does not know


def test_every_figure_exports_as_plotly_does_it():
    """The fast (unvalidated) figures work in Plotly's own HTML export, its JSON and the notebook
    renderers that fig.show() uses (the classic one reads layout.template as a dict)."""
    for name, build in _samples().items():
        fig = build()
        html = fig.to_html(include_plotlyjs=False, full_html=False)
        assert "Plotly.newPlot" in html, name
        assert json.loads(pio.to_json(fig))["data"], name
        fig_dict = validate_coerce_fig_to_dict(fig, True)  # what fig.show() does first
        for renderer in ("notebook", "notebook_connected", "plotly_mimetype", "jupyterlab", "vscode"):
            assert pio.renderers[renderer].to_mimebundle(fig_dict), (name, renderer)


def test_weights_heatmap_of_the_issue_to_html():
    html = figures.weights_heatmap(np.eye(3), ("a", "b", "c")).to_html(include_plotlyjs=False)
    assert '"template":{}' in html.replace(" ", "")


def test_query_walk_ends_with_the_sum():
    rng = np.random.default_rng(1)
    w, v = core.softmax(rng.normal(size=4)), rng.normal(size=(4, 32))
    fig = figures.query_walk(rng.normal(size=4), rng.normal(size=4), w, v, ["a", "b", "c", "d"], d_head=32)
    scores, weights, terms = (np.asarray(t.z, dtype=float) for t in fig.data)
    assert list(fig.data[2].y) == ["a", "b", "c", "d", "= z (the sum)"]
    np.testing.assert_allclose(terms[:4], w[:, None] * v, rtol=1e-6)
    np.testing.assert_allclose(terms[4], w @ v, rtol=1e-5)
    np.testing.assert_allclose(weights[:4, 0], w)
    assert np.isnan(weights[4, 0]) and np.isnan(scores[4]).all()


def test_panels_share_rows_and_keep_their_scales():
    fig = figures.scores_and_weights(np.array([[2.0, -1.0], [0.0, 1.0]]), np.eye(2), ["a", "b"], d_head=32)
    s, w = fig.data
    assert (s.zmin, s.zmax) == (-2.0, 2.0) and (w.zmin, w.zmax) == (0.0, 1.0)
    assert s.xaxis == "x" and w.xaxis == "x2" and s.yaxis == w.yaxis == "y"
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]


def test_cell_numbers_are_left_out_where_they_would_not_fit():
    """fit_cell_text: a cell keeps its number when the number (as label_px estimates it, at the text's size)
    and a little room fit the cell's width at the given figure width; otherwise hover alone shows it."""
    rng = np.random.default_rng(0)
    tokens = ("the", "cat", "sat", "on", "a", "mat")
    w = core.self_attention(rng.normal(size=(6, 4)), tokens).weights
    q = rng.normal(scale=0.1, size=(6, 8))  # numbers like -0.12: 5 characters

    def kept(fig, width, height=430):
        fig.update_layout(height=height)
        return [t.texttemplate for t in figures.fit_cell_text(fig, width).data]

    assert kept(figures.weights_heatmap(w, tokens, square=True), 620) == ["%{z:.2f}"]
    assert kept(figures.qkv(q, q, q, tokens, query=0), 620) == [None, None, None]  # 8 columns in a third of it
    assert kept(figures.qkv(q, q, q, tokens, query=0), 2400) == ["%{z:.2f}"] * 3
    # a square heatmap's cells are limited by its height too: 6 rows in 100 px are ~13 px wide
    assert kept(figures.weights_heatmap(w, tokens, square=True), 2400, height=160) == [None]
    # the rule itself, on a one-row heatmap whose cell width is known: plot width / columns
    fig = figures.heatmap(np.array([[-0.5, 0.25]]), ["r"], ["a", "b"], annotate=True)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
    text = figures.label_px(("-0.50", "0.25")) * 11 / 12  # textfont 11 px
    need = 2 * (text + figures.CELL_TEXT_PAD + 1)  # two cells, each with its 1 px gap
    assert kept(go.Figure(fig), int(need) + 1) == ["%{z:.2f}"]
    assert kept(go.Figure(fig), int(need) - 1) == [None]


def test_points_at_one_place_share_one_label():
    """Two "the" in a sentence have one static vector: their labels printed on top of each other. Now the
    first carries both ("the #1, #2") and the other none; the hover still names each."""
    before = np.array([[0.0, 0.0], [1.0, 0.5], [0.0, 0.0], [-1.0, 0.3]])
    fig = figures.geometry(before, before * 0.5, np.full((4, 4), 0.25), ["the", "cat", "the", ","])
    trace = next(t for t in fig.data if t.name == "before: X")
    assert list(trace.text) == ["the #1", "cat", "the #2", ","]
    assert list(trace.texttemplate) == ["the #1, #2", "%{text}", "", "%{text}"]
    assert figures.merged_label(["a", "b #1"]) == "a · b #1"
    assert figures.merged_label(["%", "{x"]) == "% · {x"
    assert "%{" not in figures.merged_label(["%{x"])  # never read as a template field


def test_animation_merges_labels_only_of_points_that_never_part():
    frames = np.array([[[0, 0], [0, 0], [1, 1]], [[0, 0], [0.5, 0.5], [1, 1]]], dtype=float)  # [K, n, 2]
    fig = figures.animation(frames, ["a", "b", "c"])
    assert list(fig.data[0].texttemplate) == ["%{text}", "%{text}", "%{text}"]  # a and b part in frame 1
    fig = figures.animation(frames[:1].repeat(2, axis=0), ["a", "b", "c"])
    assert list(fig.data[0].texttemplate) == ["a · b", "", "%{text}"]


def _boxes(points, placed, labels, scale):
    """The label boxes (x0, x1, y0, y1) in px as place_labels models them, at the given px per unit."""
    out = []
    for (x, y), tt, pos, label in zip(points * scale, placed.texttemplate, placed.textposition, labels):
        if tt:
            f = dict(figures.scatter._PLACES)[pos]
            out.append(np.add(f(figures.label_px((label if tt == "%{text}" else tt,))), (x, x, y, y)))
    return out


def test_crowded_labels_go_to_free_sides():
    """A tight cluster of points: each label goes to a side where it covers no other label, at the scale the
    chart is drawn (the browser tests measure the drawn labels themselves)."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 2)) * 0.05 + np.repeat([[0, 0], [1, 1]], 6, axis=0)
    labels = [f"word{i}" for i in range(12)]
    (placed,) = figures.place_labels([(points, labels)], width_px=560, height_px=460)
    assert len(set(placed.textposition)) > 1  # not all above: "top center" alone would overlap
    boxes = _boxes(points, placed, labels, figures.scatter._px_scale(points, 560, 460))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert figures.scatter._overlaps(a[None], b[None])[0] == 0.0


def test_cell_numbers_differ_where_the_colours_do():
    """Numbers in cells have as many decimals as the colour scale's range asks: two cells a colour step
    ((max − min) / 20) apart never print the same number, from a range of 1e-6 to one of 1e4."""
    rng = np.random.default_rng(0)
    for span in (1e-6, 3e-5, 0.008, 0.26, 1.0, 7.0, 200.0, 1e4):
        z = rng.uniform(-span / 2, span / 2, size=(6, 6)) + rng.choice([0.0, 100.0])
        fig = figures.heatmap(z, list("abcdef"), list("abcdef"))
        template = fig.data[0].texttemplate
        d = int(template.removeprefix("%{z:.").removesuffix("f}"))
        printed = {v: f"{v:.{d}f}" for v in z.ravel()}
        step = (z.max() - z.min()) / figures.CELL_STEPS
        for a in z.ravel():
            for b in z.ravel():
                if abs(a - b) >= step:
                    assert printed[a] != printed[b], (span, a, b, template)
        assert d <= max(0, int(np.ceil(np.log10(figures.CELL_STEPS / (z.max() - z.min()))))) + 1  # not too many
    assert figures.weights_heatmap(np.full((4, 4), 0.25), list("abcd"), relative=False).data[0].texttemplate == (
        "%{z:.2f}"
    )  # W on its 0–1 scale keeps two decimals
    signed = figures.heatmap(np.array([[0.004, -0.0031], [0.001, 0.0]]), ["a", "b"], ["a", "b"], signed=True)
    assert signed.data[0].texttemplate == "%{z:.4f}"  # the issue's W_B − W_A: colours over ±0.004
