"""The Lesson: the seed's walk-through as screens (`screens`), and the same screens as one offline
HTML file (`handout`)."""

from attnviz.lesson.screens import (  # noqa: F401
    D_HEAD,
    LEARNED_HEAD,
    QKV_SEED,
    SCREENS,
    Context,
    LearnedHead,
    Matrix,
    Question,
    Screen,
    learned_head,
    mean_distance,
    negative_row,
    question_row,
    quote,
    random_qkv,
    reveal,
    screen,
    screens,
    to_csv,
)
