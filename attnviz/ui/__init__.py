"""The app's Streamlit glue: the only part of the package that imports streamlit (pages import it as
`from attnviz import ui`).

- state: settings, session keys, the URL
- sidebar: the sidebar, a page's setup, lazy sections
- models: the model read once per server, computations cached per input
- jobs: work that outlives a rerun (training runs, the query/key corpus, t-SNE)
- widgets: select boxes, comparisons, the W view, charts, CSV
- text: user text made safe for Markdown and LaTeX"""

from attnviz.ui.jobs import (  # noqa: F401
    FINISHED_MAX,
    INDUCTION_MODELS,
    INDUCTION_PRESS_S,
    ClassifierRun,
    CorpusJob,
    HeadsJob,
    InductionRun,
    PruningRun,
    TrainingRun,
    finished_classifiers,
    heads_job,
    induction_run,
    pruning_run,
    qk_corpus,
    qk_corpus_head,
    qk_corpus_traces,
    qk_tsne,
    release_free_memory,
    remember_classifier,
    wait_for,
)
from attnviz.ui.models import (  # noqa: F401
    FIRST_WAIT_S,
    ablated,
    all_cores,
    attention,
    bert_weights,
    checked,
    embed,
    favor_errors,
    learned,
    learned_text,
    minilm,
    minilm_or_stop,
    model_check,
    model_future,
    own_span,
    random_layer,
    reference,
    reference_missing,
    second,
    second_attention,
    seed_attention,
    text_census,
)
from attnviz.ui.sidebar import (  # noqa: F401
    IMAGES_NOTE,
    layer_and_head,
    section,
    setup,
    sidebar,
    switch_to,
)
from attnviz.ui.state import (  # noqa: F401
    DEFAULT_SENTENCE,
    DEFAULTS,
    EMBEDDING,
    FAVICON,
    PAGES,
    SCALE,
    SCALE_LABELS,
    SENTENCE,
    SENTENCE2,
    SPECIAL,
    TEMPERATURE,
    TEMPERATURE_STEP,
    TITLE,
    URL_KEYS,
    Setting,
    Settings,
    flag,
    keep_in_url,
    nearest,
    one_of,
    set_setting,
    some_of,
    whole,
    widget,
)
from attnviz.ui.text import (  # noqa: F401
    latex_text,
    md_escape,
)
from attnviz.ui.widgets import (  # noqa: F401
    ABSOLUTE,
    CHART_FORMAT,
    CHART_FORMATS,
    W_SETTINGS,
    cached_figure,
    chart,
    chart_config,
    compare,
    csv_button,
    pick,
    weights_view,
)
