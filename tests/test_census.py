"""The census of MiniLM's heads: hand-computed cases, the classes' thresholds, the batched forward pass, and
every statistic against the model of record (torch) on sentences and pairs the code was not written for."""

import numpy as np
import pytest

from attnviz.model import bert, census, qkspace
from tests import heads_reference as ref

UNSEEN = [
    "Grandmother knitted a scarf while the kettle whistled.",
    "Why did the committee postpone the vote, again?!",
    "Quarterly revenue rose 12% — analysts were surprised.",
    "A tiny robot (model X-7) rolled across the lab's floor...",
    "Rain; then sun; then rain again.",
    "🙂 你好, <b>markup</b> & symbols $5 + 3 = 8",
]


def test_hand_computed_statistics_of_one_head():
    # [CLS] a . [SEP]: a head whose rows are written out by hand
    w = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.5, 0.2, 0.2, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.0, 0.0, 0.5, 0.5],
        ]
    )
    seq = census.Seq(
        ids=np.arange(4), tokens=("[CLS]", "a", ".", "[SEP]"), segments=np.zeros(4, int),
        sep=np.array([False, False, False, True]), punct=np.array([False, False, True, False]),
    )  # fmt: skip
    s = {k: float(v[0, 0]) for k, v in census.head_stats(w[None, None], seq).items()}
    assert s["to_cls"] == pytest.approx((0.7 + 0.5 + 0.1 + 0.0) / 4)
    assert s["to_sep"] == pytest.approx((0.1 + 0.1 + 0.1 + 0.5) / 4)
    assert s["to_punct"] == pytest.approx((0.1 + 0.2 + 0.2 + 0.5) / 4)
    assert s["previous"] == pytest.approx((0.5 + 0.6 + 0.5) / 3)
    assert s["next"] == pytest.approx((0.1 + 0.2 + 0.1) / 3)
    assert s["self"] == pytest.approx((0.7 + 0.2 + 0.2 + 0.5) / 4)
    assert s["sep_sep"] == pytest.approx(0.5)
    h = lambda row: -sum(p * np.log(p) for p in row if p > 0)  # noqa: E731
    assert s["entropy"] == pytest.approx(np.mean([h(r) for r in w]))
    assert s["cls_entropy"] == pytest.approx(h(w[0]))


def test_classes_follow_the_stated_thresholds_in_order():
    def one(**values):
        stats = {k: np.zeros((1, 1)) for k in census.STATS}
        for k, v in values.items():
            stats[k][0, 0] = v
        return str(census.Census(stats=stats, ln_n=2.0, sequences=1).classes[0, 0])

    assert one(previous=0.51, to_cls=0.9) == "previous"  # a neighbour first
    assert one(previous=0.5, next=0.51) == "next"  # over 50%, not at
    assert one(to_cls=0.3, to_sep=0.21) == "vertical"
    assert one(to_cls=0.3, to_sep=0.2, self=0.2, previous=0.2, next=0.11) == "diagonal"
    assert one(entropy=1.5) == "broad"  # 75% of ln n = 2
    assert one(entropy=1.49) == "heterogeneous"


def test_punctuation_and_pairs():
    assert census.is_punctuation(".") and census.is_punctuation("?!") and census.is_punctuation("$")
    assert not census.is_punctuation("a.") and not census.is_punctuation("[SEP]") and not census.is_punctuation("")

    class P:
        def __init__(self, tokens):
            self.tokens, self.ids = tuple(tokens), np.arange(len(tokens))

    seq = census.sequence(P(["[CLS]", "hi", ".", "[SEP]"]), P(["[CLS]", "yes", "[SEP]"]))
    assert seq.tokens == ("[CLS]", "hi", ".", "[SEP]", "yes", "[SEP]")
    assert seq.segments.tolist() == [0, 0, 0, 0, 1, 1]
    assert np.flatnonzero(seq.sep).tolist() == [3, 5] and np.flatnonzero(seq.punct).tolist() == [2]


def test_the_batched_forward_is_each_sequence_alone(served):
    texts = UNSEEN[:4]
    ids = [served.tokenize(t).ids for t in texts]
    segs = [np.r_[np.zeros(len(i) // 2, int), np.ones(len(i) - len(i) // 2, int)] for i in ids]
    removed = {(0, 2), (3, 7)}
    for uniform in (False, True):
        hidden, weights = bert.forward_batch(served.weights, bert.Batch.of(ids, segs), remove=removed, uniform=uniform)
        for b, (i, s) in enumerate(zip(ids, segs)):
            alone = bert.forward(served.weights, i, segments=s, remove=removed, uniform=uniform)
            n = len(i)
            np.testing.assert_allclose(hidden[-1][b, :n], alone.hidden[-1], atol=2e-5)
            np.testing.assert_allclose(np.stack(weights)[:, b, :, :n, :n], alone.attentions, atol=2e-6)


@pytest.mark.parametrize("text", UNSEEN)
def test_a_texts_census_is_the_model_of_records(served, minilm, text):
    pieces = served.tokenize(text)
    c, trace = census.of_text(served.weights, pieces)
    att = ref.attentions(minilm, pieces.ids)
    want = ref.stats(att, list(pieces.tokens), [len(pieces.ids) - 1])
    np.testing.assert_allclose(trace.attentions, att, atol=1e-5)
    for k in census.STATS:
        np.testing.assert_allclose(c.stats[k], want[k], atol=1e-4, err_msg=k)


def test_the_corpus_census_is_the_model_of_records_on_pairs(served, minilm):
    sentences = qkspace.load_corpus()[:12]
    pairs = census.corpus_pairs(sentences, served.tokenize)
    c = census.census(served.weights, pairs, batch=4)
    total = {k: np.zeros((6, 12)) for k in census.STATS}
    for a, b in zip(sentences[0::2], sentences[1::2]):
        pa, pb = served.tokenize(a), served.tokenize(b)
        ids = list(pa.ids) + list(pb.ids[1:])
        types = [0] * len(pa.ids) + [1] * (len(pb.ids) - 1)
        tokens = list(pa.tokens) + list(pb.tokens[1:])
        s = ref.stats(ref.attentions(minilm, ids, types), tokens, [len(pa.ids) - 1, len(ids) - 1])
        for k in total:
            total[k] += s[k] / len(pairs)
    assert c.sequences == 6
    for k in census.STATS:
        np.testing.assert_allclose(c.stats[k], total[k], atol=1e-4, err_msg=k)


@pytest.fixture(scope="module")
def corpus_census(served):
    return census.census(served.weights, census.corpus_pairs(qkspace.load_corpus(), served.tokenize))


def test_minilms_sink_is_cls_and_its_two_neighbour_heads(corpus_census):
    """What the page tells a student, measured: [CLS] is the sink, one previous- and one next-token head."""
    c = corpus_census
    assert c.sequences == 50
    assert c.stats["to_cls"].mean() > 3 * c.stats["to_sep"].mean()
    assert c.heads("previous") == [(0, 2)] and c.heads("next") == [(1, 8)]
    assert "sink is [CLS], where BERT-base's was [SEP]" in census.sink_sentence(c)
    assert c.why(0, 2).startswith("Layer 0, head 2 is previous: on average it puts ")


def test_the_findings_print_the_census_numbers(corpus_census):
    c = corpus_census
    rows = {f.what: f.minilm for f in census.findings(c)}
    assert rows["Heads with over 50% on the previous token"] == f"{int((c.stats['previous'] > 0.5).sum())} of 72"
    assert rows["Heads with over 50% on the next token"] == f"{int((c.stats['next'] > 0.5).sum())} of 72"
    assert rows["Share of attention on [SEP] in the later layers"] == f"{c.stats['to_sep'][3:].mean():.0%} (layers 3–5)"
    last = c.stats["cls_entropy"][5].mean()
    assert rows["Entropy of the last layer's [CLS] row"] == f"{last:.2f} nats (ln n = {c.ln_n:.2f})"
    vertical = int((c.stats["to_cls"] + c.stats["to_sep"] > 0.5).sum() - (c.stats["previous"] > 0.5).sum() * 0)
    assert rows["Heads mostly on [CLS] and [SEP] (vertical)"] == f"{c.count('vertical')} of 72"
    assert c.count("vertical") <= vertical
