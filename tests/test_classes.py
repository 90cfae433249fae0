"""Training on some classes only (e.g. the ones alone): the dataset filter, RunConfig, the
command ``klgap train --classes``."""

import json
import re

import numpy as np
import pytest

from klgap import atomic, cli
from klgap.config.runconfig import RunConfig
from klgap.data import datasets as data
from klgap.errors import UserError
from klgap.training import train


def prepared_like(rng) -> dict:
    """A small dict with the prepared dataset's arrays (as ``datasets.prepare`` writes them)."""
    n, m, p = 40, 15, 4
    x_train, x_test = rng.random((n, p)).astype(np.float32), rng.random((m, p)).astype(np.float32)
    y_train, y_test = rng.integers(0, 4, n), rng.integers(0, 4, m)
    train_eval_index = np.sort(rng.choice(n, size=m, replace=False))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "train_eval_index": train_eval_index, "y_train_eval": y_train[train_eval_index],
            "x_train_eval_binary": (x_train[train_eval_index] > 0.5).astype(np.uint8),
            "x_test_binary": (x_test > 0.5).astype(np.uint8),
            "x_train_binary": (x_train > 0.5).astype(np.uint8),
            "nested_order": rng.permutation(n), "dataset": np.array("toy"), "seed": np.array(0)}


def test_select_classes_keeps_every_array_consistent():
    arrays = prepared_like(np.random.default_rng(0))
    kept = data.select_classes(arrays, [2, 1])
    train_rows = np.flatnonzero(np.isin(arrays["y_train"], [1, 2]))
    test_rows = np.flatnonzero(np.isin(arrays["y_test"], [1, 2]))
    for key in ("x_train", "y_train", "x_train_binary"):
        np.testing.assert_array_equal(kept[key], arrays[key][train_rows])
    for key in ("x_test", "y_test", "x_test_binary"):
        np.testing.assert_array_equal(kept[key], arrays[key][test_rows])
    # row numbers point to the same examples as before, in the same order
    np.testing.assert_array_equal(train_rows[kept["nested_order"]],
                                  [i for i in arrays["nested_order"] if i in set(train_rows)])
    assert sorted(kept["nested_order"]) == list(range(len(train_rows)))
    np.testing.assert_array_equal(kept["x_train_binary"][kept["train_eval_index"]],
                                  kept["x_train_eval_binary"])
    np.testing.assert_array_equal(kept["y_train"][kept["train_eval_index"]], kept["y_train_eval"])
    assert set(kept["y_train_eval"]) <= {1, 2}
    np.testing.assert_array_equal(kept["classes"], [1, 2])
    assert kept["dataset"] == arrays["dataset"] and kept["seed"] == arrays["seed"]
    assert len(arrays["y_train"]) == 40  # the input is left as it was


def test_select_classes_refuses_a_class_without_examples():
    arrays = prepared_like(np.random.default_rng(1))
    with pytest.raises(UserError, match=r"no training example has the label\(s\) \[7\]"):
        data.select_classes(arrays, [1, 7])


def config(digits_npz, rundir, **overrides) -> RunConfig:
    values = dict(data=str(digits_npz), rundir=str(rundir), latent_dim=2, seed=0, epochs=1,
                  weights={"beta": 1.0}, batch_size=64, hidden=[16], threads=1)
    return RunConfig(**{**values, **overrides})


@pytest.mark.parametrize("classes", [[], [1, 1], [-1], ["1"], [True]])
def test_bad_classes_are_refused(digits_npz, tmp_path, classes):
    with pytest.raises(UserError, match=r"classes must be a non-empty list of distinct labels "
                                        r">= 0, got " + re.escape(repr(classes))):
        config(digits_npz, tmp_path, classes=classes).validate()


def test_classes_enter_the_identity_and_name_only_when_set(digits_npz, tmp_path):
    everything = config(digits_npz, tmp_path)
    ones = config(digits_npz, tmp_path, classes=[1])
    assert "classes" not in json.loads(everything.identity())
    assert json.loads(ones.identity())["classes"] == [1]
    assert everything.name("digits") == "digits vae z=2 beta=1.0 seed=0"
    assert ones.name("digits") == "digits classes=1 vae z=2 beta=1.0 seed=0"
    assert "num_pseudo_inputs" not in json.loads(everything.identity())
    vamp = config(digits_npz, tmp_path, objective="vamp", num_pseudo_inputs=30)
    assert json.loads(vamp.identity())["num_pseudo_inputs"] == 30


def test_train_the_ones_alone(digits_npz, tmp_path, capsys):
    """`klgap train --classes 1`: trained and tested on the ones only; another selection (or none)
    cannot resume its checkpoint."""
    arrays = atomic.load_npz(digits_npz)
    rundir = tmp_path / "ones"
    options = ["--data", str(digits_npz), "--rundir", str(rundir), "--beta", "1", "--seed", "0",
               "--latent-dim", "2", "--epochs", "2", "--batch-size", "64", "--hidden", "16",
               "--threads", "1"]
    cli.main(["train", *options, "--classes", "1"])
    run = json.loads((rundir / "run.json").read_text())
    assert run["num_train"] == int(np.sum(arrays["y_train"] == 1)) < len(arrays["y_train"]) // 5
    assert run["config"]["classes"] == [1]
    assert "digits classes=1 vae" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["train", *options])
    assert "belongs to a different configuration" in capsys.readouterr().err


def test_the_class_prior_refuses_labels_it_has_no_prior_for(digits_npz, tmp_path):
    arrays = dict(atomic.load_npz(digits_npz))
    arrays["y_train"] = arrays["y_train"] + 3  # labels 3..12
    path = tmp_path / "shifted.npz"
    atomic.savez(path, **arrays)
    with pytest.raises(UserError, match=r"labels 0..9, but .* has labels 0..12"):
        train.load_data(config(path, tmp_path, objective="classprior"))
    assert len(train.load_data(config(path, tmp_path))["y_train"]) == len(arrays["y_train"])


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_bad_numbers_of_pseudo_inputs_are_refused(digits_npz, tmp_path, value):
    with pytest.raises(UserError, match="the number of pseudo-inputs must be an int >= 1"):
        config(digits_npz, tmp_path, objective="vamp", num_pseudo_inputs=value).validate()
