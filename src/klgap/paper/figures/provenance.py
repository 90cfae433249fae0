"""What made a figure: the provenance stored in its files' metadata, and its captions (the
drawing function's docstring), for the files and for Snakemake's report."""

import inspect
import re
from typing import NamedTuple

from klgap.paper.figures.registry import FIGURES


class Provenance(NamedTuple):
    """What made a figure file, stored in its metadata (as showyourwork links figures to code)."""

    commit: str  # git commit of the code (``-dirty`` if modified)
    config_hash: str  # short hash of the validated configuration (as on the paper)
    rule: str  # the workflow rule that ran the command
    command: str  # the command line


def caption(name: str) -> str:
    """Returns the description of a figure: its drawing function's docstring before ``Args:``.

    Args:
      name: a key of ``FIGURES``.

    Returns:
      The docstring's paragraphs, dedented, without the Args and Returns sections.
    """
    text = inspect.cleandoc(FIGURES[name].draw.__doc__ or "")
    return text.split("\nArgs:")[0].strip()


def file_metadata(name: str, provenance: Provenance) -> tuple[dict, dict]:
    """Returns the metadata of a figure's PDF (document information) and PNG (text chunks).

    Args:
      name: the figure (a key of ``FIGURES``).
      provenance: what made it.

    Returns:
      ``(pdf, png)``: PDF keys are the standard ones (Title, Subject, Keywords, Creator); PNG
      text chunks also name each item (``klgap:commit``, ``klgap:config_hash``, ...).
    """
    summary = caption(name).split("\n\n")[0].replace("\n", " ")
    made_by = (f"commit {provenance.commit}; config hash {provenance.config_hash}; "
               f"rule {provenance.rule}")
    pdf = {"Title": f"klgap figure {name}", "Subject": summary, "Keywords": made_by,
           "Creator": provenance.command, "CreationDate": None}
    png = {"Title": f"klgap figure {name}", "Description": summary,
           "klgap:commit": provenance.commit, "klgap:config_hash": provenance.config_hash,
           "klgap:rule": provenance.rule, "klgap:command": provenance.command}
    return pdf, png


def rst_text(text: str) -> str:
    """Escapes reStructuredText's inline markup in plain text, keeping double-backquoted
    literals."""
    parts = re.split(r"(``[^`]+``)", text)
    return "".join(part if part.startswith("``") else re.sub(r"([\\*`|_])", r"\\\1", part)
                   for part in parts)


def caption_rst(name: str, provenance: Provenance) -> str:
    """Returns a figure's caption for Snakemake's report: its description, then what made it.

    Args:
      name: the figure (a key of ``FIGURES``).
      provenance: what made it.

    Returns:
      reStructuredText.
    """
    draw = FIGURES[name].draw
    return (f"{rst_text(caption(name))}\n\nMade by rule ``{provenance.rule}``: "
            f"``{provenance.command}`` (function ``{draw.__name__}`` of ``{draw.__module__}``), "
            f"commit ``{provenance.commit}``, configuration hash ``{provenance.config_hash}``.\n")
