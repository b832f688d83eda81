"""Every number a page writes in its text, accounted for.

    text = Prose(at)                       # every text element of an AppTest run, markdown escapes removed
    text.has(f"{above} of the {n * n} scores are above 1")   # a claim the test computed itself
    text.fixed(*STEP_FIXED)                # digits the page writes literally ("3 · Weights W", "√32")
    text.done()                            # fails if any digit is left that no claim or fixed phrase explains

A claim is removed from the text once found, so a number can be explained only once; whatever digit is
left at the end is a number nobody checked, and the test fails naming it with its context.
"""

from __future__ import annotations

import re

KINDS = ("title", "header", "subheader", "caption", "markdown", "latex", "text", "info", "warning", "error", "success")
DIGIT = re.compile(r"\d")
GONE = "□"  # what a checked claim is replaced by


def plain(value: str) -> str:
    """Markdown as the user reads it: the escaping backslashes removed."""
    return re.sub(r"\\(.)", r"\1", value)


class Prose:
    def __init__(self, at, *, sidebar: bool = True):
        self.parts: list[tuple[str, str]] = []
        for kind in KINDS:
            for element in at.get(kind):
                value = element.value if kind in ("latex", "text") else plain(element.value)
                self.parts.append((kind, value))
        for element in at.get("metric"):
            self.parts.append(("metric", f"{element.label}: {element.value} {element.delta or ''}"))
        for element in at.get("progress"):
            self.parts.append(("progress", element.proto.text))
        self.rest = [text for _, text in self.parts]

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.parts)

    def __contains__(self, claim: str) -> bool:
        return any(claim in t for t in self.rest)

    def has(self, *claims: str) -> Prose:
        """Each claim is in the text (and is now accounted for)."""
        for claim in claims:
            found = False
            for i, t in enumerate(self.rest):
                if claim in t:
                    self.rest[i], found = t.replace(claim, GONE), True
            assert found, f"the page does not say {claim!r}; it says:\n{self.text}"
        return self

    def take(self, pattern: str) -> list:
        """Every match of a regex (its groups), now accounted for: for claims the test checks piece by piece."""
        found = []
        for i, t in enumerate(self.rest):
            found += re.findall(pattern, t)
            self.rest[i] = re.sub(pattern, GONE, t)
        assert found, f"nothing in the page's text matches {pattern!r}; it says:\n{self.text}"
        return found

    def fixed(self, *phrases: str) -> Prose:
        """Phrases the page writes literally, where present (section numbers, √32, "adds up to 1")."""
        for phrase in phrases:
            self.rest = [t.replace(phrase, GONE) for t in self.rest]
        return self

    def named(self, labels) -> Prose:
        """The sentence's own labels of repeated pieces ("the #2"), where the text names one: quoted, in
        parentheses or as LaTeX text. Their digits count occurrences; only labels of this sentence are taken."""
        for label in labels:
            if "#" in label:
                tex = r"\text{" + label.replace("#", r"\#") + "}"
                self.fixed(f"“{label}”", f"({label})", tex)
        return self

    def unchecked(self) -> list[str]:
        """Each digit left, with its context."""
        out = []
        for t in self.rest:
            for m in DIGIT.finditer(t):
                out.append(t[max(0, m.start() - 40) : m.end() + 40].replace("\n", " "))
        return out

    def done(self) -> None:
        left = self.unchecked()
        assert not left, "numbers in the page's text that no test checks:\n" + "\n".join(f"  …{c}…" for c in left)


# Digits every page writes literally: the sidebar's and the loading messages' "2-D".
COMMON = ("toy 2-D", "Toy 2-D")
