"""What an attention head's W looks like, in one sentence: the simple patterns it follows, or none.

A pattern names, for each row (query) i, the keys it would attend to:

    itself                      {i}               the diagonal (the Train page's `copy`)
    the previous token          {i − 1}           the sub-diagonal (`previous-token`)
    the next token              {i + 1}           the super-diagonal
    the mirror position         {n − 1 − i}       the anti-diagonal (`reverse`)
    [CLS], [SEP]                their columns     (MiniLM, when they are shown)
    named columns               one column each   given by the caller, e.g. the largest letter (`largest`)
    the first token             {0}               the first column (`first-token`)
    one shared token            {j*}              the column with the largest share (and the one that leads in
                                                  the most rows, if another), among the columns not named above

Only the keys a row may see count (a causal mask hides the later ones), and only rows with a choice (a
causal row 0 sees one key: it says nothing). A pattern is read only if it applies to at least half of
those rows. For each pattern:

    share   the mean, over the rows it applies to, of the weight on its keys
    lead    the rows whose largest weight is on its keys, strictly above every other key they see

The sentence (`describe`), with the thresholds below:

    share ≥ MOSTLY (50%)                     "Mostly attends to A: on average x% of each row's weight goes there"
                                             (", and y% to B" when the best pattern with other keys has ≥ ALSO)
    else entropy ≥ BROAD (85% of log₂ keys)  "Spreads its attention broadly (…)", then ", though most often it
                                             looks at C: …" if C leads in ≥ LEAD of its rows, else ": close to an
                                             average …"
    else C leads in ≥ LEAD (⅔) of its rows   "Mixed: most often it looks at C: the largest weight in h of r rows,
                                             x% of each row on average; …"
    else A and B each ≥ ALSO, and the rows   "Splits its attention between A, x% …, and B, y% more; …"
         led by A's or B's keys ≥ LEAD
    else                                     "No simple pattern: none of … has the largest weight in two thirds
                                             of the rows it applies to …"

A is the pattern with the largest share (shares rounded to 12 decimals; ties: the one over more rows,
then the order above); B the one with the largest share on keys that are not A's (y is that share; ties:
the order above); C the one that leads in the largest fraction of its rows (ties: the larger share, then
the order above). Entropy is the mean over the rows with a choice of each row's entropy, over the mean of
log₂ of the number of keys each sees.

NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MOSTLY = 0.5  # a pattern that takes at least this share of a row's weight on average: "Mostly"
ALSO = 0.2  # a second pattern is named beside the first from this share on
BROAD = 0.85  # mean row entropy over its largest possible value: "Spreads broadly" from here on
LEAD = 2 / 3  # a pattern is named when it has the largest weight in at least this share of its rows
DIGITS = 12  # shares are rounded to this many decimals, so equal ones summed in another order tie
SPECIAL = ("[CLS]", "[SEP]")
SHARED = "one shared token"  # how the "No simple pattern" sentence lists the shared-column pattern


@dataclass(frozen=True)
class Pattern:
    name: str  # as the sentence says it: "the previous token", "“mat”", "the largest letter, “5:v”"
    keys: np.ndarray  # [n, n] bool, the keys of each row (False where the row may not look)
    rows: np.ndarray  # [r] int, the rows it applies to
    share: float  # mean weight on its keys over those rows
    lead: int  # how many of those rows have their largest weight (strictly) on its keys
    kind: str  # the name in the list of patterns looked for ("one shared token" for the shared column)


def _allowed(n: int, mask: np.ndarray | None) -> np.ndarray:
    return np.ones((n, n), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def _leads(w: np.ndarray, allowed: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """[n] bool: the row's largest weight on `keys` is larger than every other weight it may see."""
    on = np.where(keys, w, -np.inf).max(axis=1)
    off = np.where(allowed & ~keys, w, -np.inf).max(axis=1)
    return on > off


def _pattern(name, kind, keys, w, allowed, choice) -> Pattern | None:
    keys = keys & allowed
    rows = np.flatnonzero(choice & keys.any(axis=1))
    if len(rows) == 0 or 2 * len(rows) < choice.sum():
        return None  # applies to fewer than half of the rows with a choice
    share = round(float(np.mean(np.where(keys, w, 0.0).sum(axis=1)[rows])), DIGITS)
    lead = int(_leads(w, allowed, keys)[rows].sum())
    return Pattern(name, keys, rows, share, lead, kind)


def _column(n: int, j: int) -> np.ndarray:
    keys = np.zeros((n, n), dtype=bool)
    keys[:, j] = True
    return keys


def patterns(
    weights: np.ndarray,
    tokens: Sequence[str],
    *,
    mask: np.ndarray | None = None,
    columns: Mapping[str, int] | None = None,
) -> list[Pattern]:
    """Every pattern that applies, in the order of the module's table.

    weights [n, n] (rows sum to 1 over the keys they see), mask [n, n] bool (True = may attend) or None,
    columns: more named columns {"the largest letter": 5}, named with their token.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = len(tokens)
    allowed = _allowed(n, mask)
    choice = allowed.sum(axis=1) >= 2  # [n] rows that could attend to more than one key
    i = range(n)  # the rows (and the columns), as ints
    shifted = lambda d: np.eye(n, k=d, dtype=bool)  # noqa: E731  keys {i + d}
    found = [
        _pattern("itself", "itself", shifted(0), w, allowed, choice),
        _pattern("the previous token", "the previous token", shifted(-1), w, allowed, choice),
        _pattern("the next token", "the next token", shifted(1), w, allowed, choice),
        _pattern("its mirror position (the anti-diagonal)", "the mirror position", np.eye(n, dtype=bool)[::-1],
                 w, allowed, choice),
    ]  # fmt: skip
    named: set[int] = set()
    for marker in SPECIAL:
        cols = [j for j, t in enumerate(tokens) if t == marker]
        if cols:
            keys = np.zeros((n, n), dtype=bool)
            keys[:, cols] = True
            found.append(_pattern(marker, marker, keys, w, allowed, choice))
            named.update(cols)
    for name, j in (columns or {}).items():
        also = " (the first token)" if j == 0 else ""
        found.append(_pattern(f"{name}, “{tokens[j]}”{also}", name, _column(n, j), w, allowed, choice))
        named.add(j)
    if 0 not in named:
        found.append(_pattern("the first token", "the first token", _column(n, 0), w, allowed, choice))
        named.add(0)
    shared = [p for j in i if j not in named if (p := _pattern(f"“{tokens[j]}”", SHARED, _column(n, j), w,
                                                               allowed, choice))]  # fmt: skip
    if shared:  # the column with the largest share, and the one that leads in most rows if that is another
        by_share = max(shared, key=lambda p: p.share)  # the first of equal columns (max keeps the first)
        by_lead = max(shared, key=lambda p: (p.lead / len(p.rows), p.share))
        found += [by_share] if by_lead is by_share else [by_share, by_lead]
    return [p for p in found if p is not None]


def _beyond(w: np.ndarray, b: Pattern, a: Pattern) -> float:
    """b's share on the keys that are not a's: the mean over b's rows of the weight on b's keys but not a's."""
    return round(float(np.mean(np.where(b.keys & ~a.keys, w, 0.0).sum(axis=1)[b.rows])), DIGITS)


def _list(kinds: Sequence[str]) -> str:
    return ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]


def describe(
    weights: np.ndarray,
    tokens: Sequence[str],
    *,
    mask: np.ndarray | None = None,
    columns: Mapping[str, int] | None = None,
) -> str:
    """One sentence on what a head seems to do, by the rules of the module's docstring.

    weights [n, n], mask [n, n] bool or None, columns: more named columns (see `patterns`).
    """
    w = np.asarray(weights, dtype=np.float64)
    n = len(tokens)
    allowed = _allowed(n, mask)
    choice = allowed.sum(axis=1) >= 2
    if not choice.any():
        return (
            "With a single token, every head can only attend to it."
            if n == 1
            else "Every row may see one token only, so there is no choice to describe."
        )
    found = patterns(w, tokens, mask=mask, columns=columns)
    order = {id(p): k for k, p in enumerate(found)}
    ranked = sorted(found, key=lambda p: (-p.share, -len(p.rows), order[id(p)]))
    a = ranked[0]
    others = [p for p in found if p is not a]
    extra = {id(p): _beyond(w, p, a) for p in others}
    b = max(others, key=lambda p: extra[id(p)], default=None)  # the first of equals, in the table's order
    b_share = extra[id(b)] if b is not None else 0.0
    if a.share >= MOSTLY:
        also = f", and {b_share:.0%} to {b.name}" if b is not None and b_share >= ALSO else ""
        return f"Mostly attends to {a.name}: on average {a.share:.0%} of each row's weight goes there{also}."
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(w > 0, w * np.log2(w), 0.0).sum(axis=1)  # [n] bits
    spread = float(entropy[choice].mean() / np.log2(allowed.sum(axis=1)[choice]).mean())
    often = max(found, key=lambda p: (p.lead / len(p.rows), p.share))  # the first of equals (max keeps it)
    leads = often.lead >= LEAD * len(often.rows)
    lean = (
        f"{often.name}: the largest weight in {often.lead} of {len(often.rows)} rows, "
        f"{often.share:.0%} of each row on average"
    )
    if spread >= BROAD:
        broad = f"Spreads its attention broadly (entropy {spread:.0%} of the maximum)"
        whole = "the whole sentence" if mask is None else "what each row may see"
        return (
            f"{broad}, though most often it looks at {lean}."
            if leads
            else f"{broad}: close to an average over {whole}."
        )
    if leads:
        return f"Mixed: most often it looks at {lean}; the rest depends on the words."
    if b is not None and b_share >= ALSO and a.share >= ALSO:  # b_share is 0.0 when there is no b
        rows = np.flatnonzero(choice)
        if _leads(w, allowed, a.keys | b.keys)[rows].sum() >= LEAD * len(rows):
            return (
                f"Splits its attention between {a.name}, {a.share:.0%} of each row on average, and {b.name}, "
                f"{b_share:.0%} more; the rest depends on the words."
            )
    kinds = list(dict.fromkeys(p.kind for p in found))
    return (
        f"No simple pattern: none of {_list(kinds)} has the largest weight in two thirds of the rows it applies to; "
        "where each row looks depends on the words."
    )
