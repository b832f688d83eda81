"""The notebook entry point: the README's example run as written, and `import attnviz` kept cheap."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_example_runs(minilm, monkeypatch, tmp_path, capsys):
    from attnviz import api

    monkeypatch.setattr(api, "_minilm", lambda: minilm)  # the session's model, not a second load
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    ex = scope["ex"]
    e = minilm.static("hi how are you").without_special()
    x = np.asarray(e.vectors, dtype=np.float64)
    s = x @ x.T
    w = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(ex.weights, w / w.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(np.asarray(scope["fig"].data[0].z), ex.weights)
    out = capsys.readouterr().out
    assert "('hi', 'how', 'are', 'you')" in out and "The words |" in out
    assert (tmp_path / "lesson.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert ex.head is not None and ex.head.name == "MiniLM layer 3, head 1"


def test_import_attnviz_stays_cheap():
    code = (
        "import sys, attnviz; print(sorted(m for m in ('numpy', 'plotly', 'streamlit', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120
    ).stdout
    assert out.strip() == "[]"


def test_explain_on_toy_vectors_and_errors():
    import pytest

    import attnviz
    from attnviz.attention import core

    ex = attnviz.explain("hi how are you", embedding="toy", temperature=0.5)
    np.testing.assert_allclose(ex.weights.sum(axis=1), 1.0)
    for build in (ex.weights_figure, ex.scores_figure, ex.vectors_figure, ex.output_figure, ex.geometry_figure):
        assert "Plotly.newPlot" in build().to_html(include_plotlyjs=False)
    with pytest.raises(core.AttentionError):
        attnviz.explain("   ", embedding="toy")
    with pytest.raises(ValueError, match="embedding must be one of"):
        attnviz.explain("hi", embedding="glove")
