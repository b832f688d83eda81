"""The attention-only transformer: hand-written gradients against finite differences and torch autograd,
whole runs against torch.optim.Adam, the attention core against training.py's, shapes, dtypes and seeds."""

import math

import numpy as np
import pytest

from attnviz.attention.core import causal_mask
from attnviz.learn import autograd, induction, training, transformer
from attnviz.learn.transformer import Config, TransformerError
from tests.test_training import numeric_gradient, relative_error  # the one-layer model's checks, reused

SHAPES = [(layers, smeared) for layers in (1, 2) for smeared in (False, True)]
ZEROS = ("0.alpha", "1.alpha", "W_U")  # initialised to 0; a gradient test draws them at random instead


def small_problem(seed: int, *, layers: int, smeared: bool, vocab: int = 11, length: int = 9, batch: int = 3):
    """A model of a readable size with weights away from the near-uniform start (a sharper test),
    α and W_U away from 0, and one batch with targets at about half the positions."""
    config = Config(vocab=vocab, length=length, layers=layers, heads=2, d_model=8, d_head=4, smeared_keys=smeared)
    rng = np.random.default_rng(seed)
    params = transformer.init_params(config, rng, dtype=np.float64)
    params = {k: rng.normal(size=v.shape) if k in ZEROS else 2.0 * v for k, v in params.items()}
    tokens = rng.integers(0, vocab, (batch, length))
    targets = np.where(rng.random((batch, length)) < 0.5, rng.integers(0, vocab, (batch, length)), -1)
    return config, params, tokens, targets


@pytest.mark.parametrize(("layers", "smeared"), SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_gradient_matches_finite_differences(layers, smeared, seed):
    config, params, tokens, targets = small_problem(seed, layers=layers, smeared=smeared)
    f = transformer.forward(params, config, tokens, targets)
    grads = transformer.backward(params, config, f)
    assert list(grads) == list(params) == list(config.param_shapes())
    for name, w in params.items():
        assert grads[name].shape == w.shape
        numeric = numeric_gradient(lambda: transformer.forward(params, config, tokens, targets).loss, w)
        assert relative_error(grads[name], numeric) <= 1e-6, name
        assert np.max(np.abs(grads[name])) > 1e-4, f"{name}: a zero gradient would pass trivially"


@pytest.mark.parametrize(("layers", "smeared"), SHAPES)
def test_gradients_match_torch_autograd(layers, smeared):
    """On the task itself (length 48, a batch of repeated segments), a small width."""
    config = Config(layers=layers, heads=2, d_model=16, d_head=8, smeared_keys=smeared)
    rng = np.random.default_rng(7)
    params = transformer.init_params(config, rng, dtype=np.float64)
    params = {k: rng.normal(size=v.shape) if k in ZEROS else 1.5 * v for k, v in params.items()}
    batch = induction.sample(rng, 8)
    f = transformer.forward(params, config, batch.tokens, batch.targets)
    ours = transformer.backward(params, config, f)
    loss, theirs = autograd.transformer_gradients(params, config, batch.tokens, batch.targets)
    assert abs(f.loss - loss) <= 1e-12
    for name in params:
        assert np.max(np.abs(ours[name] - theirs[name])) <= 1e-10, name
        assert relative_error(ours[name], theirs[name]) <= 1e-10, name


@pytest.mark.parametrize(("layers", "smeared"), [(2, False), (1, True)])
def test_whole_run_matches_torch_adam(layers, smeared):
    """120 steps of the default-sized model with a warm-up, the same initial weights and batches: NumPy
    (hand-written gradients + training.Adam) and torch (autograd + torch.optim.Adam) in float64 give the
    same loss at every step and the same weights at the end."""
    settings = induction.Settings(layers=layers, smeared_keys=smeared, steps=120, warmup=40, lr=3e-3, seed=5)
    ours = induction.Trainer(settings, dtype=np.float64)
    ours.run(settings.steps)
    theirs = autograd.TransformerTrainer(settings)
    theirs.run(settings.steps)
    assert len(ours.losses) == len(theirs.losses) == 120
    assert np.max(np.abs(np.asarray(ours.losses) - np.asarray(theirs.losses))) <= 1e-9
    init = transformer.init_params(settings.model, np.random.default_rng(5), dtype=np.float64)
    for name, w in theirs.numpy_params().items():
        assert relative_error(ours.params[name], w) <= 1e-8, name
        assert np.max(np.abs(w - init[name])) > 0.02, f"{name} barely moved: the comparison would have no teeth"


def test_float32_stays_float32():
    """Training runs in float32: no intermediate or gradient is silently promoted to float64."""
    config = Config(layers=2, smeared_keys=True, heads=2, d_model=16, d_head=8)
    params = transformer.init_params(config, np.random.default_rng(0))
    batch = induction.sample(np.random.default_rng(1), 4)
    f = transformer.forward(params, config, batch.tokens, batch.targets)
    for layer in f.layers:
        for name in ("x", "q", "k", "keys", "v", "weights", "z", "out"):
            assert getattr(layer, name).dtype == np.float32, name
    assert f.logits.dtype == f.log_probs.dtype == np.float32
    grads = transformer.backward(params, config, f)
    assert all(g.dtype == np.float32 for g in grads.values())


def test_the_one_layer_attention_of_training_is_attend_after_its_projections():
    """training.attention_forward/backward (one head, no smearing) are `attend` after x W_q, x W_k, x W_v:
    the same weights, output and weight gradients, so training.py could be written on top of this core."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 6))
    w_q, w_k, w_v = (rng.normal(size=(6, 3)) for _ in range(3))
    d_out = rng.normal(size=(2, 5, 3))
    mask = causal_mask(5)
    theirs = training.attention_forward(x, w_q, w_k, w_v, mask)
    ours = transformer.attend(x @ w_q, x @ w_k, x @ w_v, mask)
    np.testing.assert_allclose(ours.weights, theirs.weights, atol=1e-14)
    np.testing.assert_allclose(ours.output, theirs.output, atol=1e-14)
    np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-14)
    g = training.attention_backward(theirs, w_q, w_k, w_v, d_out)
    d_q, d_k, d_v = transformer.attend_backward(x @ w_q, x @ w_k, x @ w_v, ours.weights, d_out)
    x2 = x.reshape(-1, 6)
    for name, d in (("W_q", d_q), ("W_k", d_k), ("W_v", d_v)):
        np.testing.assert_allclose(x2.T @ d.reshape(-1, 3), g[name], atol=1e-12)


def test_attention_is_causal_and_rows_sum_to_one():
    config = Config(layers=2, heads=3, d_model=16, d_head=4, smeared_keys=True)
    params = transformer.init_params(config, np.random.default_rng(2), dtype=np.float64)
    tokens = np.random.default_rng(3).integers(0, 64, (2, 20))
    f = transformer.forward(params, config, tokens)
    w = f.patterns  # [L, B, H, n, n]
    assert w.shape == (2, 2, 3, 20, 20)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(np.triu(w, k=1) == 0)
    later = tokens.copy()
    later[:, 12:] = (later[:, 12:] + 1) % 64  # change the future: nothing before position 12 may move
    g = transformer.forward(params, config, later)
    np.testing.assert_array_equal(g.residual[:, :12], f.residual[:, :12])
    assert not np.allclose(g.residual[:, 12:], f.residual[:, 12:])


def test_residual_stream_is_the_sum_of_what_the_layers_write():
    config = Config(layers=2, heads=2, d_model=8, d_head=4)
    params = transformer.init_params(config, np.random.default_rng(4), dtype=np.float64)
    tokens = np.array([[3, 1, 4, 1, 5, 9]])
    f = transformer.forward(params, config, tokens)
    x0 = params["W_E"][tokens] + params["W_pos"][:6]
    np.testing.assert_array_equal(f.residuals[0], x0)
    np.testing.assert_allclose(f.residuals[-1], x0 + f.layers[0].out + f.layers[1].out, atol=1e-13)
    np.testing.assert_allclose(f.logits, f.residual @ params["W_U"], atol=1e-13)
    # each head's share of a layer's output, written out: z_h W_O[h], summed over the heads
    c = f.layers[1]
    by_hand = sum(c.z[:, h] @ params["1.W_O"][h] for h in range(2))
    np.testing.assert_allclose(c.out, by_hand, atol=1e-13)
    np.testing.assert_allclose(c.q[:, 1], f.residuals[1] @ params["1.W_Q"][1], atol=1e-13)


def test_smeared_keys_mix_each_key_with_the_previous():
    k = np.arange(2 * 3 * 2, dtype=np.float64).reshape(1, 2, 3, 2)  # [B=1, H=2, n=3, d_h=2]
    alpha = np.array([0.0, math.log(3)])  # σ = 1/2 and 3/4
    s = transformer.smear(k, alpha)
    np.testing.assert_allclose(s[0, 0, 0], 0.5 * k[0, 0, 0])  # nothing before the first position
    np.testing.assert_allclose(s[0, 0, 2], 0.5 * k[0, 0, 2] + 0.5 * k[0, 0, 1])
    np.testing.assert_allclose(s[0, 1, 1], 0.75 * k[0, 1, 1] + 0.25 * k[0, 1, 0])
    np.testing.assert_allclose(transformer.sigmoid(np.array([-800.0, 0.0, 800.0])), [0.0, 0.5, 1.0])


def test_init_is_seeded_and_named():
    config = Config(layers=2, smeared_keys=True)
    a = transformer.init_params(config, np.random.default_rng(9))
    b = transformer.init_params(config, np.random.default_rng(9))
    assert list(a) == ["W_E", "W_pos", "0.W_Q", "0.W_K", "0.W_V", "0.W_O", "0.alpha",
                       "1.W_Q", "1.W_K", "1.W_V", "1.W_O", "1.alpha", "W_U"]  # fmt: skip
    for name, shape in config.param_shapes().items():
        assert a[name].shape == shape and a[name].dtype == np.float32
        np.testing.assert_array_equal(a[name], b[name])
    assert a["0.W_Q"].shape == (4, 64, 16) and a["0.W_O"].shape == (4, 16, 64)
    np.testing.assert_array_equal(a["0.alpha"], 0)
    np.testing.assert_array_equal(a["W_U"], 0)  # every logit 0: the first loss is chance, ln V
    c = transformer.init_params(config, np.random.default_rng(10))
    assert not np.array_equal(a["W_E"], c["W_E"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": 0}, "layers must be a whole number from 1 to 4, not 0."),
        ({"heads": 2.5}, "heads must be a whole number from 1 to 8, not 2.5."),
        ({"d_model": True}, "d_model must be a whole number"),
        ({"smeared_keys": "yes"}, "smeared_keys must be True or False"),
        ({"init_scale": float("nan")}, "init_scale must be a number in (0, 10]"),
    ],
)
def test_bad_shapes_say_what_to_change(kwargs, message):
    with pytest.raises(TransformerError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        Config(**kwargs)


def test_bad_tokens_say_what_is_wrong():
    config = Config(layers=1)
    params = transformer.init_params(config, np.random.default_rng(0))
    with pytest.raises(TransformerError, match=r"A sequence has 49 tokens; the model reads 1 to 48\."):
        transformer.forward(params, config, np.zeros((1, 49), dtype=int))
    with pytest.raises(TransformerError, match=r"Tokens must be 0 … 63; found 0 … 64\."):
        transformer.forward(params, config, np.array([[0, 64]]))
    f = transformer.forward(params, config, np.array([[1, 2]]))
    assert math.isnan(f.loss)
    with pytest.raises(TransformerError, match="No position in the batch has a target"):
        transformer.backward(params, config, f)
