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
