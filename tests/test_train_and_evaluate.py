"""Tests of ``klgap train-and-evaluate``, the sweep's job per run."""

import json

from klgap import cli
from klgap.evaluation import evaluate


def run_job(data, rundir):
    cli.main(["train-and-evaluate", "--data", str(data), "--rundir", str(rundir), "--beta", "1",
              "--seed", "0", "--latent-dim", "2", "--epochs", "2", "--hidden", "16", "16",
              "--threads", "1", "--iw-samples", "2", "--minibatch-sizes"])


def test_a_trained_run_is_only_evaluated_again(digits_npz, tmp_path):
    """Killed during its evaluation, the job is run again: training is not redone."""
    rundir = tmp_path / "run"
    run_job(digits_npz, rundir)
    trained = {name: (rundir / name).stat().st_mtime_ns
               for name in ("run.json", "model.npz", "history.csv")}
    first = json.loads((rundir / "metrics.json").read_text())
    (rundir / "metrics.json").unlink()  # as if killed before the evaluation wrote it
    run_job(digits_npz, rundir)
    assert {name: (rundir / name).stat().st_mtime_ns for name in trained} == trained
    again = json.loads((rundir / "metrics.json").read_text())
    drop = evaluate.TIMING_KEYS  # the times, fitted_seconds among them
    assert ([{k: v for k, v in r.items() if k not in drop} for r in again]
            == [{k: v for k, v in r.items() if k not in drop} for r in first])
