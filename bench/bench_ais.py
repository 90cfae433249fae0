"""How far the evaluation's AIS log-likelihood (klgap.evaluation.ais) lies below longer runs, and
what each setting costs, to state the error of the chosen settings.

On a trained run's model (``--model RUN/model.npz``, built as its ``run.json`` describes; random
784-256-256-10 weights without it) and the evaluation's own AIS subset of the binarized test
split (``field_metrics.ais_subset``, seed ``evaluate.EVAL_SEED``), runs ``ais_log_likelihood``
at one thread for each setting (T steps, C chains, L leapfrog steps) and records:

- the mean AIS log p(x) over the images and its chains' standard error (the Monte Carlo error
  given the images);
- its paired difference to the longest setting (the last of ``--settings``): the mean over
  images of ll_setting(x) - ll_longest(x), an estimate of the setting's bias (AIS is a stochastic
  lower bound that tightens as T grows, so the longest is the least biased), with the paired
  standard error sd(difference) / sqrt(n) over images;
- the CPU seconds per image (a one-thread process on a busy machine waits, it does not work
  more, so CPU time is the quiet machine's wall time);
- the importance-weighted bound with K = ``--iw-samples`` on the same images, beside them.

Writes results/bench/ais.csv (conventions of bench/benchlib.py, the model named in the notes)
unless ``--no-csv``, and prints one SUMMARY line.

Usage: .venv/bin/python bench/bench_ais.py --data MNIST.npz [--model RUN/model.npz]
         [--images 50] [--settings 100,4,10 300,4,10 ...] [--iw-samples 1000] [--no-csv]
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from klgap import atomic  # noqa: E402
from klgap.errors import UserError  # noqa: E402
from klgap.evaluation import ais, evaluate, field_metrics, likelihood  # noqa: E402

# (T, C, L), the longest last (the reference of the differences). Wu et al. (2017) use several
# thousand intermediate distributions for VAEs; the evaluation's default is field_metrics'.
SETTINGS = ((100, 4, 10), (300, 4, 10), (300, 16, 10), (1000, 4, 10), (3000, 4, 10))
IW_SAMPLES = 1000
# The model without --model: the project's default MNIST architecture, random weights.
RANDOM_MODEL = {"latent_dim": 10, "hidden": [256, 256], "seed": 0}


def setting_label(setting: tuple[int, int, int]) -> str:
    """``(300, 4, 10)`` -> ``"T=300 C=4 L=10"``."""
    return "T={} C={} L={}".format(*setting)


def parse_setting(text: str) -> tuple[int, int, int]:
    """``"300,4,10"`` -> ``(300, 4, 10)``, for argparse."""
    parts = text.split(",")
    if len(parts) != 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"a setting is T,C,L (positive integers), got {text!r}")
    return tuple(int(part) for part in parts)


def paired_difference(values: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean over examples of values - reference, and its paired standard error.

    Args:
      values: per-example estimates, (n,).
      reference: the same examples' reference estimates, (n,).

    Returns:
      (mean difference, sd of the differences / sqrt(n)); the error is NaN for n = 1.
    """
    difference = np.asarray(values, np.float64) - np.asarray(reference, np.float64)  # (n,)
    se = (float(np.std(difference, ddof=1) / math.sqrt(len(difference)))
          if len(difference) > 1 else math.nan)
    return float(np.mean(difference)), se


def measure(vae, x: np.ndarray, settings, *, iw_samples: int, seed: int) -> dict:
    """Runs AIS for every setting on the same images, and the IW bound on them.

    Args:
      vae: a ``klgap.models.vae.VAE`` with the prior N(0, I).
      x: binary images, (n, P) float32.
      settings: (T, C, L) triples; the last is the reference of the differences.
      iw_samples: K of the importance-weighted bound.
      seed: seed of the chains and of the importance samples.

    Returns:
      ``{"settings": [one dict per setting: setting, mean, chains_se, difference,
      difference_se, cpu_seconds_per_image, wall_seconds, acceptance, step_size,
      effective_chains], "iw_samples", "iw_mean", "iw_difference", "iw_difference_se" (the
      IW bound's paired difference to the longest setting), "iw_cpu_seconds_per_image"}``.
    """
    ais.ais_log_likelihood(vae, x[:2], num_steps=2, num_chains=2)  # import and trace once
    with benchlib.Meter() as meter:
        iw_ll = likelihood.importance_weighted(vae, x, iw_samples, seed)[0].astype(np.float64)
    iw_cpu = meter.cpu_seconds / len(x)
    measured = []
    for setting in settings:
        num_steps, num_chains, num_leapfrog = setting
        with benchlib.Meter() as meter:
            result = ais.ais_log_likelihood(vae, x, num_steps=num_steps, num_chains=num_chains,
                                            num_leapfrog_steps=num_leapfrog, seed=seed)
        measured.append({"setting": tuple(setting), "per_example": result["log_likelihood"],
                         "mean": result["log_likelihood_mean"],
                         "chains_se": result["log_likelihood_mean_se"],
                         "cpu_seconds_per_image": meter.cpu_seconds / len(x),
                         "wall_seconds": meter.seconds, "other_cores": meter.other_cores,
                         "acceptance": result["acceptance_rate"],
                         "step_size": result["final_step_size"],
                         "effective_chains": result["effective_chains"]})
        print(f"# {setting_label(setting)}: {result['log_likelihood_mean']:.3f} "
              f"+- {result['log_likelihood_mean_se']:.3f}, {meter.cpu_seconds:.1f} CPU-s",
              flush=True)
    reference = measured[-1]["per_example"]  # (n,)
    for row in measured:
        row["difference"], row["difference_se"] = paired_difference(row.pop("per_example"),
                                                                    reference)
    iw_difference, iw_difference_se = paired_difference(iw_ll, reference)
    return {"settings": measured, "iw_samples": int(iw_samples),
            "iw_mean": float(np.mean(iw_ll)), "iw_difference": iw_difference,
            "iw_difference_se": iw_difference_se, "iw_cpu_seconds_per_image": iw_cpu}


def load_model(model_path: Path | None):
    """The model to measure and a description of it for the notes.

    Args:
      model_path: a run's ``model.npz`` (its ``run.json`` beside it), or None (random weights).

    Returns:
      (``klgap.models.vae.VAE``, description).

    Raises:
      UserError: no ``run.json`` beside the model, or a prior other than N(0, I) (AIS anneals
        from N(0, I)).
    """
    from klgap.models import networks
    from klgap.models import vae as vae_model

    if model_path is None:
        vae = vae_model.VAE.build(784, RANDOM_MODEL["latent_dim"], RANDOM_MODEL["hidden"],
                                  seed=RANDOM_MODEL["seed"])
        hidden = "-".join(map(str, RANDOM_MODEL["hidden"]))
        return vae, f"random weights, 784-{hidden}-{RANDOM_MODEL['latent_dim']}"
    run_file = model_path.parent / "run.json"
    if not run_file.is_file():
        raise UserError(f"{run_file} not found: give the model.npz of a finished run.")
    run = json.loads(run_file.read_text())
    config = run["config"]
    if networks.prior_of(config) != networks.STANDARD_PRIOR:
        raise UserError(f"{model_path}: objective {config['objective']} has a learned prior; "
                        "AIS here anneals from N(0, I). Give a run with the standard prior.")
    vae = networks.build_model(config, (run["data_dim"],))
    vae_model.set_weights(vae, atomic.load_npz(model_path))
    [(weight_name, weight)] = config["weights"].items()
    description = (f"{run['dataset']} {config['objective']} d_z={config['latent_dim']} "
                   f"{weight_name}={weight:g} seed {config['seed']}, {config['epochs']} epochs, "
                   f"trained at {run.get('git_commit', 'unknown')[:7]} "
                   f"(run {config.get('rundir', model_path.parent.name)})")
    return vae, description


def ais_images(args, num_images: int, seed: int) -> np.ndarray:
    """The evaluation's AIS subset of the binarized test split, (n, 784) float32."""
    from klgap.data import datasets as data

    if args.data is not None:
        x_test = data.load(args.data)["x_test_binary"]
    else:
        _, test, _ = data.load_idx_dataset("mnist", args.mnist_dir)
        x_test = (np.random.default_rng(0).random(test.x.shape) < test.x)
    rows = field_metrics.ais_subset(len(x_test), num_images, seed)
    return np.asarray(x_test[rows], dtype=np.float32)


def report_rows(report: "benchlib.Report", measured: dict, num_images: int, model: str) -> str:
    """Adds the figures to the report; returns the summary line."""
    reference = setting_label(measured["settings"][-1]["setting"])
    evaluation = setting_label((field_metrics.AIS_STEPS, field_metrics.AIS_CHAINS,
                                ais.NUM_LEAPFROG_STEPS))
    for row in measured["settings"]:
        label = setting_label(row["setting"])
        report.add(f"log p(x) mean [{label}]", row["mean"], "nats",
                   note=f"{num_images} test images (the evaluation's AIS subset), model: {model}")
        report.add(f"chains' standard error [{label}]", row["chains_se"], "nats")
        report.add(f"difference to {reference} [{label}]", row["difference"], "nats",
                   note="mean over images of this setting's minus the longest's: its bias "
                        "estimate")
        report.add(f"paired standard error of the difference [{label}]", row["difference_se"],
                   "nats", note="sd of the per-image differences / sqrt(images)")
        report.add(f"CPU seconds per image [{label}]", row["cpu_seconds_per_image"], "s",
                   note=f"one thread; wall {row['wall_seconds']:.1f} s for {num_images} images, "
                        f"other cores busy {row['other_cores']:.2f}; acceptance "
                        f"{row['acceptance']:.2f}, final step {row['step_size']:.3f}, effective "
                        f"chains {row['effective_chains']:.2f}")
    iw_label = f"IW K={measured['iw_samples']}"
    report.add(f"log p(x) mean [{iw_label}]", measured["iw_mean"], "nats",
               note="the importance-weighted bound on the same images (not AIS)")
    report.add(f"difference to {reference} [{iw_label}]", measured["iw_difference"], "nats")
    report.add(f"paired standard error of the difference [{iw_label}]",
               measured["iw_difference_se"], "nats")
    report.add(f"CPU seconds per image [{iw_label}]", measured["iw_cpu_seconds_per_image"], "s")
    by_label = {setting_label(row["setting"]): row for row in measured["settings"]}
    shown = by_label.get(evaluation, measured["settings"][0])
    return (f"{model}; {num_images} images; {setting_label(shown['setting'])} "
            f"{shown['mean']:.2f} +- {shown['chains_se']:.2f} nats, "
            f"{shown['difference']:+.2f} +- {shown['difference_se']:.2f} against {reference} "
            f"({measured['settings'][-1]['mean']:.2f}); {iw_label} {measured['iw_mean']:.2f}; "
            f"{shown['cpu_seconds_per_image']:.2f} CPU-s per image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a prepared MNIST dataset (.npz)")
    source.add_argument("--mnist-dir", type=Path, help="directory of the MNIST IDX files")
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained run's model.npz (run.json beside it); default: random "
                             "784-256-256-10 weights")
    parser.add_argument("--images", type=int, default=50, help="test images")
    parser.add_argument("--settings", type=parse_setting, nargs="+", default=list(SETTINGS),
                        metavar="T,C,L", help="the settings, the longest (the reference) last")
    parser.add_argument("--iw-samples", type=int, default=IW_SAMPLES,
                        help="K of the importance-weighted bound on the same images")
    parser.add_argument("--out", type=Path, default=None,
                        help="another CSV than results/bench/ais.csv (e.g. a trial's)")
    parser.add_argument("--no-csv", action="store_true",
                        help="print the figures only; do not write the CSV")
    args = parser.parse_args()
    from klgap.models import device

    report = benchlib.Report("ais", args.out)
    device.configure(1)
    vae, model = load_model(args.model)
    x = ais_images(args, args.images, evaluate.EVAL_SEED)  # (n, 784)
    measured = measure(vae, x, args.settings, iw_samples=args.iw_samples,
                       seed=evaluate.EVAL_SEED)
    summary = report_rows(report, measured, len(x), model)
    if args.no_csv:
        print(f"SUMMARY {report.name}: {summary}")
    else:
        report.write(summary)


if __name__ == "__main__":
    main()
