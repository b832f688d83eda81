"""The browser harness that the browser tests, the benchmarks and `make scale` share; not part of
the product (a distribution of its own, `attnviz-harness`, installed by `make setup-dev`).

Playwright is imported inside the functions that need it.

- servers: `start_server` runs `streamlit run <app>` on a free loopback port and polls
  `/_stcore/health`; `stop` ends a server and everything it started; `process_tree`, `tree_rss_mb`,
  `hwm_mb` read a server's memory from /proc (Linux).
- browser: Debian's `/usr/bin/chromium` with `CHROMIUM_ARGS` (never a downloaded browser);
  `DECODE_JS` turns Plotly's arrays into nested lists; `snapshot`, `wait_for_chart`, `time_enter`."""

from harness.attnviz_harness.browser import (  # noqa: F401
    CELLS_JS,
    DECODE_JS,
    ENTER_TIMER_JS,
    STATE_JS,
    TICKS_JS,
    chart_selector,
    chromium,
    expected_pieces,
    judge,
    labels,
    launch_args,
    rowsum_error,
    snapshot,
    still_there,
    time_enter,
    url_for,
    wait_for_chart,
    warm_up,
    watch,
)
from harness.attnviz_harness.servers import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    ENV,
    ROOT,
    ROWSUM_TOL,
    SERVER_PYTHON,
    SERVER_START_S,
    VENV_PYTHON,
    VIEWPORT,
    Server,
    free_port,
    healthy,
    hwm_mb,
    model_mappings,
    process_tree,
    start_server,
    stop,
    streamlit_command,
    tree_rss_mb,
    wait_healthy,
)
