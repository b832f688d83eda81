"""Patches of the 8 × 8 digits, attention among them, and the tiny attention classifier."""

import numpy as np
import plotly.graph_objects as go
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from attnviz import figures
from attnviz.learn import classifier, training, vision
from tests.test_training import numeric_gradient

HAND = np.arange(64, dtype=float).reshape(8, 8)  # pixel (r, c) holds 8 r + c


def test_patch_cutting_against_a_hand_made_image():
    p2 = vision.patches(HAND, 2)
    assert p2.shape == (16, 4)
    # patch r0c0: pixels (0,0) (0,1) (1,0) (1,1); patch r0c1 starts at column 2; patch r1c0 at row 2
    np.testing.assert_array_equal(p2[0] * 16, [0, 1, 8, 9])
    np.testing.assert_array_equal(p2[1] * 16, [2, 3, 10, 11])
    np.testing.assert_array_equal(p2[4] * 16, [16, 17, 24, 25])
    np.testing.assert_array_equal(p2[15] * 16, [54, 55, 62, 63])
    p4 = vision.patches(HAND, 4)
    assert p4.shape == (4, 16)
    np.testing.assert_array_equal(p4[0] * 16, [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27])
    np.testing.assert_array_equal(p4[3] * 16, [36, 37, 38, 39, 44, 45, 46, 47, 52, 53, 54, 55, 60, 61, 62, 63])
    p1 = vision.patches(HAND, 1)
    np.testing.assert_array_equal(p1[:, 0] * 16, np.arange(64))  # one pixel a patch, reading order
    # every pixel exactly once, in every size; and a batch of images is cut image by image
    for p in vision.PATCH_SIZES:
        assert sorted((vision.patches(HAND, p) * 16).ravel().tolist()) == list(range(64))
    batch = np.stack([HAND, HAND[::-1]])
    np.testing.assert_array_equal(vision.patches(batch, 2)[1], vision.patches(HAND[::-1], 2))


def test_labels_paint_and_boxes():
    assert vision.patch_labels(4) == ("r0c0", "r0c1", "r1c0", "r1c1")
    assert vision.patch_labels(2)[5] == "r1c1" and len(vision.patch_labels(1)) == 64
    painted = vision.paint(np.array([1.0, 2.0, 3.0, 4.0]), 4)
    assert painted[0, 0] == painted[3, 3] == 1 and painted[0, 4] == 2 and painted[4, 0] == 3 and painted[7, 7] == 4
    np.testing.assert_array_equal(vision.paint(np.arange(64.0), 1), HAND)
    assert vision.patch_box(5, 2) == (2, 2, 3, 3) and vision.patch_box(3, 4) == (4, 4, 7, 7)


@pytest.mark.parametrize("patch", [1, 2, 4])
@pytest.mark.parametrize("positions", [False, True])
@pytest.mark.parametrize(("scale", "temperature"), [("none", 1.0), ("sqrt-d", 0.3)])
def test_attention_over_patches_against_plain_numpy(patch, positions, scale, temperature):
    image = load_digits().images[17]
    g = 8 // patch
    x = np.array(
        [image[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch].ravel() for r in range(g) for c in range(g)]
    )
    x = x / 16.0
    if positions:
        x = np.hstack([x, np.eye(g * g)])
    s = 1.0 if scale == "none" else 1 / np.sqrt(x.shape[1])
    logits = s * (x @ x.T) / temperature
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    trace = vision.attention(image, patch, positions=positions, scale=scale, temperature=temperature)
    np.testing.assert_allclose(trace.scores, x @ x.T, atol=1e-12)
    np.testing.assert_allclose(trace.weights, w, atol=1e-12)
    np.testing.assert_allclose(trace.output, w @ x, atol=1e-12)
    assert trace.tokens == vision.patch_labels(patch)


def test_position_features_add_one_on_the_diagonal():
    image = vision.digits().images[3]
    plain, placed = vision.attention(image, 2), vision.attention(image, 2, positions=True)
    np.testing.assert_allclose(placed.scores - plain.scores, np.eye(16), atol=1e-12)


def test_bad_input_has_a_message():
    for bad in (3, 0, 8, "2", True):
        with pytest.raises(vision.VisionError, match="patch size must be one of 1, 2, 4"):
            vision.patches(HAND, bad)
    for bad in (-1, 1797, 2.5):
        with pytest.raises(vision.VisionError, match="from 0 to 1796"):
            vision.check_index(bad)
    with pytest.raises(vision.VisionError, match="8 × 8"):
        vision.patches(np.zeros((7, 8)), 2)


def test_digits_and_split_are_scikit_learns():
    d = load_digits()
    np.testing.assert_array_equal(vision.digits().images, d.images)
    np.testing.assert_array_equal(vision.digits().targets, d.target)
    train, test = train_test_split(range(1797), test_size=0.25, random_state=0)
    assert vision.split()[0].tolist() == train and vision.split()[1].tolist() == test


# --- the classifier ------------------------------------------------------------------------------


@pytest.mark.parametrize("patch", [2, 4])
def test_classifier_gradients_against_finite_differences(patch):
    config = classifier.Config(seed=3, patch=patch, dim=5)
    rng = np.random.default_rng(0)
    params = classifier.init_params(config, rng)
    for name in ("b_e", "b_out"):  # not zero, so every path is exercised
        params[name] = rng.normal(0, 0.5, params[name].shape)
    images = vision.digits().images[:6]
    x, labels = vision.patches(images, patch), vision.digits().targets[:6]
    f = classifier.forward(params, x)
    grads = classifier.backward(params, f, labels)
    assert set(grads) == set(classifier.PARAMS)
    for name, p in params.items():
        numeric = numeric_gradient(lambda: classifier.loss(classifier.forward(params, x), labels), p)
        assert grads[name].shape == p.shape
        scale = max(np.abs(numeric).max(), 1e-8)
        assert np.abs(grads[name] - numeric).max() / scale < 1e-6, name


def test_classifier_reuses_the_training_core():
    config = classifier.Config(seed=0, dim=4)
    params = classifier.init_params(config, np.random.default_rng(1))
    x = vision.patches(vision.digits().images[:3], 2)
    f = classifier.forward(params, x)
    e = x @ params["W_e"] + params["b_e"] + params["pos"]
    att = training.attention_forward(e, params["W_q"], params["W_k"], params["W_v"])
    np.testing.assert_allclose(f.attention.weights, att.weights, atol=1e-15)
    np.testing.assert_allclose(f.h, e + att.output, atol=1e-15)
    np.testing.assert_allclose(f.attention.weights.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 7])
def test_classifier_learns_the_digits(seed):
    result = classifier.train(classifier.Config(seed=seed))
    expected = np.mean(result.predictions == load_digits().target[result.test_indices])
    assert result.accuracy == expected >= 0.90
    assert len(result.losses) == 20 * 43 and result.losses[-1] < 0.5 * result.losses[0]
    counts = result.confusion()
    assert counts.sum() == 450 and np.trace(counts) == round(expected * 450)
    np.testing.assert_array_equal(
        counts.sum(axis=1), np.bincount(load_digits().target[result.test_indices], minlength=10)
    )


def test_trainer_in_chunks_equals_one_run():
    config = classifier.Config(seed=2, epochs=2)
    whole = classifier.train(config)
    trainer = classifier.Trainer(config)
    while not trainer.done:
        trainer.run(7)
    chunked = classifier.evaluate(trainer)
    assert chunked.losses == whole.losses
    np.testing.assert_array_equal(chunked.predictions, whole.predictions)
    assert trainer.epoch == 2


def test_bad_classifier_settings():
    with pytest.raises(classifier.ClassifierError, match="seed"):
        classifier.Config(seed=-1)
    with pytest.raises(vision.VisionError, match="patch size"):
        classifier.Config(patch=3)


# --- the figures ---------------------------------------------------------------------------------


def test_vision_figures_pass_plotlys_validation_and_hold_the_numbers(monkeypatch):
    monkeypatch.setattr(figures.base, "VALIDATE", True)
    image = vision.digits().images[8]
    trace = vision.attention(image, 4)
    fig = figures.digit_attention(image, 4, trace.tokens, row=trace.weights[1], query=1)
    painted = np.asarray(fig.data[1].z)
    np.testing.assert_allclose(painted[0:4, 4:8], trace.weights[1, 1])
    np.testing.assert_allclose(painted[4:8, 0:4], trace.weights[1, 2])
    assert list(fig.data[3].customdata) == list(trace.tokens) and len(fig.data[3].x) == 4  # clickable patches
    assert fig.layout.shapes[-1].x0 == 3.5 and fig.layout.shapes[-1].y0 == -0.5  # r0c1 outlined
    counts = np.arange(100).reshape(10, 10)
    built = [
        fig,
        figures.digit_gallery(np.stack([image, image]), np.zeros((2, 8, 8)), ["a", "b"], value_name="w"),
        figures.confusion_heatmap(counts),
    ]
    for f in built:
        go.Figure(f.to_dict())  # raises on any property Plotly does not know
    np.testing.assert_array_equal(np.asarray(built[2].data[0].z), counts)


def test_digits_and_split_are_scikit_learns_without_importing_it():
    """The page reads the digits file and replays the split itself: a fresh interpreter that draws a
    digit's attention and takes the split never imports scikit-learn (~140 MB in a server)."""
    import subprocess
    import sys

    d = load_digits()
    np.testing.assert_array_equal(vision.digits().images, d.images)
    np.testing.assert_array_equal(vision.digits().targets, d.target)
    train, test = train_test_split(range(vision.N_IMAGES), test_size=0.25, random_state=0)
    np.testing.assert_array_equal(vision.split()[0], train)
    np.testing.assert_array_equal(vision.split()[1], test)
    code = (
        "import sys; from attnviz.learn import vision; vision.digits(); vision.split(); "
        "print('sklearn' in sys.modules or any(m.startswith('sklearn.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
