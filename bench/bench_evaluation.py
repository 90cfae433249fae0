"""What each part of `klgap evaluate` costs on one trained model, in CPU and wall seconds.

Evaluates a trained run (``--rundir``, copied first: the evaluation writes into its run
directory) or, without one, a d_z = 10 model trained here for ``--epochs`` epochs, with one
thread: the whole evaluation as a sweep's run job does it (the dataset's committed feature
network, no classifier), with its own record of the fitted bound's, the sample quality's and
AIS's wall seconds; then the parts again one by one: the test split (K importance samples,
in-sample decomposition, minibatch estimates), the training split (the encoder and one-sample
decoder pass over it, the decomposition of the whole split, the held-out bracket), the generated
samples with the prior holes, and the fitted bound's density families, for all posteriors and
for each class's. CPU seconds of this process are reported beside wall seconds: on a busy
machine a one-thread process is made to wait, not to work more.

The script calls only interfaces that earlier commits have too, so the same script times an
earlier commit's code on the same machine and model (``PYTHONPATH=<worktree>/src``, ``--name``):
the before-and-after table of docs/performance.md.
Writes results/bench/<name>.csv (conventions of bench/benchlib.py).

Usage: .venv/bin/python bench/bench_evaluation.py --data results/data/mnist.npz
           [--rundir RUN] [--epochs 1] [--name evaluation] [--features results/features/mnist.npz]
           [--repeats 3] [--out CSV]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from klgap import atomic  # noqa: E402
from klgap.data import datasets as data
from klgap import estimators
from klgap.estimators import fitted_density
from klgap.evaluation import evaluate, fitted_bound

try:
    from klgap.evaluation import generation_metrics as generated, likelihood
except ImportError:  # an earlier commit, whose evaluate.py held these functions
    generated = likelihood = evaluate


def code_commit() -> str:
    """The commit of the klgap package this process imports (its source tree's HEAD)."""
    import klgap

    source = Path(klgap.__file__).resolve().parent
    result = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def trained_run(args, workdir: Path) -> Path:
    """The run directory to evaluate: a copy of ``--rundir``, or a model trained here."""
    rundir = workdir / "run"
    if args.rundir is not None:
        shutil.copytree(args.rundir, rundir)
        return rundir
    from klgap.config.runconfig import RunConfig
    from klgap.training import train

    train.train(RunConfig(data=str(args.data), rundir=str(rundir), latent_dim=10,
                          weights={"beta": 1.0}, seed=0, epochs=args.epochs, threads=1))
    return rundir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=benchlib.ROOT / "results" / "data" /
                        "fashion_mnist.npz")
    parser.add_argument("--rundir", type=Path, default=None,
                        help="a trained run to evaluate (default: train one here)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the model trained here")
    parser.add_argument("--features", type=Path, default=None,
                        help="the feature network (default: results/features/<dataset>.npz)")
    parser.add_argument("--iw-samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1,
                        help="whole evaluations timed, the fastest recorded (timings vary by a "
                             "few seconds from one to the next)")
    parser.add_argument("--name", default="evaluation", help="the CSV's name")
    parser.add_argument("--out", type=Path, default=None,
                        help="the CSV (default: results/bench/<name>.csv)")
    args = parser.parse_args(argv)
    from klgap.models import device, networks
    from klgap.models import vae as model

    report = benchlib.Report(args.name, args.out)
    device.configure(1)
    arrays = data.load(args.data)
    dataset = str(arrays["dataset"])
    features = args.features or benchlib.ROOT / "results" / "features" / f"{dataset}.npz"
    commit = code_commit()

    def timed(figure, function, note="", repeats=1):
        """Runs ``function`` ``repeats`` times; records and returns the fastest run's."""
        runs = []  # (meter, result)
        for _ in range(repeats):
            with benchlib.Meter() as meter:
                result = function()
            runs.append((meter, result))
        fastest, result = min(runs, key=lambda run: run[0].seconds)
        walls = ", ".join(f"{meter.seconds:.1f}" for meter, _ in runs)
        report.add(f"{figure} [cpu]", fastest.cpu_seconds, "s", note=note)
        report.add(f"{figure} [wall]", fastest.seconds, "s", note=f"other cores busy "
                   f"{fastest.other_cores:.2f}" + (f"; the fastest of {repeats} runs ({walls} s)"
                                                   if repeats > 1 else ""))
        return result

    with tempfile.TemporaryDirectory() as workdir:
        rundir = trained_run(args, Path(workdir))
        run = json.loads((rundir / "run.json").read_text())
        config = run["config"]
        weights = ", ".join(f"{name} {value:g}" for name, value in config["weights"].items())
        what = (f"klgap at {commit}; {dataset} {config['objective']} d_z {config['latent_dim']} "
                f"{weights} seed {config['seed']}, {config['epochs']} epochs")
        records = timed("whole evaluation (as a run job: feature network, no classifier)",
                        lambda: evaluate.evaluate(str(args.data), str(rundir), args.iw_samples,
                                                  [32, 256], threads=1,
                                                  features_path=str(features)), note=what,
                        repeats=args.repeats)
        for key in ("fitted_seconds", "quality_seconds", "ais_seconds"):
            report.add(f"  of which, the record's {key} [wall]", records[0][key], "s")
        vae = networks.build_model(config, (run["data_dim"],))
        model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))
    _, test = timed("test split (K importance samples, decomposition, minibatch)",
                    lambda: evaluate.split_metrics(vae, arrays["x_test_binary"], arrays["y_test"],
                                                   args.iw_samples, [32, 256]))
    *_, whole = timed("training split (train subset, whole split, nested subsets, bracket)",
                      lambda: evaluate.training_split_metrics(vae, arrays, test,
                                                              return_posterior=True))
    x = arrays["x_train_binary"].astype(np.float32)
    timed("  of which: encoder and one-sample decoder over the training split",
          lambda: likelihood.importance_weighted(vae, x, 1, evaluate.EVAL_SEED))
    timed("  of which: in-sample decomposition of the whole training split",
          lambda: estimators.kl_decomposition(whole["mu"], whole["sigma"], arrays["y_train"],
                                              num_z=min(evaluate.FULL_SPLIT_SAMPLES,
                                                        len(whole["mu"])),
                                              seed=evaluate.EVAL_SEED))
    timed("  of which: held-out bracket (training mixture at the test samples)",
          lambda: estimators.heldout_kl_decomposition(whole["mu"], whole["sigma"], test["mu"],
                                                      test["sigma"], arrays["y_train"],
                                                      test["labels"], seed=evaluate.EVAL_SEED))
    timed("generation (prior and ex-post samples, no classifier) and prior holes",
          lambda: generated.generation_metrics(lambda z: generated.decoded_means(vae, z),
                                               whole["mu"], whole["sigma"], None,
                                               seed=evaluate.EVAL_SEED))
    seed = fitted_bound.fitted_seed(evaluate.EVAL_SEED, config["seed"])
    for family in fitted_bound.FAMILIES:
        timed(f"fitted bound: family {family}, all posteriors",
              lambda: fitted_density.fitted_density_kl(
                  whole["mu"], whole["sigma"], test["mu"], test["sigma"], seed=seed,
                  families=(family,), num_threads=1))
    for family in fitted_bound.CLASS_FAMILIES:
        def by_class():
            for label in np.unique(test["labels"]):
                in_train, in_test = arrays["y_train"] == label, test["labels"] == label
                fitted_density.fitted_density_kl(
                    whole["mu"][in_train], whole["sigma"][in_train], test["mu"][in_test],
                    test["sigma"][in_test], seed=fitted_bound.fitted_seed(seed, int(label), 1),
                    families=(family,), num_threads=1)
        timed(f"fitted bound: family {family}, each class's posteriors", by_class)
    rows = {row["figure"]: float(row["value"]) for row in report.rows}
    whole_cpu = rows["whole evaluation (as a run job: feature network, no classifier) [cpu]"]
    report.write(f"evaluation of one {dataset} model at {commit}: {whole_cpu:.1f} CPU s; the "
                 f"record's fitted bound {records[0]['fitted_seconds']:.1f} s, sample quality "
                 f"{records[0]['quality_seconds']:.1f} s, AIS {records[0]['ais_seconds']:.1f} s")


if __name__ == "__main__":
    main()
