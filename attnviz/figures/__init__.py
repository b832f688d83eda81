"""Plotly figures: functions that take arrays and tokens and return a go.Figure, one module per family.

No figure is displayed here; pages decide where each goes. Each figure is built in one call from
plain dicts with the empty template: plotly validates dicts quickly, and the page (Streamlit's
theme) supplies the look, so a rerun pays for the data, not for restyling.

- base: colour scales, labels, margins, cell decimals, `_figure`
- heatmaps: X, W*, W, Y, cross-attention, Q/K/V, heads, the model grid, the neuron view
- scatter: 2-D projections, the query/key space, the repeated-attention animation, distances
- curves: training loss, W while training, the cost of attention
- heads: the census grid, where each layer's attention goes, ablation, the pruning curve
- images: digits, attention on their patches, the confusion matrix

`figures.heatmap(...)` and every other builder are importable from here."""

from attnviz.figures.base import (  # noqa: F401
    ANNOTATE_MAX,
    CELL_STEPS,
    CELL_TEXT_PAD,
    FLOAT32_ABOVE,
    HEAD_COLOURS,
    LABEL_LINE_PX,
    LABEL_PX_MAX,
    MARGIN,
    PX_PER_CHAR,
    SIGNED_SCALE,
    VALIDATE,
    WEIGHTS_SCALE,
    Shared,
    cell_decimals,
    escape_markup,
    fit_cell_text,
    label_px,
    token_labels,
    unique_labels,
)
from attnviz.figures.curves import (  # noqa: F401
    cost_chart,
    error_chart,
    loss_curve,
    memory_chart,
    weights_animation,
)
from attnviz.figures.heads import (  # noqa: F401
    CLASS_COLOURS,
    census_grid,
    class_grid,
    layer_cosine_chart,
    pruning_chart,
    sink_bars,
)
from attnviz.figures.heatmaps import (  # noqa: F401
    Panel,
    cross_heatmap,
    entropy_bars,
    head_view,
    heads_side_by_side,
    heatmap,
    model_grid,
    panels,
    qkv,
    query_walk,
    row_bars,
    scores_and_weights,
    scores_heatmap,
    vectors_heatmap,
    weights_heatmap,
)
from attnviz.figures.images import (  # noqa: F401
    confusion_heatmap,
    digit_attention,
    digit_gallery,
)
from attnviz.figures.induction import (  # noqa: F401
    attention_rows,
    head_grid,
    knockout_bars,
    next_token_bars,
    repeat_loss_chart,
    scores_chart,
    stripes,
)
from attnviz.figures.scatter import (  # noqa: F401
    LABEL_PAD,
    MARKER_PX,
    SAME_PX,
    TEXT_MAX,
    PointLabels,
    animation,
    distance_chart,
    geometry,
    merged_label,
    place_labels,
    qk_corpus_traces,
    qk_space,
)
