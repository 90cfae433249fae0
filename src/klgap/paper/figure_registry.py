"""The paper's figures, each with the aggregated tables it is drawn from: the one list that
``klgap figures`` (whose ``klgap.paper.figures.registry`` names the function that draws each) and
the workflow (``workflow/rules/common.smk``) read. Light on purpose: the workflow imports it, so it
imports nothing (no matplotlib).
"""

import re
from pathlib import Path

# Figure name -> tables (<outdir>/<dataset>/<table>.csv, every dataset) it is drawn from.
FIGURE_TABLES: dict[str, tuple[str, ...]] = {
    "rate_split": ("summary",),
    "mi_aggkl": ("summary",),
    "kl_bracket": ("summary",),
    "information_vs_n": ("summary",),
    "latent_space": ("latent_samples",),
    "class_kl": ("summary",),
    "estimators": ("summary",),
    "training_curves": ("history",),
    "rate_distortion": ("summary",),
    "prior_samples": ("sample_grids",),
    "expost_samples": ("sample_grids",),
    "objectives": ("summary",),
    "frontier": ("summary",),
    "ones": ("latent_samples",),
}
# Table -> (option of `klgap figures` that takes it, without the dashes; command that writes it).
TABLE_OPTIONS = {"summary": ("summaries", "aggregate"), "history": ("histories", "histories"),
                 "latent_samples": ("latent_samples", "latent-samples"),
                 "sample_grids": ("sample_grids", "sample-grids")}
# Tables whose figures show every objective, and figures that compare the objectives: they
# are given every objective's rows. The other figures are of the beta-VAE (drawn against beta),
# and `klgap figures` gives them only its rows.
EVERY_OBJECTIVE = {"sample_grids"}
EVERY_OBJECTIVE_FIGURES = {"objectives", "frontier", "ones"}


def reads_every_objective(figure: str, table: str) -> bool:
    """Whether a figure is drawn from every objective's rows of a table (else the beta-VAE's)."""
    return figure in EVERY_OBJECTIVE_FIGURES or table in EVERY_OBJECTIVE


def table_option(table: str) -> str:
    """Returns the option of ``klgap figures`` that takes a table, e.g. ``--summaries``."""
    return "--" + TABLE_OPTIONS[table][0].replace("_", "-")


# A TeX comment, to the end of its line (an escaped \% is text).
COMMENT = re.compile(r"(?<!\\)%.*$", re.MULTILINE)
# \includegraphics[options]{name} in the paper's sources.
INCLUDED = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}")


def figures_in_paper(paper_dir: Path) -> list[str]:
    """The figures of ``FIGURE_TABLES`` that the paper includes, in that order.

    Args:
      paper_dir: the paper's directory (``main.tex`` and ``sections/*.tex``).

    Returns:
      The names that some ``\\includegraphics{name}`` of the paper's TeX files uses: the
      figures the workflow draws and the appendix lists (the others are drawn on request, with
      ``klgap figures NAME``).
    """
    sources = sorted(Path(paper_dir).glob("*.tex")) + sorted(Path(paper_dir).glob("sections/*.tex"))
    text = "\n".join(COMMENT.sub("", path.read_text()) for path in sources)
    included = set(INCLUDED.findall(text))
    return [name for name in FIGURE_TABLES if name in included]
