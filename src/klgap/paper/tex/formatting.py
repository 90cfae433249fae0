"""Numbers and text as the paper prints them: LaTeX escapes, rounded numbers (``n/a`` for NaN),
counts with thousands separators, prose lists and short commits."""

import math


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "×": r"$\times$"}


def escape(text: str) -> str:
    """Escapes LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def number(value: float, digits: int = 2) -> str:
    """Formats a number for the text; NaN becomes ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.00"


def integer(value: float) -> str:
    """Formats a count for the text, with LaTeX thousands separators (``10{,}000``)."""
    return f"{int(round(value)):,}".replace(",", "{,}")


def listing(items) -> str:
    """Joins items as in prose: ``a, b and c`` (``none`` for no items)."""
    items = [str(item) for item in items]
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def short_commit(commit: str) -> str:
    """The first 12 hex digits of a commit, keeping a ``-dirty`` suffix."""
    return commit.removesuffix("-dirty")[:12] + ("-dirty" if commit.endswith("-dirty") else "")
