r"""LaTeX generated from the aggregated tables: macros (``numbers.tex``) and tables.

Numbers enter the paper only through these files, so the text cannot disagree with the results.
``numbers.tex`` (``numbers``) defines provenance macros (``\klgapCommit``, ``\klgapConfigLabel``,
``\klgapConfigHash``), counts (``\klgapNumRuns``, ``\klgapNumMissingRuns``, ...), named values
(``\klgapValue{epochs/digits}``, ``\klgapValue{share_max}``, ...; ``values``) and two look-ups of
every summarized value, e.g. ``\klgapMean{digits}{2}{0.5}{test}{rate}`` and ``\klgapSD{...}``. A
value that does not exist prints ``??`` and warns ("no value for ..."), which the paper's build
treats as an error. The tables of results are in ``tables``, the appendix's table of figures in
``appendix``, the number formats in ``formatting``, and the command ``klgap tex`` in ``command``.
"""

from klgap.paper.tex.command import check_inputs
from klgap.paper.tex.numbers import numbers_tex

__all__ = ["check_inputs", "numbers_tex"]
