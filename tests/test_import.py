"""The maths package must not pull in the UI (or torch) when imported."""

import subprocess
import sys


def test_import_attnviz_does_not_import_streamlit_or_torch():
    code = (
        "import sys, attnviz, attnviz.core, attnviz.embeddings, attnviz.figures, attnviz.__main__, "
        "attnviz.training, attnviz.autograd; "
        "print(sorted(m for m in ('streamlit', 'torch', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
