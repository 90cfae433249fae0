"""Shared fixtures: a prepared digits dataset (fast, bundled with scikit-learn)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory):
    """Path of the digits dataset prepared with seed 0."""
    from klgap import atomic
    from klgap.data import datasets as data

    path = tmp_path_factory.mktemp("data") / "digits.npz"
    atomic.savez(path, **data.prepare("digits", None, seed=0))
    return path


@pytest.fixture(scope="session")
def train_digits(digits_npz):
    """A function that trains the tests' small digits beta-VAE (d_z 2, beta 1, one hidden layer of
    32 units, seed 0) for some epochs into a run directory, and returns that directory."""
    from klgap.training import train

    def trained(rundir, epochs: int):
        train.train(train.RunConfig(data=str(digits_npz), rundir=str(rundir), latent_dim=2,
                                    weights={"beta": 1.0}, seed=0, epochs=epochs, batch_size=64,
                                    hidden=[32], threads=1))
        return rundir

    return trained
