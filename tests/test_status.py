"""Tests of `klgap status` on synthetic run directories (as the training jobs leave them)."""

import json
import os
import time

import numpy as np
import pytest
import yaml

from klgap import cli
from klgap.sweep import layout
from klgap.sweep import status

EPOCHS = 5


def history(epochs: int, seconds: float) -> np.ndarray:
    """A training history of ``epochs`` rows whose last column (seconds) is ``seconds``."""
    rows = np.zeros((epochs, 8))
    rows[:, 0] = np.arange(1, epochs + 1)
    rows[:, -1] = seconds
    return rows


@pytest.fixture
def sweep(tmp_path):
    """A sweep of four digits runs: evaluated, training (2 of 5 epochs), stopped, waiting."""
    config = {"outdir": str(tmp_path / "out"), "datasets": ["digits"], "latent_dims": [2],
              "weights": [0.5, 1.0], "seeds": [0, 1], "epochs": EPOCHS, "threads_per_run": 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    runs = layout.grid(["digits"], [2], [0.5, 1.0], [0, 1])
    done, training, stopped = (layout.run_dir(config["outdir"], run) for run in runs[:3])
    for rundir in (done, training, stopped):
        rundir.mkdir(parents=True)
    np.savetxt(done / "history.csv", history(EPOCHS, 2.0), delimiter=",", header="h")
    (done / "run.json").write_text("{}")
    (done / "metrics.json").write_text(json.dumps({}))
    np.savez(training / "checkpoint.npz", history=history(2, 3.0))
    np.savez(stopped / "checkpoint.npz", history=history(1, 3.0))
    old = time.time() - 3600
    os.utime(stopped / "checkpoint.npz", (old, old))
    return tmp_path / "config.yaml", runs


def test_status_counts_runs_and_estimates_what_is_left(sweep, capsys):
    config, runs = sweep
    cli.main(["status", "--config", str(config), "--jobs", "2"])
    out = capsys.readouterr().out
    assert "1 of 4 runs trained (1 evaluated), 1 training, 1 stopped mid-training, 1 waiting" in out
    # The training run: 3 epochs left at 3 s each.
    assert "training digits z=2 beta=0.5 seed=1: epoch 2/5, 3.0 s/epoch, ETA 0:00:09" in out
    assert "stopped digits z=2 beta=1 seed=0: epoch 1/5" in out
    # Left: 3 x 3 s + 4 x 3 s + 5 epochs of the waiting run at the dataset's mean (8/3 s).
    left = 9 + 12 + 5 * (2.0 + 3.0 + 3.0) / 3
    assert f"remaining training: {status.clock(left)} of job time, about " \
           f"{status.clock(left / 2)} on 2 parallel job(s)" in out


def test_status_of_a_sweep_not_started(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"datasets": ["digits"], "latent_dims": [2], "weights": [1],
                                      "seeds": [0, 1]}))
    cli.main(["status", "--config", str(config), "--outdir", str(tmp_path / "none")])
    out = capsys.readouterr().out
    assert "0 of 2 runs trained" in out and "2 waiting" in out
    assert "not known until a first epoch is timed" in out
