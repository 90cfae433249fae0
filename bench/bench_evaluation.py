"""What each part of `klgap evaluate` costs on a Fashion-MNIST model, in CPU seconds.

Trains a d_z = 10 model for one epoch (its numbers do not matter, only the shapes), then times
each part of the evaluation with one thread: the test split (K importance samples, in-sample
decomposition, minibatch estimates), the training split (the encoder and one-sample decoder pass
over it, the decomposition of a subset of the test split's size, of the whole split and of the
nested subsets, the held-out bracket), and the generated samples with the prior holes. CPU
seconds of this process are reported beside wall seconds: on a busy machine a one-thread process
is made to wait, not to work more.
Writes results/bench/evaluation.csv (conventions of bench/benchlib.py).

Usage: .venv/bin/python bench/bench_evaluation.py [--data results/data/fashion_mnist.npz]
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from klgap import atomic  # noqa: E402
from klgap.data import datasets as data
from klgap.estimators import decomposition as estimators
from klgap.evaluation import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=benchlib.ROOT / "results" / "data" /
                        "fashion_mnist.npz")
    parser.add_argument("--iw-samples", type=int, default=100)
    args = parser.parse_args()
    from klgap.models import device
    from klgap.models import vae as model
    from klgap.training import train
    from klgap.config.runconfig import RunConfig

    report = benchlib.Report("evaluation")
    device.configure(1)
    arrays = data.load(args.data)
    with tempfile.TemporaryDirectory() as rundir:
        train.train(RunConfig(data=str(args.data), rundir=rundir, latent_dim=10,
                              weights={"beta": 1.0}, seed=0, epochs=1, threads=1))
        vae = model.VAE.build(arrays["x_train"].shape[1], 10, [256, 256], 0)
        model.set_weights(vae, atomic.load_npz(Path(rundir) / "model.npz"))

    def timed(figure, function):
        with benchlib.Meter() as meter:
            result = function()
        report.add(f"{figure} [cpu]", meter.cpu_seconds, "s")
        report.add(f"{figure} [wall]", meter.seconds, "s", note=f"other cores busy "
                   f"{meter.other_cores:.2f}")
        return result

    sizes = [64, 256, 1024]
    _, test = timed("test split (K importance samples, decomposition, minibatch)",
                    lambda: evaluate.split_metrics(vae, arrays["x_test_binary"], arrays["y_test"],
                                                   args.iw_samples, sizes))
    *_, whole = timed("training split (train subset, whole split, nested subsets, bracket)",
                      lambda: evaluate.training_split_metrics(vae, arrays, test,
                                                              return_posterior=True))
    x = arrays["x_train_binary"].astype(np.float32)
    timed("  of which: encoder and one-sample decoder over the training split",
          lambda: evaluate.importance_weighted(vae, x, 1, evaluate.EVAL_SEED))
    timed("  of which: in-sample decomposition of the whole training split",
          lambda: estimators.kl_decomposition(whole["mu"], whole["sigma"], arrays["y_train"],
                                              num_z=evaluate.FULL_SPLIT_SAMPLES,
                                              seed=evaluate.EVAL_SEED))
    timed("  of which: held-out bracket (training mixture at the test samples)",
          lambda: estimators.heldout_kl_decomposition(whole["mu"], whole["sigma"], test["mu"],
                                                      test["sigma"], arrays["y_train"],
                                                      test["labels"], seed=evaluate.EVAL_SEED))
    timed("generation (prior and ex-post samples, no classifier) and prior holes",
          lambda: evaluate.generation_metrics(lambda z: evaluate.decoded_means(vae, z),
                                              whole["mu"], whole["sigma"], None))
    rows = {row["figure"]: float(row["value"]) for row in report.rows}
    parts = ["test split (K importance samples, decomposition, minibatch) [cpu]",
             "training split (train subset, whole split, nested subsets, bracket) [cpu]",
             "generation (prior and ex-post samples, no classifier) and prior holes [cpu]"]
    report.write(f"evaluation of one Fashion-MNIST model: {sum(rows[p] for p in parts):.1f} CPU s "
                 f"(test {rows[parts[0]]:.1f}, training split {rows[parts[1]]:.1f}, generation "
                 f"{rows[parts[2]]:.1f})")
