"""What each part of `klgap evaluate` costs on a Fashion-MNIST model, in CPU seconds.

Trains a d_z = 10 model for one epoch (its numbers do not matter, only the shapes), then times
each part of the evaluation with one thread: the test split (K importance samples, in-sample
decomposition, minibatch estimates), the same-size train subset, and the parts that issue 16
added (the whole training split's encoder and one-sample decoder pass, its decomposition, the
nested subsets and the held-out bracket). CPU seconds of this process are reported beside wall
seconds: on a busy machine a one-thread process is made to wait, not to work more.
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

from klgap import atomic, data, estimators, evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=benchlib.ROOT / "results" / "data" /
                        "fashion_mnist.npz")
    parser.add_argument("--iw-samples", type=int, default=100)
    args = parser.parse_args()
    from klgap import device, model, train
    from klgap.runconfig import RunConfig

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
    timed("train subset of the test split's size",
          lambda: evaluate.split_metrics(vae, arrays["x_train_eval_binary"],
                                         arrays["y_train_eval"], args.iw_samples, sizes))
    timed("added: whole training split, nested subsets, held-out bracket",
          lambda: evaluate.training_split_metrics(vae, arrays, test))
    x = arrays["x_train_binary"].astype(np.float32)
    *_, mu, sigma = timed("  of which: encoder and one-sample decoder over the training split",
                          lambda: evaluate.importance_weighted(vae, x, 1, evaluate.EVAL_SEED))
    timed("  of which: in-sample decomposition of the whole training split",
          lambda: estimators.kl_decomposition(mu, sigma, arrays["y_train"],
                                              seed=evaluate.EVAL_SEED))
    timed("  of which: held-out bracket (training mixture at the test samples)",
          lambda: estimators.heldout_kl_decomposition(mu, sigma, test["mu"], test["sigma"],
                                                      arrays["y_train"], test["labels"],
                                                      seed=evaluate.EVAL_SEED))
    rows = {row["figure"]: float(row["value"]) for row in report.rows}
    added = rows["added: whole training split, nested subsets, held-out bracket [cpu]"]
    before = (rows["test split (K importance samples, decomposition, minibatch) [cpu]"]
              + rows["train subset of the test split's size [cpu]"])
    report.write(f"evaluation of one Fashion-MNIST model: {before:.1f} CPU s before issue 16, "
                 f"+{added:.1f} CPU s for the whole training split, nested subsets and the "
                 f"held-out bracket")


if __name__ == "__main__":
    main()
