"""Tests of klgap.sweep.layout: which runs a sweep has, and their directories."""

import pytest

from klgap.sweep import layout
from klgap.errors import UserError

MAIN = {"objective": "vae", "datasets": ["digits", "mnist"], "latent_dims": [2, 10],
        "weights": [0.5, 2.0], "seeds": [0, 1]}


def test_sweep_is_the_main_grid_then_each_experiment_without_repeats():
    config = {**MAIN, "experiments": [
        {"datasets": ["mnist"], "latent_dims": [20], "weights": [1.0]},
        {"latent_dims": [2], "weights": [2.0]},  # already in the main grid
        {"datasets": ["fashion_mnist"], "latent_dims": [20]},  # not a dataset of the config
    ]}
    runs = layout.sweep(config)
    main = layout.grid(MAIN["datasets"], MAIN["latent_dims"], MAIN["weights"], MAIN["seeds"])
    extra = layout.grid(["mnist"], [20], [1.0], [0, 1])
    assert runs == main + extra
    assert layout.sweep(config, "mnist") == [r for r in main + extra if r.dataset == "mnist"]


def test_run_directories_name_the_objectives_weight_and_read_back():
    run = layout.Run("digits", 2, 0.1, 3)
    assert str(layout.run_subdir(run)) == "vae/z2/beta0.1/seed3"
    assert layout.parse_run_subdir("digits", "vae/z2/beta0.1/seed3") == run
    for subdir in ("vae/z2/lambda0.1/seed3", "vae/z2/beta0.10/seed3", "vae/beta1/seed0",
                   "nope/z2/beta1/seed0"):
        with pytest.raises(UserError):
            layout.parse_run_subdir("digits", subdir)


def test_snapshots_from_before_the_weights_key_read_as_today():
    snapshot = {"datasets": ["digits"], "latent_dims": [2], "betas": [0.5, 2.0], "seeds": [0]}
    assert layout.upgrade_snapshot(snapshot) == {"datasets": ["digits"], "latent_dims": [2],
                                                 "weights": [0.5, 2.0], "seeds": [0]}
    assert layout.sweep(snapshot) == layout.grid(["digits"], [2], [0.5, 2.0], [0])
    assert "betas" in snapshot  # not changed in place


def test_runs_on_some_classes_have_one_more_path_component_and_read_back():
    import pandas as pd

    run = layout.Run("digits", 2, 1.0, 0, "vae", (1, 7))
    assert str(layout.run_subdir(run)) == "vae/classes1-7/z2/beta1/seed0"
    assert layout.parse_run_subdir("digits", "vae/classes1-7/z2/beta1/seed0") == run
    assert str(layout.run_subdir(run._replace(classes=None))) == "vae/z2/beta1/seed0"
    assert layout.classes_label(None) == "all" and layout.classes_label([7, 1]) == "1-7"
    assert layout.parse_classes_label("1-7") == (1, 7)
    assert layout.parse_classes_label(1) == (1,) and layout.parse_classes_label("all") is None
    older = pd.DataFrame({"dataset": ["digits"], "objective": ["vae"], "latent_dim": [2]})
    upgraded = layout.upgrade_classes(older)
    assert list(upgraded.columns) == ["dataset", "objective", "classes", "latent_dim"]
    assert list(upgraded["classes"]) == ["all"]
    read_back = layout.upgrade_classes(pd.DataFrame({"objective": ["vae"], "classes": [1]}))
    assert list(read_back["classes"]) == ["1"]  # a column of labels read as integers
