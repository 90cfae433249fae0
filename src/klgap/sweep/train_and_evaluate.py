"""``klgap train-and-evaluate``: train one run, then evaluate it, in one process.

The sweep's job per run (rule ``run``): the same ``klgap.training.train.train`` and
``klgap.evaluation.evaluate.evaluate`` as the two separate commands, with the same outputs, so
the results are those of ``train`` followed by ``evaluate``; one process pays TensorFlow's
start-up, the data loading and the model building once instead of twice. Killed during training,
it resumes from the checkpoint; killed during evaluation, training is complete (its checkpoint
has every epoch and ``run.json`` exists), so its outputs are left as they are and only the
evaluation is done again.
"""

import argparse
from pathlib import Path

from klgap.training import engine
from klgap.evaluation import evaluate
from klgap.training import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``train``'s arguments and what the evaluation computes."""
    train.add_arguments(parser)
    evaluate.add_evaluation_arguments(parser)


def main(args: argparse.Namespace) -> None:
    """Checks the classifier, trains (or resumes), then evaluates."""
    from klgap.evaluation import classifier, feature_reference
    from klgap.data import datasets as data

    # A missing or foreign classifier or feature network stops the job before any training.
    if args.classifier is not None or args.features is not None:
        arrays = data.load(args.data)
        dataset, data_dim = str(arrays["dataset"]), int(arrays["x_train"].shape[1])
    if args.classifier is not None:
        classifier.load_classifier(args.classifier, dataset, data_dim)
    if args.features is not None:
        feature_reference.check_file(args.features, dataset, data_dim)
    config = train.run_config(args)
    state = engine.read_checkpoint(config)  # refuses one of another configuration
    finished = (state is not None and state.epochs == config.epochs
                and (Path(config.rundir) / "run.json").is_file())
    if finished:
        print(f"[{config.rundir}] trained already (all {config.epochs} epochs); evaluating",
              flush=True)
    else:
        train.train(config)
    evaluate.evaluate(args.data, args.rundir, args.iw_samples, args.minibatch_sizes, args.threads,
                      args.classifier, **evaluate.evaluation_settings(args))
