"""Tests of training: learning, determinism, resumption, bad input."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tensorflow as tf

from klgap import atomic
from klgap.training import batched
from klgap.training import objectives
from klgap.training import train
from klgap.errors import UserError


def config(digits_npz, rundir, epochs, **overrides):
    values = dict(data=str(digits_npz), rundir=str(rundir), latent_dim=2, beta=1.0, seed=3,
                  epochs=epochs, batch_size=64, hidden=[32], threads=1)
    values.update(overrides)
    return train.RunConfig(weights={"beta": values.pop("beta")}, **values)


def history(rundir):
    with open(rundir / "history.csv") as f:
        return [{k: float(v) for k, v in row.items() if k != "seconds"}
                for row in csv.DictReader(f)]


def test_loss_decreases_on_digits(digits_npz, tmp_path):
    train.train(config(digits_npz, tmp_path, epochs=8))
    rows = history(tmp_path)
    assert len(rows) == 8
    assert rows[-1]["train_elbo"] > rows[0]["train_elbo"] + 5  # ELBO in nats rises
    assert rows[-1]["test_elbo"] > rows[0]["test_elbo"]
    assert (tmp_path / "run.json").exists() and (tmp_path / "model.npz").exists()


def test_same_seed_gives_identical_metrics_and_weights(digits_npz, tmp_path):
    train.train(config(digits_npz, tmp_path / "a", epochs=3))
    train.train(config(digits_npz, tmp_path / "b", epochs=3))
    train.train(config(digits_npz, tmp_path / "c", epochs=3, seed=4))
    assert history(tmp_path / "a") == history(tmp_path / "b")
    assert history(tmp_path / "a") != history(tmp_path / "c")
    a, b = atomic.load_npz(tmp_path / "a/model.npz"), atomic.load_npz(tmp_path / "b/model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_gives_same_result_as_uninterrupted(digits_npz, tmp_path):
    train.train(config(digits_npz, tmp_path / "straight", epochs=5))
    train.train(config(digits_npz, tmp_path / "resumed", epochs=2))  # "interrupted" after 2
    train.train(config(digits_npz, tmp_path / "resumed", epochs=5))
    assert history(tmp_path / "straight") == history(tmp_path / "resumed")
    a = atomic.load_npz(tmp_path / "straight/model.npz")
    b = atomic.load_npz(tmp_path / "resumed/model.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_checkpoint_of_other_config_is_refused(digits_npz, tmp_path):
    train.train(config(digits_npz, tmp_path, epochs=1))
    with pytest.raises(UserError, match="different configuration.*delete"):
        train.train(config(digits_npz, tmp_path, epochs=2, beta=2.0))


@pytest.mark.parametrize("overrides, message", [
    ({"beta": -1.0}, "beta must be >= 0"),
    ({"latent_dim": 0}, "latent size must be >= 1"),
    ({"epochs": 0}, "epochs must be >= 1"),
])
def test_bad_config_fails_before_work(digits_npz, tmp_path, overrides, message):
    with pytest.raises(UserError, match=message):
        train.train(config(digits_npz, tmp_path / "run", **{"epochs": 1, **overrides}))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("path", ["single", "stacked"])
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(digits_npz, tmp_path,
                                                              monkeypatch, path):
    def run(epochs):
        return (train.train(config(digits_npz, tmp_path, epochs=epochs))
                if path == "single" else batched.train_together(
                    [config(digits_npz, tmp_path, epochs=epochs)]))

    run(1)
    good = atomic.load_npz(tmp_path / "checkpoint.npz")

    def exploding(self, terms, weights, step_seed):
        return tf.reduce_mean(terms.distortion, -1) * float("nan")

    monkeypatch.setattr(objectives.BetaVAE, "loss", exploding)  # NaN gradients poison weights
    with pytest.raises(UserError, match=r"z=2 beta=1.0 seed=3\] non-finite loss in epoch 2.*"
                                        r"epoch 1"):
        run(3)
    kept = atomic.load_npz(tmp_path / "checkpoint.npz")
    assert len(kept["history"]) == 1
    assert all(np.array_equal(good[k], kept[k]) for k in good)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches(digits_npz, tmp_path):
    """Kills the training process at random moments; the resumed run matches a clean one."""
    rng = np.random.default_rng(2026)
    args = ["--data", str(digits_npz), "--latent-dim", "2", "--beta", "1", "--seed", "5",
            "--epochs", "40", "--batch-size", "32", "--hidden", "64", "--threads", "1"]
    command = [sys.executable, "-m", "klgap", "train"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # The clean run trains beside the killed one (one thread each).
    clean = subprocess.Popen(command + args + ["--rundir", str(tmp_path / "clean")], env=env)
    killed = tmp_path / "killed"
    for _ in range(3):
        process = subprocess.Popen(command + args + ["--rundir", str(killed)], env=env,
                                   stdout=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (killed / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    (killed / ".tmp-checkpoint-stale.npz").write_bytes(b"half")  # as a kill mid-write leaves
    subprocess.run(command + args + ["--rundir", str(killed)], check=True, env=env)
    assert clean.wait() == 0
    assert history(tmp_path / "clean") == history(killed)
    assert not list(killed.glob(".tmp-*"))
