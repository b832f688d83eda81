"""Property-based: hundreds of generated strings through every page, as a user would type them.

No exception, ever; either a clear message or charts whose attention rows sum to 1.

Reproducible: each page's examples come from a fixed seed (SEED + the page's index, printed with a
failure), so a failure in CI fails the same way on a laptop; hypothesis also prints the falsifying
text and a blob to replay it with `@reproduce_failure`. No example database is written.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from tests.apptest_charts import heatmap
from tests.test_pages import app

SEED = 20261125
EXAMPLES = int(os.environ.get("ATTNVIZ_FUZZ_EXAMPLES", "100"))  # per page; more for a long local run

# Anything a keyboard, a paste or a URL can produce: any code point but lone surrogates, often
# with markup, right-to-left text, emoji and CJK mixed in, sometimes far past the model's window.
short = st.text(max_size=40)
odd = st.sampled_from(
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "$x^2$ \\frac{a}{b} **bold** [link](javascript:alert(1))",
        "مرحبا بالعالم",
        "שלום עולם",
        "😀👍🏽👨‍👩‍👧",
        "你好世界",
        "Ça va, naïve café?",
        "\u202eevil\u202c",
        "\x00\x07\x1b[31m",
        "the the the",
        "%{x} %{z:.2f} &amp; &lt;",
    ]
)
long = st.text(alphabet="ab ", min_size=600, max_size=3000)  # past the 256-piece window
mixed = st.lists(st.one_of(short, odd), min_size=1, max_size=4).map(" ".join)
sentences = st.one_of(*[mixed] * 9, long)  # one in ten is long: each costs n = 254 on every page

# (page, the chart whose rows must sum to 1, examples). The Cost page computes FAVOR+'s error curve
# (m = 4 … 4096, three seeds) for every new sentence, 2.7–6 s a sentence here: fewer examples there, the
# same strategy (its input path is the sidebar's, shared with every page).
PAGES = [
    ("app.py", "home_weights", EXAMPLES),
    ("pages/1_Step_by_step.py", "step_weights", EXAMPLES),
    ("pages/2_Unparameterised_vs_learned.py", "learned_right", EXAMPLES),
    ("pages/3_Geometry.py", None, EXAMPLES),
    ("pages/4_Query_key_value.py", None, EXAMPLES),
    ("pages/6_Cost.py", "cost_approx", max(1, EXAMPLES // 5)),  # FAVOR+'s matrix: rows sum to 1 too
]


@pytest.fixture(scope="module")
def apps(model_ready):
    return {page: app(None if page == "app.py" else page) for page, _, _ in PAGES}


@pytest.mark.slow
@pytest.mark.parametrize("page,key,examples", PAGES)
def test_generated_sentences_never_raise(apps, page, key, examples):
    at = apps[page]
    page_seed = SEED + [p for p, _, _ in PAGES].index(page)

    @settings(
        max_examples=examples,
        deadline=None,  # an AppTest rerun of a 254-piece text takes a while; behaviour is what is checked
        database=None,
        print_blob=True,
        # Only what this test does on purpose: an AppTest rerun per example is slow, and the long strings
        # (600-3,000 characters) are meant to be large. Every other health check stays on.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @seed(page_seed)
    @given(text=sentences)
    def check(text):
        note(f"page {page}, hypothesis seed {page_seed}")
        at.sidebar.text_input(key="_w_sentence").set_value(text).run()
        assert not at.exception, (text, at.exception)
        charts = at.get("plotly_chart")
        if not text.strip() or not charts:
            assert at.info, f"no chart and no message for {text!r}"
            return
        if key:
            z, rows, cols = heatmap(at, key)
            assert z.shape == (len(rows), len(cols))
            np.testing.assert_allclose(z.sum(axis=1), 1.0, atol=1e-5, err_msg=repr(text))

    check()
