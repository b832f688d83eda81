"""Embeddings: the model's own rows, contextual outputs, toy vectors, notices."""

import os
import subprocess
import sys

import numpy as np
import pytest

from attnviz.attention.core import AttentionError
from attnviz.model.embeddings import MAX_PIECES, ToyEmbedder, clean_text, embedder, toy_vector


def test_static_rows_are_the_models_own_embedding_rows(minilm):
    emb = minilm.static("hi how are you")
    assert emb.tokens == ("[CLS]", "hi", "how", "are", "you", "[SEP]")
    table = minilm.model[0].auto_model.get_input_embeddings().weight.detach().numpy()
    ids = minilm.tokenizer("hi how are you")["input_ids"]
    np.testing.assert_array_equal(emb.vectors, table[ids])
    assert emb.vectors.shape == (6, 384)
    assert emb.special.tolist() == [True, False, False, False, False, True]


def test_static_rows_do_not_depend_on_the_other_words(minilm):
    a = minilm.static("hi how are you").without_special()
    b = minilm.static("you are how hi").without_special()
    np.testing.assert_array_equal(a.vectors[0], b.vectors[3])  # "hi" is "hi" wherever it stands


def test_contextual_is_the_models_token_embeddings(minilm):
    emb = minilm.contextual("the cat sat on the mat")
    out = minilm.model.encode("the cat sat on the mat", output_value="token_embeddings", convert_to_numpy=True)
    np.testing.assert_allclose(emb.vectors, out, atol=1e-5)
    assert len(emb.tokens) == out.shape[0]


def test_without_special_drops_cls_and_sep(minilm):
    emb = minilm.static("hi how are you").without_special()
    assert emb.tokens == ("hi", "how", "are", "you")
    assert not emb.special.any()


def test_a_typed_cls_is_not_mistaken_for_the_special_token(minilm):
    emb = minilm.static("[CLS] hello")
    assert emb.special.tolist()[0] and emb.special.tolist()[-1]
    assert emb.special[1:-1].sum() == 0  # the typed one is ordinary text


def test_long_text_is_cut_to_the_window_with_a_notice(minilm):
    emb = minilm.static("word " * 1000)
    assert len(emb.tokens) == MAX_PIECES
    assert any("1000 word pieces" in n and "last 746 are not shown" in n for n in emb.notices)


def test_unknown_and_lowercased_pieces_are_named(minilm):
    emb = minilm.static("Café 😀 你好")
    text = " ".join(emb.notices)
    assert "[UNK]" in text and "😀" in text and "你" in text
    assert "“Café” → “cafe”" in text


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "\n\t"])
def test_empty_text_is_a_clear_error(text, minilm):
    with pytest.raises(AttentionError, match="empty"):
        minilm.static(text)
    with pytest.raises(AttentionError, match="empty"):
        ToyEmbedder()(text)


def test_control_characters_are_removed_with_a_notice():
    text, notices = clean_text("hi\x00 there\x07")
    assert text == "hi there"
    assert "2 control character" in notices[0]


def test_toy_vectors_are_small_readable_and_deterministic():
    v = toy_vector("hi")
    assert v.shape == (2,) and np.all(np.abs(v) <= 2) and np.all(np.round(v, 1) == v)
    assert np.array_equal(toy_vector("You"), toy_vector("you"))
    emb = ToyEmbedder()("hi how are You")
    assert emb.tokens == ("hi", "how", "are", "You") and emb.vectors.shape == (4, 2)


def test_toy_vectors_are_the_same_in_another_process():
    code = "from attnviz.model.embeddings import toy_vector as v; print(v('hi').tolist(), v('猫').tolist())"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        ).stdout
        for seed in ("1", "2")
    }
    assert outs == {f"{toy_vector('hi').tolist()} {toy_vector('猫').tolist()}\n"}


def test_toy_handles_any_text():
    emb = ToyEmbedder()("<img src=x onerror=alert(1)> 😀 你好 مرحبا")
    assert "<" in emb.tokens and "你好" in emb.tokens
    assert len(ToyEmbedder()("a " * 5000).tokens) == MAX_PIECES - 2


def test_embedder_falls_back_to_toy_without_the_model():
    assert embedder("static", None).kind == "toy"
    with pytest.raises(AttentionError):
        embedder("glove", None)


def test_pieces_shown_with_and_without_markers(minilm):
    pieces = minilm.tokenize("hi there")
    assert pieces.shown_tokens(True) == ("[CLS]", "hi", "there", "[SEP]")
    assert pieces.shown_tokens(False) == ("hi", "there")
    assert pieces.shown(False).tolist() == [False, True, True, False]


def jamo(syllable: str) -> list[str]:
    """A Hangul syllable's letters by the Unicode formula (leading consonant, vowel, optional final)."""
    s = ord(syllable) - 0xAC00
    letters = [chr(0x1100 + s // 588), chr(0x1161 + s % 588 // 28)]
    return letters + ([chr(0x11A7 + s % 28)] if s % 28 else [])


@pytest.mark.parametrize("tokenizer", ["served", "minilm"])
def test_hangul_is_said_to_be_split_into_letters_not_stripped_of_accents(tokenizer, request):
    """Issue 20: "서" became "ᄉ" in a notice that said the tokenizer "strips accents". The syllable is split
    into its letters (jamo), each read as a word piece; nothing is stripped."""
    model = request.getfixturevalue(tokenizer)
    notices = " ".join(model.tokenize("서울에 갑니다").notices)
    assert "accent" not in notices and "lowercase" not in notices
    words = {w: [letter for ch in w for letter in jamo(ch)] for w in ("서울에", "갑니다")}
    assert notices.startswith("The model's tokenizer splits Hangul syllables into their letters (jamo)")
    for word, letters in words.items():
        assert f"“{word}” → {' + '.join(letters)}" in notices  # every letter a piece of its own
    tokens = model.tokenize("서울에 갑니다").tokens[1:-1]
    assert [t.removeprefix("##") for t in tokens] == words["서울에"] + words["갑니다"]


@pytest.mark.parametrize("tokenizer", ["served", "minilm"])
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("naïve résumé", "The model's tokenizer strips accents from “naïve” → “naive”, “résumé” → “resume”."),
        ("Ça va? Très bien", "The model's tokenizer lowercases and strips accents from “Ça” → “ca”, “Très” → “tres”."),
        ("Hello World", "The model's tokenizer lowercases “Hello” → “hello”, “World” → “world”."),
        # Vietnamese: the tone and vowel marks go, đ (a letter of its own, no decomposition) stays
        ("Tiếng Việt đẹp", "The model's tokenizer lowercases and strips accents from “Tiếng” → “tieng”, "
         "“Việt” → “viet”, “đẹp” → “đep”."),
        # mixed: each word named for what happened to it, the emoji as [UNK], the CJK characters unchanged
        ("Hello 서울 café 東京 😀", "The model's tokenizer lowercases “Hello” → “hello”; it strips accents from "
         "“café” → “cafe”; it splits Hangul syllables into their letters (jamo), which it reads as separate word "
         "pieces: “서울” → ᄉ + ᅥ + ᄋ + ᅮ + ᆯ."),
        ("plain words here", None),
    ],
)  # fmt: skip
def test_each_change_is_named_for_what_it_is(tokenizer, text, said, request):
    notices = request.getfixturevalue(tokenizer).tokenize(text).notices
    changes = [n for n in notices if n.startswith("The model's tokenizer")]
    assert changes == ([] if said is None else [said])
