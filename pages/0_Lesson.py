"""The lesson: seed 002's walk-through as screens, one idea each, on the teacher's sentence.

Previous / Next (or ← / →), the screen in the URL (?screen=N), presenter mode (?present=1),
predict-then-reveal on chosen screens, CSV exports, and the whole lesson as one offline HTML handout.
"""

import streamlit as st

from attnviz import figures, lesson, ui
from attnviz.lesson import handout
from attnviz.ui import Setting

N = len(lesson.SCREENS)
SCREEN, PRESENT, REVEALED = "lesson_screen", "lesson_present", "lesson_revealed"
FULL_RERUN = "_lesson_full_rerun"  # set by the presenter toggle: page config and sidebar need a whole run
SETTINGS = {
    SCREEN: Setting("screen", 1, ui.whole(1, N)),
    PRESENT: Setting("present", False, ui.flag),
}
PRESENT_HEIGHT = 430  # px: title, text, formula and one chart within a 1280 × 720 projector
# The chart column's width in presenter mode at 1280 px (measured: 640; wider on a wider screen): the numbers
# in a heatmap's cells are drawn only where they fit at this width (figures.fit_cell_text), else hover shows them.
PRESENT_CHART_PX = 620
# A fixed style block (no user text): larger type, less padding, for a projector.
PRESENTER_CSS = """<style>
.stMainBlockContainer { padding-top: 3.6rem; padding-bottom: 0.5rem; max-width: 100%; }
.stMainBlockContainer [data-testid="stMarkdownContainer"] p { font-size: 1.35rem; line-height: 1.45; }
.stMainBlockContainer h2 { font-size: 2.1rem; padding: 0.2rem 0; }
.stMainBlockContainer [data-testid="stCaptionContainer"] p { font-size: 1.1rem; }
.stMainBlockContainer .katex { font-size: 1.2rem; }
</style>"""


def go(step: int) -> None:
    st.session_state[SCREEN] = min(max(st.session_state[SCREEN] + step, 1), N)
    st.session_state.pop(REVEALED, None)


def reveal(key: str) -> None:
    st.session_state[REVEALED] = key


def learned_head(settings: ui.Settings) -> lesson.LearnedHead | None:
    """MiniLM's layer 3, head 1 on the sentence, once the model is loaded (else None: a random head)."""
    model = ui.minilm()
    if model is None or settings.embedding == "toy":
        return None
    pieces, full = ui.learned(settings.sentence, False, model, lesson.LEARNED_HEAD[0] + 1)  # cached per server
    return lesson.learned_head(ui.bert_weights(model), pieces, settings.special, trace=full)


present_now = st.session_state.get(PRESENT, SETTINGS[PRESENT].from_url(st.query_params.get("present")))
settings = ui.setup("Lesson", SETTINGS, collapsed=present_now)
if st.session_state[PRESENT]:
    st.html(PRESENTER_CSS)
emb, trace = ui.attention(settings)


@st.fragment
def lesson_screen() -> None:
    """The nav row and one screen. Previous/Next rerun only this (the sidebar and the embedding stay
    as they are), so a screen change costs one screen's numbers and one chart."""
    if st.session_state.pop(FULL_RERUN, False):
        st.rerun(scope="app")
    present = st.session_state[PRESENT]
    context = lesson.Context(trace, emb.source, None)
    i = st.session_state[SCREEN]  # 1 … N
    screen = lesson.screen(i - 1, context)
    if screen.key in ("qkv", "learned"):  # the learned head, and the shape of its W_q for the screen before it
        context = lesson.Context(trace, emb.source, learned_head(settings))
        screen = lesson.screen(i - 1, context)

    prev_box, progress_box, next_box, mode_box = st.columns([1.7, 5, 1.7, 2.6], vertical_alignment="center")
    prev_box.button("Previous", key="lesson_prev", on_click=go, args=(-1,), disabled=i == 1, shortcut="Left",
                    icon=":material/arrow_back:", width="stretch")  # fmt: skip
    progress_box.progress(i / N, text=f"Screen {i} of {N}")
    next_box.button("Next", key="lesson_next", on_click=go, args=(1,), disabled=i == N, shortcut="Right",
                    icon=":material/arrow_forward:", width="stretch")  # fmt: skip
    mode_box.toggle(
        "Presenter mode",
        **ui.widget(PRESENT, then=lambda: st.session_state.update({FULL_RERUN: True})),
        help="Larger type, no sidebar, one chart that fits a projector.",
    )

    st.header(f"{i} · {screen.title}")
    # Presenter mode: the words on the left, the chart on the right, so both fit a 1280 × 720 projector.
    words_box, chart_box = st.columns([2, 3], gap="large") if present else (st.container(), st.container())
    with words_box:
        st.markdown(ui.md_escape(screen.text))
        st.latex(screen.latex)
        question = screen.question
        revealed = question is None or st.session_state.get(REVEALED) == screen.key
        if question is not None:
            guess_box, button_box = st.columns([4, 1.3], vertical_alignment="bottom")
            guess = guess_box.selectbox(
                ui.md_escape(question.prompt) + " Guess first, then press Reveal.",
                question.options,
                index=None,
                placeholder="The class's guess",
                key=f"lesson_guess_{screen.key}_{hash(trace.tokens)}",
            )
            button_box.button("Reveal", key="lesson_reveal", on_click=reveal, args=(screen.key,), type="primary")
            if revealed and guess is None:
                st.info("Choose the class's guess first, then press Reveal.", icon=":material/help:")
                revealed = False
            elif revealed:
                said = lesson.reveal(question, question.options.index(guess))
                st.success(ui.md_escape(said), icon=":material/visibility:")

    drawn = screen.figure is not None and revealed
    with chart_box:
        if drawn:
            fig = screen.figure()
            if present:  # the chart as large as the projector allows, its cells' numbers only where they fit
                figures.fit_cell_text(fig.update_layout(height=PRESENT_HEIGHT), PRESENT_CHART_PX)
            ui.chart(fig, key="lesson_chart")
            st.caption(ui.md_escape(screen.caption))
        elif screen.figure is not None:
            st.caption("The chart appears after Reveal.")

    if not present:
        for k, matrix in enumerate(screen.matrices):
            ui.csv_button(matrix, key=f"lesson_csv_{k}")
    if not present and drawn:  # a screen without a chart has no toolbar to speak of
        st.caption(
            "The chart's toolbar (top right of the chart) saves it as a PNG or an SVG, as chosen in the sidebar; "
            "the handout in the sidebar holds the whole lesson for this sentence in one file."
        )

    ui.keep_in_url({SETTINGS[SCREEN].url: str(i)})  # a fragment run: setup did not write it


lesson_screen()

model = ui.minilm() if settings.embedding != "toy" else None
weights = None if model is None else ui.bert_weights(model)  # cached: the same arrays every run


def make_handout() -> str:
    """The handout, made on a separate thread when the button is pressed: plain functions only."""
    head = None if model is None else lesson.learned_head(weights, model.tokenize(settings.sentence), settings.special)
    return handout.render(lesson.Context(trace, emb.source, head))


st.sidebar.download_button(
    "Handout (one HTML file)",
    data=make_handout,
    file_name="attnviz-lesson.html",
    mime="text/html",
    on_click="ignore",
    icon=":material/download:",
    key="lesson_handout",
    help="The whole lesson for this sentence: every screen's chart, formula and numbers; opens offline.",
)
