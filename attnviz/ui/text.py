"""Text that came from the user, made safe for Markdown and LaTeX (never rendered as HTML)."""

from __future__ import annotations

import re

# --- text that came from the user ------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def md_escape(text: str) -> str:
    """Text safe to pass to st.markdown / st.info: every markdown, math and HTML character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def latex_text(text: str) -> str:
    r"""A token as LaTeX text: \text{…} with LaTeX's special characters escaped."""
    escaped = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    return r"\text{" + escaped + "}"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}
