"""The prose guard on the Query/key space page: every number its captions print, recomputed."""

import numpy as np
import pytest

from attnviz import ui
from tests import reference as ref
from tests.prose import COMMON, Prose
from tests.test_pages import app
from tests.test_qkspace import reference as qk_reference

LESSON, VISION, QKS = "pages/0_Lesson.py", "pages/7_Vision.py", "pages/8_Query_key_space.py"


@pytest.fixture(scope="module", autouse=True)
def _warm(minilm):
    """The model and the Query/key space corpus, loaded once for the module."""
    ui.qk_corpus(ui.model_future().result(timeout=300)).future.result()


QKS_FIXED = (
    *COMMON,
    r"\sqrt{32}",
    "the 32 numbers",
    "s^2",
    "keys by 1/s",
    "|q|² + |k|² − 2 q · k",
    "(-1 would put every pair on one falling line)",
    "|k′|²/2",
    "100 corpus sentences",  # the bundled corpus (tests/test_qkspace: 100 different sentences)
)


@pytest.mark.parametrize(("layer", "head", "method"), [(0, 0, "pca"), (3, 1, "pca"), (2, 4, "tsne")])
def test_query_key_space_text(layer, head, method):
    import time

    from attnviz.model import qkspace
    from tests.apptest_charts import figure
    from tests.test_qkspace import torch_sentence

    text = "The dog chased the cat because it was hungry"
    params = {} if (layer, head) == (0, 0) else {"layer": str(layer), "head": str(head)}
    at = app(QKS, s=text, **params, **({"proj": method} if method == "tsne" else {}))
    for _ in range(600 if method == "tsne" else 0):  # AppTest does not run the fragment's timer: a run a tick
        if figure(at, "qks_plane")["layout"]["xaxis"]["title"]["text"] == "t-SNE 1":
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception
    r = qk_reference(text, layer, head, special=False)
    if method == "tsne":  # t-SNE sees the seeded sentences of the corpus, not all of it
        sentences = qkspace.load_corpus()
        chosen = qkspace.tsne_subset(len(sentences))
        shown = sum(int((~torch_sentence(sentences[i])["special"]).sum()) for i in chosen)
    tokens, n = r["tokens"], len(r["tokens"])
    tokens = ref.labels(tokens)  # a repeated piece is labelled with its count: “the #1”, “the #2”
    w = r["weights"][0]  # the first query is followed by default
    order = np.argsort(-w, kind="stable")[:3]
    prose = Prose(at)
    a, b = r["explained"]
    if method == "tsne":
        prose.has(
            f"the {n} pieces of your sentence; faint, the {shown} pieces of {len(chosen)} corpus sentences",
            f"t-SNE (seed 0) of your sentence and {len(chosen)} corpus sentences",
        )
    else:
        prose.has(
            f"the {n} pieces of your sentence; faint, the {r['corpus_pieces']} pieces of",
            f"PCA keeps {a:.1%} and {b:.1%} of the spread",
        )
    prose.has(
        f"Layer {layer}, head {head}: blue circles are queries",
        f"|t| = {np.linalg.norm(r['t']):.3f}",
        f"s = {r['s']:.4f}",
        rf"\right|}} = {r['mean_norm']:.3f}",
        f"(here {r['mean_norm']:.3f})",
        f"mean length {r['typed_q_norm']:.3f} for its queries and {r['typed_k_norm']:.3f} for its keys",
        f"The query of “{tokens[0]}” gives its largest weights to "
        + ", ".join(f"“{tokens[j]}” {w[j]:.3f}" for j in order),
    )
    mixed, after, before = prose.take(
        r"(What that buys is that queries and keys mix|For this head they do not mix more): in all 32 dimensions, "
        rf"(\d+\.\d)% of the corpus's {r['corpus_pieces']} queries have a key as their nearest neighbour, against "
        r"(\d+\.\d)% before the moves"
    )[0]
    # within one query of the test's own count (the model's float32 vectors, read by torch here, by NumPy there)
    one = 100 / r["corpus_pieces"] + 0.05
    assert abs(float(after) - 100 * r["key_nearest"]) <= one and abs(float(before) - 100 * r["key_nearest_raw"]) <= one
    assert mixed.startswith("What") == (r["key_nearest"] > r["key_nearest_raw"])
    prose.has(
        f"the correlation of the distance with q · k is {r['correlation']:.2f} after the moves and "
        f"{r['correlation_raw']:.2f} before"
    )
    prose.fixed(*QKS_FIXED).done()
