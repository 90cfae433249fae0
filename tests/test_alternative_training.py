"""The alternatives to the per-example KL trained through the commands: ``klgap train`` for each
new objective (finite history, the learned prior in the model), ``train-together`` equal to the
separate runs where the objective can be stacked, and refused by name where it cannot."""

import csv
import json

import numpy as np
import pytest

from klgap import cli
from klgap.training import engine
from test_alternative_objectives import MMD_OBJECTIVES, NEW


# ------------------------------------------------------------------------------------------
# Training through the commands


def history(rundir) -> np.ndarray:
    with open(rundir / "history.csv") as f:
        return np.array([[float(v) for k, v in row.items() if k != "seconds"]
                         for row in csv.DictReader(f)])


SHAPE = ["--latent-dim", "2", "--epochs", "2", "--batch-size", "64", "--hidden", "16",
         "--threads", "1"]


@pytest.mark.parametrize("name", list(NEW))
def test_train_writes_a_finite_history(digits_npz, tmp_path, name):
    cli.main(["train", "--data", str(digits_npz), "--rundir", str(tmp_path / "run"),
              "--objective", name, f"--{NEW[name]}", "2", "--seed", "1",
              "--num-pseudo-inputs", "30"] + SHAPE)
    rows = history(tmp_path / "run")
    assert rows.shape == (2, len(engine.HISTORY_COLUMNS) - 1) and np.all(np.isfinite(rows))
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["objective"] == name and run["config"]["num_pseudo_inputs"] == 30
    weights = np.load(tmp_path / "run" / "model.npz")
    expected_prior = {"vamp": ["prior/pseudo_inputs"],
                      "classprior": ["class_prior/loc", "class_prior/log_scale"]}.get(name, [])
    assert sorted(k for k in weights.files if "prior" in k) == expected_prior
    if name == "vamp":
        assert weights["prior/pseudo_inputs"].shape == (30, 64)


@pytest.mark.parametrize("name", MMD_OBJECTIVES)
def test_train_together_matches_the_separate_runs(digits_npz, tmp_path, name):
    option = f"--{NEW[name]}"
    for seed, weight in ((3, "10"), (4, "0.5")):
        cli.main(["train", "--data", str(digits_npz), "--rundir", str(tmp_path / f"run{seed}"),
                  "--objective", name, option, weight, "--seed", str(seed)] + SHAPE)
    cli.main(["train-together", "--data", str(digits_npz), "--rundirs",
              str(tmp_path / "together3"), str(tmp_path / "together4"), "--seeds", "3", "4",
              "--objective", name, option + "s", "10", "0.5"] + SHAPE)
    for seed in (3, 4):
        np.testing.assert_allclose(history(tmp_path / f"together{seed}"),
                                   history(tmp_path / f"run{seed}"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["vamp", "classprior"])
def test_train_together_refuses_the_learned_priors_by_name(digits_npz, tmp_path, name, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train-together", "--data", str(digits_npz), "--rundirs", str(tmp_path / "a"),
                  str(tmp_path / "b"), "--seeds", "0", "1", "--objective", name, "--betas", "1"]
                 + SHAPE)
    assert f"objective {name} cannot be trained stacked" in capsys.readouterr().err
    assert not list(tmp_path.rglob("checkpoint.npz"))
