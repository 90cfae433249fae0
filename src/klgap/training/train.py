"""``klgap train``: train one VAE, with a checkpoint per epoch and exact resumption.

The step, the epoch loop and the checkpoint are the training core's (``klgap.training.engine``);
this module builds the one model, resumes it and writes the finished run. A run killed at any point
and started again ends with bitwise the same weights and metrics as one never interrupted (CPU).
"""

import argparse
import csv
import io
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from klgap import atomic
from klgap.config import schema as config_schema
from klgap.data import datasets as data
from klgap.training import engine
from klgap.training import objectives
from klgap.models import networks
from klgap.training.engine import HISTORY_COLUMNS
from klgap.config.runconfig import RunConfig

# Classes of the class-conditional prior (klgap.models.vae.NUM_CLASSES, without importing TF).
CLASS_PRIOR_CLASSES = 10


def history_to_csv(history: np.ndarray) -> str:
    """Formats the history array (epochs, len(HISTORY_COLUMNS)) as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in history:
        writer.writerow([int(row[0])] + [repr(float(v)) for v in row[1:]])
    return out.getvalue()


def finish_run(config: RunConfig, arrays: dict, weights: dict[str, np.ndarray],
               history: np.ndarray, device_name: str, start_time: float, **extra) -> dict:
    """Writes a finished run's model, history and, last, its ``run.json``.

    Args:
      config: the run's configuration.
      arrays: the prepared dataset, as from ``klgap.data.datasets.load``.
      weights: the final weights, as from ``klgap.models.vae.get_weights``.
      history: (epochs, len(HISTORY_COLUMNS)).
      device_name: as from ``klgap.models.device.configure``.
      start_time: ``time.time()`` when this process started on the run.
      **extra: further metadata.

    Returns:
      The run metadata written to ``run.json``.
    """
    from klgap.sweep import provenance

    rundir = Path(config.rundir)
    atomic.savez(rundir / "model.npz", **weights)
    atomic.write_text(rundir / "history.csv", history_to_csv(history))
    metadata = {
        "config": asdict(config),
        "dataset": str(arrays["dataset"]),
        "data_dim": int(arrays["x_train"].shape[1]),
        "num_train": int(arrays["x_train"].shape[0]),
        "device": device_name,
        "wall_time_seconds_this_process": time.time() - start_time,
        "train_seconds_all_epochs": float(history[:, -1].sum()),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_sources": json.loads(str(arrays["sources_json"])),
        **extra,
        **provenance.describe(),
    }
    atomic.write_json(rundir / "run.json", metadata)  # written last: marks the run complete
    return metadata


def train(config: RunConfig) -> dict:
    """Trains (or resumes) one run and writes its outputs into ``config.rundir``.

    Args:
      config: the run's configuration.

    Returns:
      The run metadata also written to ``run.json``.

    Raises:
      UserError: bad configuration, missing data, or a non-finite loss (the last good
        checkpoint is kept).
    """
    config.validate()
    arrays = load_data(config)
    from klgap.models import device  # TensorFlow imports are slow
    from klgap.models import vae as vae_model

    device_name = device.configure(config.threads)
    start_time = time.time()
    rundir = Path(config.rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_temporaries(rundir)  # from a process killed mid-write
    vae = networks.build_model(config, arrays["x_train"].shape[1:])
    [history] = engine.train_models(vae, [config], arrays, [engine.read_checkpoint(config)],
                                    config.epochs, str(arrays["dataset"]))
    return finish_run(config, arrays, vae_model.get_weights(vae), history, device_name,
                      start_time)


def load_data(config: RunConfig) -> dict:
    """The prepared dataset of a run, restricted to its ``classes`` if it has any.

    Raises:
      UserError: missing data, a class without examples, or labels that the objective's
        class-conditional prior has no class for.
    """
    from klgap.errors import UserError

    arrays = data.load(config.data)
    if config.classes is not None:
        arrays = data.select_classes(arrays, config.classes)
    if objectives.get(config.objective).needs_labels:
        labels = np.concatenate([arrays["y_train"], arrays["y_test"]])
        if labels.min() < 0 or labels.max() >= CLASS_PRIOR_CLASSES:
            raise UserError(f"objective {config.objective} learns a prior for each of the labels "
                            f"0..{CLASS_PRIOR_CLASSES - 1}, but {config.data} has labels "
                            f"{labels.min()}..{labels.max()}.")
    return arrays


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundir", required=True, help="output directory of the run")
    add_objective_arguments(parser)
    parser.add_argument("--seed", type=int, required=True)
    add_shape_arguments(parser)
    parser.add_argument("--classes", type=int, nargs="+", default=None,
                        help="train and test on the examples of these labels only (e.g. 1: the "
                             "ones alone); default: every example")
    parser.add_argument("--num-pseudo-inputs", type=int,
                        default=networks.DEFAULT_NUM_PSEUDO_INPUTS,
                        help="K, the learned pseudo-inputs of the VampPrior (objective vamp; "
                             "ignored by the others)")


def add_objective_arguments(parser: argparse.ArgumentParser, per_run: bool = False) -> None:
    """Adds ``--objective`` and one option per weight of any objective (``--beta``).

    Args:
      parser: the command's parser.
      per_run: options take one value per run, or one for all, and are plural (``--betas``).
    """
    parser.add_argument("--objective", choices=list(objectives.OBJECTIVES),
                        default=config_schema.default("objective"),
                        help=config_schema.description("objective"))
    for name in objectives.weight_names():
        meaning = "; ".join(f"{cls.name}: {cls.weights[name]}"
                            for cls in objectives.OBJECTIVES.values() if name in cls.weights)
        parser.add_argument(f"--{name}s" if per_run else f"--{name}", dest=name, type=float,
                            nargs="+" if per_run else None, default=None,
                            help=meaning + ("; one per run, or one for all" if per_run else ""))


def objective_weights(args: argparse.Namespace) -> dict:
    """Returns the chosen objective's weights from the parsed options (as given: values or lists).

    Raises:
      UserError: a weight of the objective is missing.
    """
    from klgap.errors import UserError

    names = objectives.get(args.objective).weights
    missing = [name for name in names if getattr(args, name) is None]
    if missing:
        raise UserError(f"objective {args.objective} needs "
                        + ", ".join(f"--{name}" for name in missing) + ".")
    return {name: getattr(args, name) for name in names}


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the arguments that runs trained together share (``train``, ``train-together``)."""
    parser.add_argument("--latent-dim", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    for key, option in (("batch_size", {"type": int}), ("learning_rate", {"type": float}),
                        ("hidden", {"type": int, "nargs": "+"}), ("network", {"type": str})):
        parser.add_argument("--" + key.replace("_", "-"), default=config_schema.default(key),
                            help=config_schema.description(key), **option)
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra-op threads (default: all cores)")


def run_config(args: argparse.Namespace) -> RunConfig:
    """Returns the run's configuration from the parsed ``train`` options."""
    return RunConfig(data=args.data, rundir=args.rundir, latent_dim=args.latent_dim,
                     objective=args.objective, weights=objective_weights(args),
                     seed=args.seed, epochs=args.epochs, batch_size=args.batch_size,
                     learning_rate=args.learning_rate, hidden=args.hidden, network=args.network,
                     threads=args.threads, num_pseudo_inputs=args.num_pseudo_inputs,
                     classes=args.classes)


def main(args: argparse.Namespace) -> None:
    """Runs ``train``."""
    train(run_config(args))
