"""The command ``klgap figures NAME``: reads the tables figure NAME is drawn from, draws it and
saves it as PDF and PNG (with its provenance), and its caption for the report."""

import argparse
import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from klgap import atomic
from klgap.errors import UserError
from klgap.paper import figure_registry
from klgap.paper.figure_registry import TABLE_OPTIONS
from klgap.paper.figures.provenance import Provenance, caption_rst, file_metadata
from klgap.paper.figures.registry import FIGURES
from klgap.paper.figures.style import set_style
from klgap.sweep import tables as aggregate


def load_tables(paths: list[Path], table: str) -> pd.DataFrame:
    """Reads and concatenates the per-dataset files of one table.

    Args:
      paths: the files, one per dataset.
      table: which table (a key of ``TABLE_OPTIONS``), for messages.

    Returns:
      One table, of the runs on every class (``tables.whole_dataset``: the figures do not draw
      runs on some classes).

    Raises:
      UserError: if a file is missing.
    """
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"{table} tables not found: {', '.join(missing)}; run "
                        f"`klgap {TABLE_OPTIONS[table][1]}` first")
    return aggregate.whole_dataset(aggregate.load_tables(paths, table))


def save(figure: plt.Figure, pdf: Path, png: Path, metadata: tuple[dict, dict]) -> None:
    """Saves a figure as vector PDF and PNG preview, each carrying its provenance.

    Args:
      figure: the figure (closed afterwards).
      pdf, png: the output paths (written atomically).
      metadata: ``(pdf, png)`` metadata from ``file_metadata``; the PDF has no timestamp, so
        rebuilds from the same commit and configuration are identical.
    """
    with atomic.atomic_path(pdf) as tmp:
        figure.savefig(tmp, format="pdf", bbox_inches="tight", dpi=300, metadata=metadata[0])
    with atomic.atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata=metadata[1])
    plt.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("figure", choices=sorted(FIGURES), help="which figure to draw")
    parser.add_argument("--summaries", type=Path, nargs="+",
                        help="summary.csv files written by aggregate")
    parser.add_argument("--histories", type=Path, nargs="+",
                        help="history.csv files written by histories")
    parser.add_argument("--latent-samples", type=Path, nargs="+",
                        help="latent_samples.csv files written by latent-samples")
    parser.add_argument("--sample-grids", type=Path, nargs="+",
                        help="sample_grids.csv files written by sample-grids")
    parser.add_argument("--pdf", type=Path, required=True, help="output PDF")
    parser.add_argument("--png", type=Path, required=True, help="output PNG preview")
    parser.add_argument("--commit", default="unknown",
                        help="git commit of the code, stored in the files' metadata")
    parser.add_argument("--config-hash", default="unknown",
                        help="short hash of the validated configuration, stored likewise")
    parser.add_argument("--rule", default="none (run by hand)",
                        help="the workflow rule that runs this command, stored likewise")
    parser.add_argument("--caption", type=Path, default=None,
                        help="optional output: the caption for Snakemake's report (.rst)")


def command_line(args: argparse.Namespace) -> str:
    """Returns the command that draws this figure again: its name, tables and outputs."""
    words = ["klgap", "figures", args.figure]
    for table in FIGURES[args.figure].tables:
        option = TABLE_OPTIONS[table][0]
        words += [f"--{option.replace('_', '-')}", *map(str, getattr(args, option))]
    return shlex.join(words + ["--pdf", str(args.pdf), "--png", str(args.png)])


def main(args: argparse.Namespace) -> None:
    """Draws one figure from the tables it needs and saves it."""
    figure = FIGURES[args.figure]
    tables = {}
    for table in figure.tables:
        option = TABLE_OPTIONS[table][0]
        paths = getattr(args, option)
        if not paths:
            raise UserError(f"figure {args.figure} is drawn from {table} tables: give "
                            f"--{option.replace('_', '-')}")
        # Runs on some classes (the ones alone) are not drawn.
        tables[table] = aggregate.whole_dataset(load_tables(paths, table))
        if not figure_registry.reads_every_objective(args.figure, table):
            tables[table] = aggregate.only_vae(tables[table])  # drawn against beta
    set_style()
    provenance = Provenance(args.commit, args.config_hash, args.rule, command_line(args))
    save(figure.draw(**tables), args.pdf, args.png, file_metadata(args.figure, provenance))
    if args.caption is not None:
        atomic.write_text(args.caption, caption_rst(args.figure, provenance))
    print(f"wrote {args.pdf} and {args.png}")
