"""The price of attention (seed 000: "the computational complexity of self-attention is O(n²)"),
measured live, and what linear attention (the Performer's FAVOR+) trades for it."""

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from attnviz import figures, ui
from attnviz.attention import core, cost, linear
from attnviz.ui import Setting

D_OPTIONS = (16, 32, 64, 128)
M_OPTIONS = tuple(2**k for k in range(2, 13))  # 4 … 4096 random features
RUN = "cost_run"
SETTINGS = {
    "cost_d": Setting("d", 64, lambda raw: int(ui.nearest(D_OPTIONS)(raw))),
    "cost_m": Setting("m", 256, lambda raw: int(ui.nearest(M_OPTIONS[2:-1])(raw))),
    "cost_max_n": Setting("max_n", 4096, lambda raw: int(ui.nearest(cost.SIZES[4:])(raw))),
    "cost_features": Setting("features", 256, lambda raw: int(ui.nearest(M_OPTIONS)(raw))),
    "cost_seed": Setting("fseed", 0, ui.whole(0, 2**31 - 1)),
    "cost_orthogonal": Setting("orthogonal", True, ui.flag),
    "cost_causal": Setting("causal", False, ui.flag),
}


@dataclass
class CostRun:
    """One press of Measure: the sizes still to do and the points so far."""

    d: int
    m: int
    sizes: list[int]
    points: list[cost.Point] = field(default_factory=list)
    running: bool = True


def start() -> None:
    sizes = [n for n in cost.SIZES if n <= st.session_state["cost_max_n"]]
    st.session_state[RUN] = CostRun(st.session_state["cost_d"], st.session_state["cost_m"], sizes)


def stop() -> None:
    if (run := st.session_state.get(RUN)) is not None:
        run.running = False


settings = ui.setup("Cost of attention", SETTINGS)
st.title("The price of attention")
st.caption(
    "Every token looks at every other token, so exact attention builds an n × n matrix: double the text "
    "and the work and memory grow four times. Measured here, live, on this server."
)

# --- 1. exact attention against n, measured ----------------------------------------------------
st.header("1 · Time and memory against n")
st.latex(
    r"\text{exact: } \operatorname{softmax}\!\left(\tfrac{Q K^\top}{\sqrt d}\right) V"
    r"\;\to\; 4 n^2 d \text{ flops},\; 8 n^2 \text{ bytes}"
    r"\qquad \text{linear: } D^{-1}\,\phi(Q)\left(\phi(K)^\top V\right) \;\to\; O(n\,m\,d)"
)
c1, c2, c3, c4, c5 = st.columns([1, 1, 2, 1, 1])
c1.select_slider("d (features per token)", D_OPTIONS, **ui.widget("cost_d"))
c2.select_slider("m (random features)", M_OPTIONS[2:-1], **ui.widget("cost_m"))
c3.select_slider("Largest n", cost.SIZES[4:], **ui.widget("cost_max_n"))
c4.button("Measure", type="primary", on_click=start, key="cost_go", icon=":material/timer:")
c5.button("Stop", on_click=stop, key="cost_stop", icon=":material/stop:")
run: CostRun | None = st.session_state.get(RUN)


@st.fragment(run_every=0.05 if run is not None and run.running else None)
def measurements() -> None:
    """One n a tick (the largest takes a second or two), so the server answers everyone in between."""
    run: CostRun | None = st.session_state.get(RUN)
    if run is not None and run.running:
        run.points.append(cost.measure(run.sizes[len(run.points)], run.d, run.m))
        if len(run.points) == len(run.sizes):
            run.running = False
            st.rerun(scope="app")
        st.progress(len(run.points) / len(run.sizes), text=f"Measuring n = {run.sizes[len(run.points)]:,}…")
    if run is None or not run.points:
        st.info(
            "Press Measure: each n from 16 up is timed (median of repeats): exact attention, linear attention "
            "and exact's two matrix products alone."
        )
        return
    ns = np.array([p.n for p in run.points])
    exact_s, linear_s = np.array([p.exact_s for p in run.points]), np.array([p.linear_s for p in run.points])
    slopes = (cost.slope(ns, exact_s), cost.slope(ns, linear_s))
    shown = slopes if np.isfinite(slopes[0]) else None
    products = [p.products_s for p in run.points]
    ui.chart(figures.cost_chart(ns, exact_s, linear_s, flops_line=products, slopes=shown), key="cost_time")
    where = cost.crossover(run.points)
    so_far = " so far" if run.running else ""
    st.caption(
        f"Seconds against n on log–log axes (d = {run.d}, m = {run.m}): a straight line of slope 2 means "
        f"time ∝ n². {cost.describe_slopes(*slopes)}. {cost.describe_products(run.points)} "
        + (
            f"Linear attention is faster from n = {where:,} on."
            if where
            else f"Linear attention was not faster at n = {ns[-1]:,}, the largest measured{so_far}."
        )
    )
    big = np.logspace(1, 6, 60).astype(int)
    held = [cost.linear_bytes(n, run.m, run.d) for n in big]
    ui.chart(figures.memory_chart(big, cost.exact_bytes(big), held, cost.MEMORY), key="cost_memory")
    fits = ", ".join(f"{name} at n = {cost.largest_n(b):,}" for name, b in cost.MEMORY.items())
    st.caption(
        "Bytes held while attending, against n up to a million tokens (8 bytes a number; the inputs and the "
        f"output, which both need, left out). Exact: the n × n matrix, which stops fitting in {fits}; a model "
        f"keeps one per head and layer. Linear (d = {run.d}, m = {run.m}) works through {linear.BLOCK} rows "
        f"at a time: {held[-1] / 1e6:.3g} MB at every n from {linear.BLOCK:,} on. Both lines are what this "
        "code allocates, checked against Python's tracemalloc from n = 256 to 8,192. " + cost.MODEL_LIMITS
    )


measurements()

# --- 2. linear attention on the sentence -------------------------------------------------------
st.header("2 · What linear attention gets wrong, on your sentence")
st.latex(
    r"\phi(x) = \frac{e^{\Omega x - |x|^2/2}}{\sqrt m},\quad \mathbb{E}\,[\phi(q)\cdot\phi(k)] = e^{q\cdot k},"
    r"\quad \hat W_{ij} = \frac{\phi(q_i)\cdot\phi(k_j)}{\sum_l \phi(q_i)\cdot\phi(k_l)}"
)
a, b, c, e = st.columns([2, 1, 1, 1])
a.select_slider("Random features m", M_OPTIONS, **ui.widget("cost_features"))
b.number_input("Seed", 0, 2**31 - 1, **ui.widget("cost_seed"))
c.toggle("Orthogonal features", help="FAVOR+'s orthogonal rows: less noise.", **ui.widget("cost_orthogonal"))
e.toggle("Causal (GPT-style)", help="Prefix sums: each token sees only earlier ones.", **ui.widget("cost_causal"))
causal, m, seed = st.session_state["cost_causal"], st.session_state["cost_features"], st.session_state["cost_seed"]
orthogonal = st.session_state["cost_orthogonal"]
emb, trace = ui.attention(settings, causal=causal)
factor = trace.scale / trace.temperature
try:
    approx = linear.approximate_weights(trace.x, m, seed, factor=factor, orthogonal=orthogonal, causal=causal)
    errors = ui.favor_errors(trace.x, trace.weights, M_OPTIONS, factor, orthogonal, causal)
except core.AttentionError as e:  # the estimate underflows for very spread-out scores: said, not drawn as NaN
    st.info(ui.md_escape(str(e)), icon=":material/warning:")
    st.stop()
left, right = st.columns(2)
with left:
    st.subheader("Exact W")
    ui.chart(figures.weights_heatmap(trace.weights, trace.tokens), key="cost_exact")
    st.caption("softmax(s X Xᵀ / T) by rows, as on the other pages: the n × n matrix itself.")
with right:
    st.subheader(f"FAVOR+ with m = {m}")
    ui.chart(figures.weights_heatmap(approx, trace.tokens), key="cost_approx")
    st.caption("The matrix linear attention uses without ever building it; every row still sums to 1.")
delta = approx - trace.weights
ui.chart(
    figures.heatmap(
        delta,
        figures.token_labels(trace.tokens),
        figures.token_labels(trace.tokens),
        signed=True,
        value_name="Δ weight",
    ),
    key="cost_delta",
)
st.caption(
    f"FAVOR+ − exact: red where the estimate is too high, blue where too low. Mean |Δ| = "
    f"{np.abs(delta).mean():.2e}, largest {np.abs(delta).max():.2e} (m = {m}, seed {seed})."
)
ui.chart(figures.error_chart(M_OPTIONS, errors), key="cost_errors")
curve = errors["mean |Δ|"]
falls = (
    f"More features, a better estimate: mean |Δ| goes from {curve[2]:.1e} at m = {M_OPTIONS[2]} to "
    f"{curve[-1]:.1e} at m = {M_OPTIONS[-1]}. "
    if np.any(curve > 0)
    else ""
)
st.caption(f"The error against m, averaged over three seeds. {falls}{cost.describe_error_fall(M_OPTIONS, curve)}.")
st.info(
    "What is traded: exact attention costs n² but is exact. FAVOR+ costs n·m and never builds the n × n matrix, but "
    "each weight is a random estimate whose noise grows with the length of q and k: long vectors, a large scale "
    "or a low temperature make it worse (try T = 0.1), and more features m make it better.",
    icon=":material/balance:",
)
