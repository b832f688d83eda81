"""An independent computation for the Heads page's numbers: the model of record (sentence-transformers and
its Hugging Face BertModel, torch) and the census's statistics written out as loops, from the definitions in
the issue, sharing no code with attnviz.model.census or attnviz.model.ablation."""

from __future__ import annotations

import math
import string

import numpy as np
import torch

PUNCT = set(string.punctuation) | set("“”‘’…–—¡¿«»")


def attentions(minilm, ids, token_types=None) -> np.ndarray:
    """Every head's W from the model's own forward pass (eager attention).  -> [6, 12, n, n]"""
    ids = torch.as_tensor(np.asarray(ids))[None]
    kw = {} if token_types is None else {"token_type_ids": torch.as_tensor(np.asarray(token_types))[None]}
    with torch.no_grad():
        out = minilm.bert(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True, **kw)
    return np.stack([a[0].numpy() for a in out.attentions]).astype(np.float64)


def stats(att: np.ndarray, tokens: list[str], seps: list[int]) -> dict[str, np.ndarray]:
    """The census's statistics by loops over rows, for every head.  att [L, H, n, n]; seps: the [SEP] positions"""
    n_layers, n_heads, n, _ = att.shape
    punct = [j for j, t in enumerate(tokens) if j != 0 and j not in seps and t and all(c in PUNCT for c in t)]
    names = ("to_cls", "to_sep", "to_punct", "previous", "next", "self", "sep_sep", "entropy", "cls_entropy")
    out = {k: np.zeros((n_layers, n_heads)) for k in names}
    for layer in range(n_layers):
        for head in range(n_heads):
            w = att[layer, head]
            ent = [-sum(p * math.log(p) for p in row if p > 0) for row in w]
            out["to_cls"][layer, head] = np.mean([row[0] for row in w])
            out["to_sep"][layer, head] = np.mean([sum(row[j] for j in seps) for row in w])
            out["to_punct"][layer, head] = np.mean([sum(row[j] for j in punct) for row in w])
            out["previous"][layer, head] = np.mean([w[i, i - 1] for i in range(1, n)])
            out["next"][layer, head] = np.mean([w[i, i + 1] for i in range(n - 1)])
            out["self"][layer, head] = np.mean([w[i, i] for i in range(n)])
            out["sep_sep"][layer, head] = np.mean([sum(w[i, j] for j in seps) for i in seps])
            out["entropy"][layer, head] = np.mean(ent)
            out["cls_entropy"][layer, head] = ent[0]
    return out


def embedding(minilm, text: str, removed=(), *, uniform: bool = False) -> np.ndarray:
    """sentence-transformers' own embedding of the text, with forward hooks removing heads: a pre-hook on
    each layer's attention.output.dense zeroes the heads' 32 columns of its input (the context vector), or,
    uniform=True, puts there the mean over tokens of the head's value vectors (captured by a hook on
    attention.self.value), which is what equal attention weights give.  -> [384]"""
    layers = minilm.bert.encoder.layer
    d_head = minilm.bert.config.hidden_size // minilm.bert.config.num_attention_heads
    values: dict[int, torch.Tensor] = {}
    hooks = []
    for index in sorted({la for la, _ in removed}):
        heads = [h for la, h in removed if la == index]

        def keep_values(module, args, output, index=index):
            values[index] = output

        def remove(module, args, index=index, heads=heads):
            (x,) = args
            x = x.clone()
            for h in heads:
                cols = slice(h * d_head, (h + 1) * d_head)
                x[..., cols] = values[index][..., cols].mean(dim=1, keepdim=True) if uniform else 0.0
            return (x,)

        hooks.append(layers[index].attention.self.value.register_forward_hook(keep_values))
        hooks.append(layers[index].attention.output.dense.register_forward_pre_hook(remove))
    try:
        return minilm.model.encode([text], convert_to_numpy=True)[0].astype(np.float64)
    finally:
        for h in hooks:
            h.remove()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
