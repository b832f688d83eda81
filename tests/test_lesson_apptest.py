"""The Lesson page under AppTest: Next/Previous, the screen in the URL, predict-then-reveal (its numbers
recomputed here with NumPy), presenter mode, exports, odd input."""

import html as html_lib
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import figures, lesson
from tests.apptest_charts import decode, figure, heatmap
from tests.test_pages import app as pages_app

PAGE = "pages/0_Lesson.py"
N = len(lesson.SCREENS)


@pytest.fixture(scope="module", autouse=True)
def warm_model(model_ready):
    """The app's own loader, awaited (tests/conftest.py), whichever test runs first."""


def app(**params) -> AppTest:
    return pages_app(PAGE, **params)


def title(at: AppTest) -> str:
    return at.header[0].value


def plain(markdown: str) -> str:
    """Markdown as the reader sees it: the page escapes every special character with a backslash."""
    return re.sub(r"\\(.)", r"\1", markdown)


def numpy_w(minilm, text: str, *, special: bool = False, temperature: float = 1.0) -> tuple[tuple, np.ndarray]:
    """The static embeddings through the softmax, in plain NumPy: (tokens, W)."""
    e = minilm.static(text)
    keep = np.ones(len(e.tokens), bool) if special else ~np.isin(e.tokens, ["[CLS]", "[SEP]"])
    x = np.asarray(e.vectors, dtype=np.float64)[keep]
    s = x @ x.T / temperature
    w = np.exp(s - s.max(axis=1, keepdims=True))
    return tuple(np.array(e.tokens)[keep]), w / w.sum(axis=1, keepdims=True)


def test_next_and_previous_walk_the_screens_and_the_url_follows():
    at = app()
    assert title(at) == "1 · The words" and at.query_params["screen"] == "1"
    assert at.button(key="lesson_prev").disabled
    seen = [title(at)]
    for k in range(2, N + 1):
        at.button(key="lesson_next").click().run()
        assert not at.exception, at.exception
        assert at.query_params["screen"] == str(k)
        seen.append(title(at))
    assert at.button(key="lesson_next").disabled
    assert len(set(seen)) == N and seen[-1].startswith(f"{N} · ")
    at.button(key="lesson_prev").click().run()
    assert title(at).startswith(f"{N - 1} · ") and at.query_params["screen"] == str(N - 1)
    assert at.get("progress")[0].proto.text == f"Screen {N - 1} of {N}"


@pytest.mark.parametrize(("raw", "shown"), [("4", 4), ("99", N), ("0", 1), ("abc", 1), ("-3", 1)])
def test_a_link_opens_on_its_screen(raw, shown):
    at = app(screen=raw)
    assert title(at).startswith(f"{shown} · ")
    assert at.query_params["screen"] == str(shown)


@pytest.mark.parametrize("text", ["hi how are you", "the cat sat on the mat", "a b a b"])
def test_w_screen_and_reveal_against_numpy(minilm, text):
    at = app(screen="6", s=text)
    tokens, w = numpy_w(minilm, text)
    assert title(at) == "6 · W: the attention weights"
    assert not at.get("plotly_chart")  # the chart waits for the guess
    row = next((i for i in range(len(tokens)) if w[i].max() > w[i, i]), len(tokens) - 1)
    labels = figures.unique_labels(tokens)
    guess = at.selectbox(key=f"lesson_guess_weights_{hash(tokens)}")
    assert list(guess.options) == labels
    assert f"Which word does “{labels[row]}” attend to most?" in plain(guess.label)
    at.button(key="lesson_reveal").click().run()
    assert at.info and "Choose the class's guess first" in at.info[0].value and not at.get("plotly_chart")
    pick = (int(np.argmax(w[row])) + 1) % len(tokens)
    guess.set_value(labels[pick]).run()
    at.button(key="lesson_reveal").click().run()
    best = int(np.argmax(w[row]))
    said = plain(at.success[0].value)
    if w[row, pick] == w[row, best]:
        assert said.startswith(f"You guessed “{labels[pick]}”: right. W gives it {w[row, best]:.2f}")
    else:
        assert said == (
            f"You guessed “{labels[pick]}”; W gives “{labels[best]}” {w[row, best]:.2f} (the largest), "
            f"your choice {w[row, pick]:.2f}."
        )
    z, rows, cols = heatmap(at, "lesson_chart")
    np.testing.assert_allclose(z, w, rtol=1e-6, atol=1e-9)
    assert rows == cols == figures.token_labels(tokens)
    at.button(key="lesson_next").click().run()  # a new screen hides the answer again
    assert not at.success


def test_self_weight_question_and_the_numbers_in_the_text(minilm):
    text = "the cat sat on the mat"
    tokens, w = numpy_w(minilm, text)
    at = app(screen="9", s=text)
    assert plain(at.markdown[0].value).count(f"average {np.mean(np.diag(w)):.2f}") == 1
    labels = figures.unique_labels(tokens)
    at.selectbox(key=f"lesson_guess_parameters_{hash(tokens)}").set_value(labels[0]).run()
    at.button(key="lesson_reveal").click().run()
    d = np.diag(w)
    best = int(np.argmax(d))
    said = plain(at.success[0].value)
    assert f"{labels[best]}” {d[best]:.2f}" in said or f"right. W keeps it {d[best]:.2f}" in said


def test_scores_and_moving_screens_state_numpys_numbers(minilm):
    text = "hi how are you"
    e = minilm.static(text).without_special()
    x = np.asarray(e.vectors, dtype=np.float64)
    s = x @ x.T
    at = app(screen="4", s=text)
    assert f"{int((s > 1).sum())} of the {s.size} scores are above 1 and {int((s < 0).sum())} are below 0" in plain(
        at.markdown[0].value
    )
    z, _, _ = heatmap(at, "lesson_chart")
    np.testing.assert_allclose(z, s, rtol=1e-6)
    at = app(screen="3", s=text)
    assert f"it is {x[0] @ x[1]:.4f}" in plain(at.markdown[0].value)
    at = app(screen="8", s=text)
    _, w = numpy_w(minilm, text)
    y = w @ x
    mean = lambda p: np.mean([np.linalg.norm(a - b) for i, a in enumerate(p) for j, b in enumerate(p) if i != j])  # noqa: E731
    assert f"falls from {mean(x):.3f} to {mean(y):.3f}" in plain(at.markdown[0].value)


def test_learned_head_screen_uses_minilm(minilm):
    at = app(screen="11", s="the cat sat")
    assert "MiniLM layer 3, head 1" in plain(at.markdown[0].value)
    pieces = minilm.tokenize("the cat sat")
    theirs = minilm.forward(pieces.ids, attentions=True).attentions[3][0, 1].numpy()[1:-1, 1:-1]
    z, rows, _ = heatmap(at, "lesson_chart")
    np.testing.assert_allclose(z, theirs / theirs.sum(axis=1, keepdims=True), atol=1e-5)
    assert rows == ["the", "cat", "sat"]


def test_presenter_mode_from_the_link_and_the_toggle():
    at = app(present="1", screen="2")
    assert at.toggle(key="_w_lesson_present").value is True
    styles = [h for h in at.get("html") if "<style>" in h.proto.body]
    assert len(styles) == 1 and "font-size" in styles[0].proto.body
    assert not at.get("download_button") or all(
        b.proto.id.endswith("lesson_handout") for b in at.get("download_button")
    )
    fig_height = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["height"]
    assert fig_height <= 430
    at.toggle(key="_w_lesson_present").set_value(False).run()
    assert at.query_params["present"] == "0" and not [h for h in at.get("html") if "<style>" in h.proto.body]
    keys = [b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")]
    assert "lesson_csv_0" in keys and "lesson_handout" in keys


@pytest.mark.parametrize("text", ["", "   ", "x" * 3000, "😀 你好", "<img src=x onerror=alert(1)>", "a"])
def test_odd_input_gets_a_message_or_a_screen(text):
    at = app(screen="6", s=text)
    assert not at.exception
    if not text.strip():
        assert at.info and not at.get("plotly_chart")
    else:
        assert title(at) == "6 · W: the attention weights"
        for box in at.markdown:
            assert "<img" not in box.value or "\\<img" in box.value


def test_step_page_exports_every_matrix_as_csv(minilm):
    import csv
    import io

    from tests.test_pages import STEP
    from tests.test_pages import app as page_app

    at = page_app(STEP, open="all", s="hi how are you")
    tokens, w = numpy_w(minilm, "hi how are you")
    buttons = {b.proto.id.rsplit("-", 1)[-1]: b for b in at.get("download_button")}
    assert {"step_csv_x", "step_csv_scores", "step_csv_w", "step_csv_y"} <= set(buttons)
    assert buttons["step_csv_w"].proto.label == "W as CSV"
    # the file itself: what lesson.to_csv writes for W (the button makes it when pressed)
    from attnviz import lesson as core_lesson

    rows = list(csv.reader(io.StringIO(core_lesson.to_csv(core_lesson.Matrix("W", tokens, tokens, w)))))
    assert rows[0] == ["W", *tokens] and [r[0] for r in rows[1:]] == list(tokens)
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], dtype=float), w)

    # PNG or SVG from every chart's own toolbar, as chosen in the sidebar (the download itself is Plotly's,
    # in the browser: tests/browser/test_exports_toolbar.py)
    def formats(at) -> dict[str, str]:
        configs = {
            c.proto.id.rsplit("-", 1)[-1]: __import__("json").loads(c.proto.config) for c in at.get("plotly_chart")
        }
        assert all(c["displaylogo"] is False for c in configs.values())
        return {key: c["toImageButtonOptions"]["format"] for key, c in configs.items()}

    assert set(formats(at).values()) == {"png"} and len(formats(at)) == 5
    at.sidebar.radio(key="_w_chart_format").set_value("svg").run()
    assert set(formats(at).values()) == {"svg"} and len(formats(at)) == 5
    at.switch_page("app.py").run()  # a preference of the session: it stays on every page
    assert set(formats(at).values()) == {"svg"}


# --- the handout (`python -m attnviz TEXT --handout FILE`) is the Lesson page, screen by screen -----------


def handout_screens(page: str) -> list[dict]:
    """Each <section> of a handout: title, text, caption, figure data (decoded), the answer, W's table."""

    def text(pattern: str, section: str) -> str | None:
        m = re.search(pattern, section, re.S)
        return html_lib.unescape(m.group(1)) if m else None

    out = []
    for section in re.findall(r'<section id="screen-\d+">(.*?)</section>', page, flags=re.S):
        fig = None
        if (m := re.search(r'Plotly\.newPlot\(\s*"fig-\w+",\s*', section)) is not None:
            fig, _ = json.JSONDecoder().raw_decode(section[m.end() :])  # the traces
        table = re.findall(r"<td>([-\d.]+)</td>", section)
        out.append({
            "title": text(r"<h2>(.*?)</h2>", section),
            "text": text(r"<p>(.*?)</p>", section),
            "caption": text(r'<p class="caption">(.*?)</p>', section),
            "answer": text(r"<b>Answer:</b> (.*?)</p>", section),
            "traces": fig,
            "table": np.array(table, dtype=float) if table else None,
        })  # fmt: skip
    return out


def same_traces(theirs: list[dict], ours: list[dict], where: str) -> None:
    """The app's chart and the handout's: the same traces, labels and numbers."""
    assert len(theirs) == len(ours), where
    for a, b in zip(theirs, ours):
        assert a["type"] == b["type"], where
        for name in ("x", "y", "z", "text"):
            if name in a or name in b:
                va, vb = decode(a.get(name)), decode(b.get(name))
                if va.dtype.kind in "fiu":
                    np.testing.assert_array_equal(va, vb, err_msg=f"{where}: {name}")
                else:
                    assert va.tolist() == vb.tolist(), f"{where}: {name}"


def revealed_answer(at: AppTest) -> tuple[str, str]:
    """Guess the first option, press Reveal: (the largest's label, its value as printed)."""
    guess = next(s for s in at.selectbox if str(s.key).startswith("lesson_guess_"))
    guess.set_value(guess.options[0]).run()
    at.button(key="lesson_reveal").click().run()
    said = plain(at.success[0].value)
    m = re.search(r"(?:gives|keeps) “(.*)” ([\d.]+) \(the largest\)", said) or re.search(
        r"“(.*)”: right\. W (?:gives|keeps) it ([\d.]+)", said
    )
    assert m, said
    return m.group(1), m.group(2)


@pytest.mark.parametrize(
    "url",
    [
        {"s": "the dog chased the ball"},  # the defaults: [CLS]/[SEP] hidden
        {"s": "Hi, how are you?", "e": "contextual", "scale": "sqrt-d", "t": "0.5"},
        {"s": "the cat sat on the mat", "special": "1", "t": "2.5"},
        {"s": "a <b>bold</b> claim", "e": "toy"},
    ],
)
def test_the_cli_handout_is_the_lesson_page(url, tmp_path):
    """`python -m attnviz TEXT --handout FILE` with the flags of a link's settings writes what the Lesson page
    shows for that link: every screen's title, text, caption, chart (labels and numbers), answer and W."""
    from tests.test_lesson import run_cli

    flags = {"e": "--embedding", "scale": "--scale", "t": "--temperature"}
    args = [a for k, v in url.items() if k in flags for a in (flags[k], v)]
    args += ["--special"] if url.get("special") == "1" else []
    path = tmp_path / "lesson.html"
    r = run_cli(url["s"], *args, "--handout", str(path))
    assert r.returncode == 0, r.stderr
    page = path.read_text(encoding="utf-8")
    screens = handout_screens(page)
    assert len(screens) == N

    at = app(**url)
    tokens = plain(at.markdown[0].value).split("tokens: ", 1)[1].rsplit(". Self-attention", 1)[0].split(" | ")
    sentence = html_lib.unescape(re.search(r"<title>Self-attention, step by step: (.*)</title>", page).group(1))
    assert sentence == " ".join(tokens)  # no [CLS]/[SEP] unless the link keeps them
    assert ("[CLS]" in tokens) == (url.get("special") == "1")
    for i, ours in enumerate(screens, start=1):
        where = f"screen {i}"
        assert title(at) == ours["title"], where
        assert plain(at.markdown[0].value) == ours["text"], where
        if ours["answer"] is not None:
            label, value = revealed_answer(at)
            assert ours["answer"].endswith(f"“{label}” {value}, the largest."), (where, ours["answer"], label, value)
        if ours["traces"] is None:
            assert not at.get("plotly_chart"), where
        else:
            same_traces(figure(at, "lesson_chart")["data"], ours["traces"], where)
            assert ours["caption"] in [plain(c.value) for c in at.caption], where
        if ours["table"] is not None:  # W as a table of numbers, 3 decimals
            z = heatmap(at, "lesson_chart")[0]
            np.testing.assert_array_equal(ours["table"], np.round(z, 3).ravel(), err_msg=where)
        if i < N:
            at.button(key="lesson_next").click().run()
            assert not at.exception, at.exception


def test_the_toolbar_caption_is_under_charts_only():
    """The caption about the chart's toolbar stands where a chart is drawn: not on screens without one, nor
    before Reveal."""
    at = app(s="the cat sat on the mat")
    for i in range(1, N + 1):
        toolbar = [c for c in at.caption if "toolbar" in c.value]
        assert len(toolbar) == (1 if at.get("plotly_chart") else 0), (i, title(at))
        if i < N:
            at.button(key="lesson_next").click().run()
    assert not at.get("plotly_chart") and title(at).startswith(f"{N} · ")  # the last screen has no chart
