"""The lesson as one self-contained HTML file: every screen's text, formula, chart and numbers.

plotly.js is inlined once (nothing is fetched from any server, so the file opens offline by
double-click); formulas are plain Unicode (MathJax is not available offline); every piece of the
user's text is HTML-escaped. Charts keep their toolbar, which saves each one as PNG or SVG.

The plotly.js inlined is plotly.js's own "cartesian" partial bundle (heatmap, bar, scatter and nine
more trace types; 1.5 MB against the full bundle's 4.8 MB), vendored in attnviz/data/ at the version
of the one in the plotly package, so the browser parses a third of the code before the first chart.
Refresh it with `make plotlyjs` when plotly is upgraded (a test fails until then). A handout whose
figures use a trace type outside it, or a vendored copy of another version, gets the full bundle.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from attnviz import figures, lesson

CARTESIAN = Path(__file__).resolve().parents[1] / "data" / "plotly-cartesian.min.js"  # npm plotly.js-cartesian-dist-min

TABLE_MAX = 30  # W as a table of numbers up to this many tokens (the chart's hover has every value)
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}, "responsive": True}
# The figures leave their look to Streamlit's theme; the heatmaps, panels and geometry size their own
# margins (automargin off), the other axes (bars, lines) get automargin here, with `room` as the first guess.
TEMPLATE = {"layout": {"xaxis": {"automargin": True}, "yaxis": {"automargin": True}}}
PX_PER_CHAR = 6.5  # a digit or a tick prefix at Plotly's 12 px (about 6 px in DejaVu Sans or Arial, 7 in Verdana)
LINE_PX = 20  # one line of 12 px labels or a title, with its gap
COLOUR_BAR_PX = 110  # a colour bar and its labels, right of a plot at most 1000 px wide (measured: 95-103)
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1000px; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.5; }
section { border-top: 1px solid #ccc; padding: 1rem 0; page-break-inside: avoid; }
.formula { font-family: "Cambria Math", "STIX Two Math", serif; font-size: 1.2rem; background: #f5f5f7;
           padding: 0.4rem 0.8rem; display: inline-block; border-radius: 4px; }
.caption { color: #555; font-size: 0.95rem; }
.question { background: #fff8e1; padding: 0.5rem 0.8rem; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.85rem; }
.wide { overflow-x: auto; }
@media print { .wide { overflow: visible; } }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f5f5f7; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def weights_table(weights: np.ndarray, tokens) -> str:
    """W as an HTML table (escaped labels), 3 decimals; the id lets a reader (or a test) find it."""
    from attnviz.figures import unique_labels

    labels = [_e(t) for t in unique_labels(tokens)]
    head = "<tr><th></th>" + "".join(f"<th>{t}</th>" for t in labels) + "</tr>"
    rows = "".join(
        f"<tr><th>{t}</th>" + "".join(f"<td>{v:.3f}</td>" for v in row) + "</tr>" for t, row in zip(labels, weights)
    )
    return f'<table id="weights-table">{head}{rows}</table>'


def _section(i: int, screen: lesson.Screen, fig) -> str:
    import plotly.io as pio

    parts = [
        f'<section id="screen-{i}"><h2>{i} · {_e(screen.title)}</h2>',
        f"<p>{_e(screen.text)}</p>",
        f'<p class="formula">{_e(screen.formula)}</p>',
    ]
    if (q := screen.question) is not None:
        parts.append(
            f'<p class="question"><b>Predict:</b> {_e(q.prompt)} <br><b>Answer:</b> '
            f"{_e(q.measure)} {_e(lesson.quote(q.options[q.answer]))} {q.values[q.answer]:.2f}, the largest.</p>"
        )
    if fig is not None:
        fig.update_layout(template=TEMPLATE, margin=room(fig))
        parts.append(
            pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{screen.key}", config=CHART_CONFIG)
        )
        parts.append(f'<p class="caption">{_e(screen.caption)}</p>')
    if screen.key == "weights":
        w = screen.matrices[0]
        if len(w.rows) <= TABLE_MAX:
            parts.append(f'<div class="wide">{weights_table(w.values, w.rows)}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def room(fig) -> dict[str, int]:
    """Margins (px) that hold the figure's tick labels, axis titles, colour bar and legend, estimated from
    the labels' lengths. With automargin, Plotly draws a chart, measures what sticks out and draws it all
    again with wider margins; when the margins already fit, it draws once (about half the time).  -> l r t b
    """
    layout = fig.layout.to_plotly_json()
    margin = {k: int(layout.get("margin", {}).get(k, 80)) for k in "lrtb"}
    labels: dict[str, list[str]] = {}  # axis name ("xaxis2") -> its category labels
    for trace in fig.data:
        t = trace.to_plotly_json()
        for letter in "xy":
            name = f"{letter}axis{t.get(letter + 'axis', letter)[1:]}"
            if (layout.get(name) or {}).get("type") == "category" and t.get(letter) is not None:
                labels.setdefault(name, []).extend(str(v) for v in t[letter])  # as given to Plotly (escaped)
        if trace.type == "heatmap" and t.get("showscale", True) and "coloraxis" not in t:
            margin["r"] = max(margin["r"], COLOUR_BAR_PX)
    for name, axis in layout.items():
        if not re.fullmatch(r"[xy]axis\d*", name) or axis.get("showticklabels") is False:
            continue
        # the category labels' width as the figures estimate it for their own margins; numbers ~5 characters
        ticks = figures.label_px(tuple(labels[name])) if name in labels else 5 * PX_PER_CHAR
        width = ticks + PX_PER_CHAR * len(axis.get("tickprefix", ""))
        title = LINE_PX if (axis.get("title") or {}).get("text") else 0
        if name[0] == "y":
            side, need = axis.get("side", "left")[0], width + 8 + title
        else:
            side, angle = axis.get("side", "bottom")[0], abs(axis.get("tickangle") or 0)
            need = (width * 0.71 + 12 if angle == 45 else width if angle == 90 else LINE_PX) + title
        margin[side] = max(margin[side], int(10 + need))
    legend = layout.get("legend") or {}
    if legend.get("orientation") == "h" and legend.get("y", 0) > 1:
        margin["t"] = max(margin["t"], 10 + LINE_PX + 6)
    return margin


def version(source: str) -> str | None:
    """The plotly.js version a bundle's licence header names ("4.1.1"), or None."""
    m = re.search(r"\* plotly\.js (?:\([^)]*\) )?v(\d+\.\d+\.\d+\S*)", source[:300])
    return m.group(1) if m else None


def trace_types(source: str) -> frozenset[str]:
    """The trace types a plotly.js bundle registers (each trace module says `moduleType:"trace",name:"…"`)."""
    return frozenset(re.findall(r'moduleType:\s*"trace",\s*name:\s*"(\w+)"', source))


@lru_cache(maxsize=1)
def cartesian() -> tuple[str, frozenset[str]]:
    """The vendored cartesian bundle and its trace types; ("", {}) if it is not the plotly package's version."""
    from plotly.offline import get_plotlyjs_version

    source = CARTESIAN.read_text(encoding="utf-8")
    if version(source) != get_plotlyjs_version():
        return "", frozenset()
    return source, trace_types(source)


def plotlyjs_for(types: set[str]) -> str:
    """The smallest plotly.js that draws these trace types: the cartesian bundle, else the full one."""
    source, registered = cartesian()
    if source and types <= registered:
        return source
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def render(context: lesson.Context, *, plotlyjs: str | None = None) -> str:
    """The whole lesson for the context's sentence as one HTML document (a string).

    plotlyjs: the plotly.js source to inline (default: the vendored cartesian bundle when it has every
    trace type of the figures, else the full one bundled with the plotly package)."""
    t = context.trace
    screens = lesson.screens(context)
    figures = {s.key: s.figure() for s in screens if s.figure is not None}
    if plotlyjs is None:
        plotlyjs = plotlyjs_for({trace.type for fig in figures.values() for trace in fig.data})
    sentence = " ".join(t.tokens)
    body = "\n".join(_section(i + 1, s, figures.get(s.key)) for i, s in enumerate(screens))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Self-attention, step by step: {_e(sentence)}</title>
<style>{STYLE}</style>
<script type="text/javascript">{plotlyjs}</script>
</head><body>
<h1>Self-attention, step by step</h1>
<p>For the sentence <b>{_e(sentence)}</b> ({t.n} tokens from {_e(context.source)}; s = {t.scale:.4g},
T = {t.temperature:g}). Made by attnviz; every chart shows its exact numbers when you hover over it, and its
toolbar saves it as an image.</p>
{body}
</body></html>
"""
