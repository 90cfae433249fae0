"""Command line: ``python -m klgap <command> ...``, one sub-command per module.

Each command module exposes ``add_arguments(parser)`` and ``main(args)``. Modules are imported
only when their command runs, so ``--help`` and light commands do not import TensorFlow.
"""

import argparse
import importlib
import sys

from klgap.errors import UserError

# command -> (module, one-line help)
COMMANDS = {
    "prepare": ("klgap.data.datasets", "Prepare a dataset as an .npz file."),
    "classifier": ("klgap.evaluation.classifier",
                   "Train a dataset's label classifier (judges generated samples)."),
    "feature-network": ("klgap.evaluation.feature_reference",
                        "Train a dataset's feature network (FID, KID, precision/recall) "
                        "and score its floor."),
    "train": ("klgap.training.train", "Train one VAE (resumes from its last checkpoint)."),
    "train-together": ("klgap.training.batched",
                       "Train several VAEs of one shape as one batched computation (GPUs)."),
    "train-and-evaluate": ("klgap.sweep.train_and_evaluate",
                           "Train one VAE, then evaluate it, in one process (the sweep's job)."),
    "evaluate": ("klgap.evaluation.evaluate",
                 "Evaluate one trained VAE: ELBO, IW-LL, KL decomposition, "
                 "generated samples, prior holes."),
    "aggregate": ("klgap.sweep.tables", "Collect per-run metrics into tidy tables and summaries."),
    "histories": ("klgap.sweep.histories", "Collect the runs' training histories into one table."),
    "latent-samples": ("klgap.sweep.latent_samples",
                       "Sample the aggregate posteriors of 2-D runs for the latent-space figure."),
    "sample-grids": ("klgap.sweep.sample_grids",
                     "Collect the runs' decoded prior and ex-post samples for the sample figures."),
    "figures": ("klgap.paper.figures.command", "Draw the figures from the aggregated tables."),
    "tex": ("klgap.paper.tex.command", "Write LaTeX macros and tables from the aggregated tables."),
    "combine-shards": ("klgap.sweep.shards",
                       "Combine the tables and provenance of a sweep's shards."),
    "provenance": ("klgap.sweep.provenance", "Record commits, versions, devices and wall times."),
    "machine": ("klgap.sweep.floor", "Measure this machine's one-thread float32 matmul rate."),
    "verify": ("klgap.sweep.verify", "Retrain a sample of the committed runs here and compare."),
    "status": ("klgap.sweep.status",
               "Show how far a sweep is: runs done and training, epochs, ETA."),
    "findings": ("klgap.paper.markdown.command",
                 "Print the README's findings or docs/performance.md."),
    "config-docs": ("klgap.config.docs",
                    "Write the configuration reference (Markdown) from the config schema."),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """Builds the parser; only the module of the chosen command is imported.

    Args:
      argv: command-line arguments without the program name.

    Returns:
      The argument parser.
    """
    parser = argparse.ArgumentParser(prog="klgap", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parses arguments and runs the chosen command; errors exit with status 2 and a message."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        args.handler(args)
    except UserError as error:
        fail(args.command, str(error))
    except (FileNotFoundError, IsADirectoryError) as error:
        fail(args.command, f"{error.strerror}: {error.filename}; make it first, or fix the path")
    except Exception as error:
        pandas = sys.modules.get("pandas")
        if pandas is None or not isinstance(error, pandas.errors.EmptyDataError):
            raise
        fail(args.command, f"an input table is an empty file ({error}); remake it with the rule "
                           f"that writes it, or restore the committed one with `git checkout`")


def fail(command: str, message: str) -> None:
    """Prints ``klgap <command>: error: <message>`` (no traceback) and exits with status 2."""
    print(f"klgap {command}: error: {message}", file=sys.stderr)
    sys.exit(2)
