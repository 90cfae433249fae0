"""The command ``klgap tex``: reads the aggregated tables, the configuration and the provenance,
and writes ``numbers.tex`` and the tables."""

import argparse
import json
from pathlib import Path

import pandas as pd
import yaml

from klgap import atomic
from klgap.errors import UserError
from klgap.paper.tex.appendix import figure_sources_tex, parse_figure_sources
from klgap.paper.tex.numbers import class_subset_rows, numbers_tex
from klgap.paper.tex.tables import (alternatives_table_tex, bracket_table_tex,
                                    convergence_table_tex, objectives_table_tex, table_tex)
from klgap.sweep.tables import load_summaries, load_tables, only_vae, whole_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--summaries", type=Path, nargs="+", required=True,
                        help="summary.csv files written by aggregate")
    parser.add_argument("--histories", type=Path, nargs="+", required=True,
                        help="history.csv files written by histories")
    parser.add_argument("--config", type=Path, required=True,
                        help="the validated configuration, <outdir>/config.yaml")
    parser.add_argument("--provenance", type=Path, required=True,
                        help="<outdir>/provenance.json")
    parser.add_argument("--benchmarks", type=Path, required=True, help="<outdir>/benchmarks.csv")
    parser.add_argument("--config-hash", default="unknown",
                        help="short hash of the validated configuration")
    parser.add_argument("--config-label", default="unknown",
                        help="which configuration files and overrides were used")
    parser.add_argument("--commit", default="unknown", help="git commit of the code")
    parser.add_argument("--numbers", type=Path, required=True, help="output: macros (.tex)")
    parser.add_argument("--table", type=Path, required=True, help="output: table (.tex)")
    parser.add_argument("--figures", nargs="+", default=[], metavar="NAME=TABLE[,TABLE]",
                        help="the figures drawn, with their tables (for --figure-sources)")
    parser.add_argument("--figure-sources", type=Path, default=None,
                        help="output: table of each figure's rule, command and tables (.tex)")
    parser.add_argument("--latent-samples", type=Path, nargs="+", default=[],
                        help="latent_samples.csv files (the class sizes of the test splits)")
    parser.add_argument("--objectives-table", type=Path, default=None,
                        help="output: table of every objective (.tex)")
    parser.add_argument("--convergence-table", type=Path, default=None,
                        help="output: table of the final slopes of the test curves (.tex)")
    parser.add_argument("--bracket-table", type=Path, default=None,
                        help="output: table of the bracket on the beta-VAE's aggregate KL (.tex)")
    parser.add_argument("--alternatives-table", type=Path, default=None,
                        help="output: table of the alternatives against the beta-VAE (.tex)")


def check_inputs(summary: pd.DataFrame, history: pd.DataFrame, provenance: dict,
                 benchmarks: pd.DataFrame) -> None:
    """Stops, naming the file to remake, when an input holds no runs.

    Raises:
      UserError: the summaries or histories are empty, or the provenance records no runs.
    """
    empty = [name for name, table in (("summary", summary), ("history", history),
                                       ("benchmarks", benchmarks)) if not len(table)]
    if empty:
        raise UserError(f"the {', '.join(empty)} table(s) hold no rows: the paper needs a "
                        f"finished sweep; remake them with `make sweep`")
    if not provenance.get("runs_trained") or not provenance.get("devices"):
        raise UserError("provenance.json records no trained runs (runs_trained is 0 or devices "
                        "is empty); restore the committed one (`git checkout results/`) or "
                        "remake it with `make sweep`")


def main(args: argparse.Namespace) -> None:
    """Writes ``numbers.tex`` and the table."""
    # Table 1 and the named values are about the beta-VAE; the look-ups, the objectives' and the
    # convergence table cover every objective.
    # Runs on some classes (column classes) have look-ups of their own (class_subset_rows).
    every_run = load_summaries(args.summaries)
    summary = whole_dataset(every_run)
    history = whole_dataset(load_tables(args.histories, "history"))
    config = yaml.safe_load(args.config.read_text())
    provenance = json.loads(args.provenance.read_text())
    benchmarks = pd.read_csv(args.benchmarks)
    check_inputs(only_vae(summary), history, provenance, benchmarks)
    latent_samples = (load_tables(args.latent_samples, "latent_samples")
                      if args.latent_samples else None)
    atomic.write_text(args.numbers, numbers_tex(summary, history, config, provenance, benchmarks,
                                                args.commit, args.config_label, args.config_hash,
                                                latent_samples, class_subset_rows(every_run)))
    atomic.write_text(args.table, table_tex(only_vae(summary)))
    print(f"wrote {args.numbers} and {args.table}")
    if args.objectives_table is not None:
        atomic.write_text(args.objectives_table, objectives_table_tex(summary))
        print(f"wrote {args.objectives_table}")
    for path, write in ((args.bracket_table, bracket_table_tex),
                        (args.alternatives_table, alternatives_table_tex)):
        if path is not None:
            atomic.write_text(path, write(summary))
            print(f"wrote {path}")
    if args.convergence_table is not None:
        atomic.write_text(args.convergence_table, convergence_table_tex(history))
        print(f"wrote {args.convergence_table}")
    if args.figure_sources is not None:
        if not args.figures:
            raise UserError("--figure-sources needs --figures NAME=TABLE[,TABLE...]")
        atomic.write_text(args.figure_sources,
                          figure_sources_tex(parse_figure_sources(args.figures)))
        print(f"wrote {args.figure_sources}")
