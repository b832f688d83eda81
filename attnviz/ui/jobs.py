"""Work that outlives one rerun: finished training runs shared per server, the query/key space's
corpus and t-SNE, the heads' census and pruning curves in a background worker, and a fragment that waits
for them."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import streamlit as st

from attnviz import figures
from attnviz.learn import classifier, induction, training
from attnviz.model import ablation, census, qkspace
from attnviz.model.minilm import MiniLM
from attnviz.ui.models import _import_pandas, all_cores, bert_weights


@dataclass
class TrainingRun:
    """A session's run on the Train page: trained in chunks across reruns until done or stopped."""

    trainer: training.Trainer
    running: bool = True
    error: str | None = None  # what went wrong, in words, if the run diverged


@dataclass
class ClassifierRun:
    """A session's run of the digit classifier (Vision page): trained in chunks across reruns."""

    config: classifier.Config
    trainer: classifier.Trainer | None  # None when the result came from the server's cache
    result: classifier.Result | None = None  # set when the run is done
    running: bool = True


@st.cache_resource(show_spinner=False)
def finished_classifiers() -> dict[classifier.Config, classifier.Result]:
    """Finished classifier runs by their settings, shared by every session of this server: a seed
    trained once is shown at once the next time (at most FINISHED_MAX kept, ~1 MB each)."""
    return {}


FINISHED_MAX = 16


def remember_classifier(result: classifier.Result, config: classifier.Config) -> None:
    finished = finished_classifiers()
    while len(finished) >= FINISHED_MAX:
        finished.pop(next(iter(finished)), None)  # the oldest first
    finished[config] = result


# --- the query/key space: the corpus and t-SNE run in the background, one job at a time ------------


@dataclass
class CorpusJob:
    """The bundled corpus through the NumPy forward pass, once per server, in the background."""

    future: Future  # -> qkspace.Corpus
    total: int  # sentences
    done: int = 0  # sentences finished so far (written by the worker)


@st.cache_resource(show_spinner=False)
def _qk_worker() -> ThreadPoolExecutor:
    """One worker thread per server for the query/key space's long jobs: they queue, never pile up on the CPU."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="qkspace")


@st.cache_resource(show_spinner=False)
def qk_corpus(_model: MiniLM) -> CorpusJob:
    """Start the corpus's forward pass (every head of every layer; ~100 sentences, a few seconds)."""
    sentences = qkspace.load_corpus()
    weights = bert_weights(_model)
    job = CorpusJob(future=Future(), total=len(sentences))

    def progress(i: int) -> None:
        job.done = i + 1

    def build() -> qkspace.Corpus:
        corpus = qkspace.build_corpus(weights, sentences, _model.tokenize, progress=progress)
        release_free_memory()  # ~100 forward passes leave ~50 MB of freed arrays in the heap
        return corpus

    job.future = _qk_worker().submit(build)
    return job


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim) after a one-off large
    computation, so a server's RSS shows what it holds rather than what it once used; a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@st.cache_resource(max_entries=24, show_spinner=False)
def qk_corpus_head(layer: int, head: int, show_special: bool, _corpus: qkspace.Corpus) -> qkspace.CorpusHead:
    """One head's normalisation and PCA plane over the corpus: fitted once per server, shared."""
    return qkspace.corpus_head(_corpus, layer, head, show_special=show_special)


@st.cache_resource(max_entries=8, show_spinner=False)
def qk_tsne(layer: int, head: int, show_special: bool, text: str, _fitted, _q, _k, _tokens) -> Future:
    """t-SNE of the typed sentence and a seeded part of the corpus, queued on the background worker.

    scikit-learn imports pandas on its first use, on the worker, while this thread goes on building figures:
    Plotly would then find a half-imported pandas (AttributeError: partially initialized module, seen in
    Chromium). Pandas is imported whole here first."""
    _import_pandas()
    subset = qkspace.tsne_subset(int(_fitted.sentence.max()) + 1)
    return _qk_worker().submit(qkspace.space, _fitted, _q, _k, _tokens, method="tsne", tsne_sentences=subset)


@st.cache_resource(max_entries=32, show_spinner=False)
def qk_corpus_traces(layer: int, head: int, show_special: bool, tsne_of: str, _space, _sentences) -> tuple[dict, dict]:
    """The corpus's two clouds as figure traces, built once per head (for t-SNE, once per typed sentence)."""
    corpus = _space.sentence != qkspace.TYPED
    tokens = tuple(t for t, c in zip(_space.tokens, corpus) if c)
    return figures.qk_corpus_traces(
        _space.points[corpus], _space.is_query[corpus], _space.sentence[corpus], tokens, _sentences
    )


@st.fragment(run_every=0.5)
def wait_for(future: Future, status: Callable[[], tuple[float | None, str]]) -> None:
    """Say what is running, status() -> (fraction done or None, text); rerun the page when it is done."""
    if future.done():
        st.rerun(scope="app")
    fraction, text = status()
    if fraction is None:
        st.info(text, icon=":material/hourglass_top:")
    else:
        st.progress(fraction, text=text)


# --- induction heads: three models trained side by side, one run per settings per server -------------

INDUCTION_MODELS = {  # name -> (layers, smeared keys), in the order the page draws them
    "1 layer": (1, False),
    "2 layers": (2, False),
    "1 layer, smeared keys": (1, True),
}
INDUCTION_PRESS_S = 0.12  # at most this much training per model per press (three models: ≤ ~0.4 s a press)


@dataclass
class InductionRun:
    """The three trainers of one set of settings, shared by every session that presses Train with them;
    `advance` trains one bounded chunk of each, and a session that finds another one advancing moves on."""

    trainers: dict
    lock: threading.Lock
    running: bool = False
    error: str | None = None
    paths: dict = dataclasses.field(default_factory=dict)  # (model, step, head) -> induction.read_paths

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers.values())

    def read_paths(self, name: str, head: int) -> induction.ReadPaths:
        """induction.read_paths of model `name`'s layer-1 head on its evaluation batch at its current step,
        computed once per step for every session (≈ 0.17 s), under the lock so no chunk moves the weights
        meanwhile."""
        trainer = self.trainers[name]
        with self.lock:
            key = (name, trainer.step, head)
            if key not in self.paths:
                self.paths = {key: induction.read_paths(trainer.params, trainer.config, trainer.eval, head)}
        return self.paths[key]

    def advance(self, seconds: float = INDUCTION_PRESS_S) -> None:
        if not self.lock.acquire(blocking=False):  # another session is training this run right now
            return
        try:
            for trainer in self.trainers.values():
                if not trainer.done:
                    trainer.run(trainer.settings.every, seconds=seconds)
        except induction.InductionError as e:
            self.error, self.running = str(e), False
        finally:
            self.lock.release()
        if self.done:
            self.running = False


@st.cache_resource(max_entries=8, show_spinner=False)
def induction_run(settings: induction.Settings) -> InductionRun:
    """The run for these settings (layers and smeared keys aside), created once per server: a class that
    opens the teacher's link and presses Train watches one run, not thirty."""
    trainers = {
        name: induction.Trainer(dataclasses.replace(settings, layers=layers, smeared_keys=smeared))
        for name, (layers, smeared) in INDUCTION_MODELS.items()
    }
    return InductionRun(trainers, threading.Lock())


# --- heads: the corpus census and each head's importance once per server; pruning curves shared -------------


@dataclass
class HeadsJob:
    """The census of the corpus's 50 pairs (≈ 1 s), then every head's importance (72 ablations, ≈ 5 s),
    on the background worker, once per server."""

    census: Future  # -> census.Census
    importance: Future  # -> np.ndarray [L, H]
    texts: Future  # -> (corpus Texts, paraphrase triples Texts)
    done: int = 0  # pairs, then heads, finished so far (written by the worker)
    total: int = 0


@st.cache_resource(show_spinner=False)
def heads_job(_model: MiniLM) -> HeadsJob:
    weights = bert_weights(_model)
    sentences = qkspace.load_corpus()
    job = HeadsJob(census=Future(), importance=Future(), texts=Future())

    def work() -> None:
        try:
            with all_cores():
                measure()
        except Exception as e:  # shown by the page that waits, never a silent hang
            for f in (job.census, job.texts, job.importance):
                if not f.done():
                    f.set_exception(e)
        finally:
            release_free_memory()

    def measure() -> None:
        pairs = census.corpus_pairs(sentences, _model.tokenize)
        job.done, job.total = 0, len(pairs)
        job.census.set_result(census.census(weights, pairs, progress=lambda i: setattr(job, "done", i)))
        corpus = ablation.texts(weights, sentences[: ablation.SENTENCES], _model.tokenize)
        triples = ablation.texts(weights, [s for t in ablation.load_paraphrases() for s in t], _model.tokenize)
        job.texts.set_result((corpus, triples))
        importance = np.zeros((weights.n_layers, weights.n_heads))
        job.done, job.total = 0, importance.size
        for i, ((layer, head), value) in enumerate(ablation.importance_steps(weights, corpus)):
            importance[layer, head] = value
            job.done = i + 1
        job.importance.set_result(importance)

    _qk_worker().submit(work)
    return job


@dataclass
class PruningRun:
    """One pruning curve (a random order's seed, zeroed or uniform heads), shared by every session: Compute
    queues it on the worker, point by point (≈ 0.45 s each), until done or stopped."""

    seed: int
    uniform: bool
    curve: ablation.Curve = dataclasses.field(default_factory=ablation.Curve)
    future: Future | None = None
    stop: bool = False

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()

    @property
    def done(self) -> bool:
        return len(self.curve.fractions) == len(ablation.FRACTIONS)

    def start(self, weights, corpus, triples, importance) -> None:
        if self.running or self.done:
            return
        self.stop = False

        def work() -> None:
            steps = ablation.curve_steps(
                weights, corpus, triples, importance, seed=self.seed, uniform=self.uniform, curve=self.curve
            )
            with all_cores():
                for _ in steps:
                    if self.stop:
                        break

        self.future = _qk_worker().submit(work)


@st.cache_resource(max_entries=8, show_spinner=False)
def pruning_run(seed: int, uniform: bool) -> PruningRun:
    return PruningRun(seed, uniform)
