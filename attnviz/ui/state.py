"""The app's settings: session-state keys, their defaults, and how each is read from and
written to the URL, so a link reproduces a view."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from attnviz.attention import core
from attnviz.model.embeddings import (
    KINDS,
    Kind,
)

DEFAULT_SENTENCE = "hi how are you"
FAVICON = str(Path(__file__).with_name("favicon.png"))  # a file: a material icon would be fetched online
TITLE = "attnviz"

# Session-state keys: the canonical value (survives page switches) and its widget's key.
SENTENCE, EMBEDDING, SPECIAL, SCALE, TEMPERATURE = "sentence", "embedding", "special", "scale", "temperature"
SENTENCE2 = "sentence2"  # the second sentence; empty means off
DEFAULTS = {
    SENTENCE: DEFAULT_SENTENCE,
    SENTENCE2: "",
    EMBEDDING: "static",
    SPECIAL: False,
    SCALE: "none",
    TEMPERATURE: 1.0,
}
URL_KEYS = {SENTENCE: "s", SENTENCE2: "s2", EMBEDDING: "e", SPECIAL: "special", SCALE: "scale", TEMPERATURE: "t"}
TEMPERATURE_STEP = 0.05
PAGES = (  # (file, label, icon): the sidebar's own navigation, so the home page is called "Home"
    ("app.py", "Home", ":material/home:"),
    ("pages/0_Lesson.py", "Lesson", ":material/school:"),
    ("pages/1_Step_by_step.py", "Step by step", ":material/stairs:"),
    ("pages/2_Unparameterised_vs_learned.py", "Unparameterised vs learned", ":material/compare:"),
    ("pages/3_Geometry.py", "Geometry", ":material/scatter_plot:"),
    ("pages/4_Query_key_value.py", "Query, key, value", ":material/key:"),
    ("pages/5_Train_attention.py", "Train attention", ":material/model_training:"),
    ("pages/6_Cost.py", "Cost of attention", ":material/speed:"),
    ("pages/7_Vision.py", "Vision", ":material/image:"),
    ("pages/8_Query_key_space.py", "Query/key space", ":material/bubble_chart:"),
    ("pages/9_Induction_heads.py", "Induction heads", ":material/content_copy:"),
    ("pages/10_Heads.py", "Heads", ":material/grid_view:"),
)
SCALE_LABELS = {"none": "none (the seed)", "sqrt-d": "1/√d (Transformer)"}


@dataclass(frozen=True)
class Settings:
    sentence: str
    sentence2: str  # "" = one sentence only
    embedding: Kind  # one of KINDS: what the user asked for
    special: bool  # show [CLS] / [SEP]
    scale: core.Scale  # one of core.SCALES
    temperature: float


# --- the sidebar and the URL ----------------------------------------------------------------


def _from_url(key: str):
    """The setting as given in the URL, or the default when absent or not understood."""
    raw = st.query_params.get(URL_KEYS[key])
    default = DEFAULTS[key]
    if raw is None:
        return default
    if key in (SENTENCE, SENTENCE2):
        return raw
    if key == EMBEDDING:
        return raw if raw in KINDS else default
    if key == SCALE:
        return raw if raw in core.SCALES else default
    if key == SPECIAL:
        return raw.lower() not in ("0", "false", "no", "off")
    try:
        lo, hi = core.TEMPERATURE_RANGE
        t = float(raw)
        if t != t:  # NaN is not a temperature
            return default
        return round(round(min(max(t, lo), hi) / TEMPERATURE_STEP) * TEMPERATURE_STEP, 2)
    except ValueError:
        return default


def _to_url(key: str, value) -> str:
    if key == SPECIAL:
        return "1" if value else "0"
    return str(value)


def _keep(key: str) -> None:
    st.session_state[key] = st.session_state["_w_" + key]


def _widget(key: str) -> str:
    return "_w_" + key


def _restore_widgets(page: str, keys) -> None:
    """Give the widgets the settings' values when a session arrives on a page.

    Streamlit forgets a widget's value when the page changes (each page has its own widgets), so
    the settings live under their own keys. Only on arrival: writing them on every run would push
    an older value back to the browser and lose slider steps taken during a rerun.
    """
    if st.session_state.get("_page") != page:
        st.session_state["_page"] = page
        for key in keys:
            st.session_state[_widget(key)] = st.session_state[key]


@dataclass(frozen=True)
class Setting:
    """A page's own setting: kept in the URL under `url`, read back with `parse`.

    parse(text) -> value, raising ValueError for text it does not understand (the default is
    used then); it also snaps numbers to what the page's widget accepts.
    """

    url: str
    default: Any
    parse: Callable[[str], Any]

    def from_url(self, raw: str | None):
        if raw is None:
            return self.default
        try:
            return self.parse(raw)
        except (ValueError, TypeError, OverflowError):
            return self.default

    @staticmethod
    def to_url(value) -> str | None:
        """The value as URL text; None when there is nothing to say (the parameter is left out)."""
        if value is None or value == ():
            return None
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, tuple | list):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """Parse a whole number, clamped to [lo, hi]."""
    return lambda raw: min(max(int(raw), lo), hi)


def nearest(options: Sequence[float]) -> Callable[[str], float]:
    """Parse a number and snap it to the nearest of the options (on a log scale)."""

    def parse(raw: str) -> float:
        x = float(raw)
        if not x > 0 or x == float("inf"):
            raise ValueError(raw)
        return min(options, key=lambda o: abs(math.log(o) - math.log(x)))

    return parse


def one_of(options: Sequence[str]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(raw)
        return raw

    return parse


def some_of(options: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """Parse a comma-separated list, keeping the known names ("all" means every one)."""
    return lambda raw: tuple(options) if raw == "all" else tuple(o for o in options if o in raw.split(","))


def flag(raw: str) -> bool:
    return raw.lower() not in ("0", "false", "no", "off")


def _url_params() -> dict[str, str]:
    """The settings as URL parameters; an empty second sentence is left out (off)."""
    return {URL_KEYS[k]: _to_url(k, st.session_state[k]) for k in DEFAULTS if k != SENTENCE2 or st.session_state[k]}


def keep_in_url(params: Mapping[str, str | None]) -> None:
    """Keep the URL a shareable link to this view (write only what changed; None removes)."""
    for name, value in params.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def widget(key: str, then: Callable[[], None] | None = None) -> dict:
    """The keyword arguments that bind a widget to a setting: `st.slider(..., **ui.widget(key))`.

    then: also called when the user changes it (after the setting has taken the new value).
    """

    def changed() -> None:
        _keep(key)
        if then is not None:
            then()

    return {"key": _widget(key), "on_change": changed}


def set_setting(key: str, value) -> None:
    """Change a setting and its widget, from a callback or before the widget is drawn."""
    st.session_state[key] = st.session_state[_widget(key)] = value
