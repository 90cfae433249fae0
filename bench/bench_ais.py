"""What AIS log-likelihoods (klgap.evaluation.ais) cost on an MNIST-size VAE, to choose settings.

Builds the project's 784-256-256-10 VAE (random weights by default, or a trained ``model.npz``
with ``--model``), binarizes MNIST test images, and times ``ais_log_likelihood`` with one thread
for a few settings of T (steps), C (chains) and L (leapfrog steps). The cost is about
T x (C + A) x L decoder gradients per image (A adaptation chains), so the examples per
CPU-second of one setting predict the others; each setting runs on ``--images`` images and the
time of 1,000 images is extrapolated. CPU seconds are reported beside wall seconds: on a busy
machine a one-thread process is made to wait, not to work more. Writes
results/bench/ais.csv (conventions of bench/benchlib.py) unless ``--no-csv``.

Usage: .venv/bin/python bench/bench_ais.py [--images 100] [--model RUN/model.npz] [--no-csv]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from klgap import atomic  # noqa: E402
from klgap.data import datasets as data  # noqa: E402
from klgap.evaluation import ais  # noqa: E402

# (T, C, L); Wu et al. (2017) use several thousand intermediate distributions for VAEs.
SETTINGS = ((100, 16, 10), (300, 16, 10), (1000, 16, 10), (1000, 4, 10), (1000, 16, 5))


def mnist_test_binary(args) -> np.ndarray:
    """The binarized MNIST test images (N, 784) float32: a prepared dataset's, or from IDX files."""
    if args.data is not None:
        return data.load(args.data)["x_test_binary"].astype(np.float32)
    _, test, _ = data.load_idx_dataset("mnist", args.mnist_dir)
    rng = np.random.default_rng(0)
    return (rng.random(test.x.shape) < test.x).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="a prepared MNIST dataset (.npz); default: the IDX files")
    parser.add_argument("--mnist-dir", type=Path,
                        default=benchlib.ROOT.parent / "shared" / "data" / "mnist",
                        help="directory of the MNIST IDX files (used without --data)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained run's model.npz (d_z = 10, hidden 256-256); "
                             "default: random weights")
    parser.add_argument("--images", type=int, default=100, help="test images per setting")
    parser.add_argument("--no-csv", action="store_true",
                        help="print the figures only; do not write results/bench/ais.csv")
    args = parser.parse_args()
    from klgap.models import device
    from klgap.models import vae as vae_model

    report = benchlib.Report("ais")
    device.configure(1)
    x = mnist_test_binary(args)[:args.images]  # (N, 784)
    vae = vae_model.VAE.build(x.shape[1], 10, [256, 256], seed=0)
    if args.model is not None:
        vae_model.set_weights(vae, atomic.load_npz(args.model))
    weights = "trained" if args.model else "random"

    ais.ais_log_likelihood(vae, x[:2], num_steps=2, num_chains=2)  # import and trace once
    rates = []
    for num_steps, num_chains, num_leapfrog in SETTINGS:
        label = f"T={num_steps} C={num_chains} L={num_leapfrog}"
        with benchlib.Meter() as meter:
            result = ais.ais_log_likelihood(vae, x, num_steps=num_steps, num_chains=num_chains,
                                            num_leapfrog_steps=num_leapfrog, seed=0)
        per_cpu_second = len(x) / meter.cpu_seconds
        rates.append((label, per_cpu_second))
        report.add(f"AIS examples per CPU second [{label}]", per_cpu_second, "ex/s",
                   note=f"{len(x)} images, {weights} weights, wall {meter.seconds:.1f} s, other "
                        f"cores busy {meter.other_cores:.2f}")
        report.add(f"AIS CPU hours for 1,000 images [{label}]",
                   1000 / per_cpu_second / 3600, "h")
        report.add(f"AIS log p(x) mean [{label}]", result["log_likelihood_mean"], "nats",
                   note=f"se {result['log_likelihood_mean_se']:.3f}, acceptance "
                        f"{result['acceptance_rate']:.2f}, step {result['final_step_size']:.3f},"
                        f" effective chains {result['effective_chains']:.1f}")
    summary = "; ".join(f"{label}: {rate:.3g} ex/CPU-s" for label, rate in rates)
    if args.no_csv:
        print(f"SUMMARY {report.path.stem}: {summary}")
    else:
        report.write(summary)


if __name__ == "__main__":
    main()
