"""Plain-text formatting shared by the generated Markdown: numbers, signs and line wrapping."""

import math
import textwrap

FINDINGS_START = "<!-- findings:start -->"
FINDINGS_END = "<!-- findings:end -->"
MINUS = "\u2212"
CEILING_MARK = "†"
WIDTH = 100  # prose lines are wrapped at this width; table rows are not


def join_lines(lines: list[str]) -> str:
    """The lines as one text ending with a newline, prose (not table rows or headings) wrapped at
    ``WIDTH``."""
    out = []
    for line in lines:
        if line.startswith(("|", "#")) or len(line) <= WIDTH:
            out.append(line)
        else:
            out.append(textwrap.fill(line, WIDTH, break_long_words=False, break_on_hyphens=False))
    return "\n".join(out) + "\n"


def number(value: float, decimals: int = 2) -> str:
    """A value with fixed decimals, thousands separators and a typographic minus; NaN as ``—``."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:,.{decimals}f}"
    if text.strip("-0.,") == "":  # -0.00
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def significant(value: float, digits: int = 3) -> str:
    """A value with about ``digits`` significant digits (all integer digits kept)."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3:
        return f"{value:.{digits - 1}e}".replace("-", MINUS)
    return number(value, max(0, digits - 1 - magnitude))


# --- the README's findings -----------------------------------------------------------------


