"""docs/extending.md, followed step by step: a toy objective, a dataset kept as one .npz, a toy
figure and a linear network, each registered the way the checklist says and then used."""

import json
import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from klgap import cli
from klgap.config.runconfig import RunConfig
from klgap.data import datasets
from klgap.errors import UserError
from klgap.models import networks
from klgap.paper import figure_registry
from klgap.training import objectives

from test_workflow import REPO

DOC = (REPO / "docs" / "extending.md").read_text()


class CodeNormObjective(objectives.WeightedObjective):
    """Checklist step 1: distortion plus beta times half the squared norm of the posterior mean."""

    name = "codenorm"
    weights: ClassVar[dict[str, str]] = {"beta": "weight of |mu|^2 / 2 (>= 0)"}
    label, weight_symbol, style = "code norm", r"\beta", (5, "P")
    tables = ("objectives", "convergence")

    def loss(self, terms, weights, step_seed):
        import tensorflow as tf

        return tf.reduce_mean(terms.distortion + weights["beta"] * 0.5
                              * tf.reduce_sum(tf.square(terms.loc), axis=-1), axis=-1)


def test_the_checklists_name_the_files_they_ask_to_edit():
    for path in ("src/klgap/training/objectives/__init__.py", "src/klgap/config/config.schema.yaml",
                 "src/klgap/data/datasets.py", "src/klgap/paper/figure_registry.py",
                 "src/klgap/paper/figures/registry.py", "src/klgap/models/networks.py",
                 "src/klgap/training/batched.py"):
        assert f"`{path}`" in DOC and (REPO / path).is_file(), path
    for name in ("OBJECTIVES", "LOADERS", "load_npz_source", "FIGURE_TABLES", "DRAW",
                 "EVERY_OBJECTIVE_FIGURES", "NETWORKS", "STACKABLE_NETWORKS", "build_model"):
        assert f"`{name}`" in DOC, name


def test_a_new_objective_trains_and_appears_in_the_tables_and_figures(monkeypatch, digits_npz,
                                                                      tmp_path):
    from klgap.paper.figures import style
    from klgap.paper.tex import tables
    from klgap.training import train

    monkeypatch.setitem(objectives.OBJECTIVES, "codenorm", CodeNormObjective)  # step 2
    config = RunConfig(data=str(digits_npz), rundir=str(tmp_path / "run"), latent_dim=2, seed=0,
                       epochs=2, objective="codenorm", weights={"beta": 1.0}, hidden=[16],
                       threads=1)
    train.train(config)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert len(history) == 2 and np.isfinite(history.to_numpy(dtype=float)).all()
    assert "codenorm" in objectives.listed_in("objectives")
    assert style.objective_style("codenorm") == (style.CATEGORICAL[5], "P")
    rows = [{"dataset": "digits", "objective": objective, "latent_dim": 2, "weight": 1.0,
             "split": "test", "metric": metric, "mean": 1.0}
            for objective in ("vae", "codenorm") for metric in tables.OBJECTIVE_METRICS]
    table = tables.objectives_table_tex(pd.DataFrame(rows))
    assert r"code norm & $\beta = 1$" in table


def test_a_dataset_kept_as_one_npz_is_prepared_and_trained(monkeypatch, tmp_path):
    from klgap.training import train

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(200, 4, 4), dtype=np.uint8)  # (N, 4, 4) grey levels
    labels = rng.integers(0, 3, size=200)
    np.savez(tmp_path / "toy.npz", x_train=images[:150], y_train=labels[:150],
             x_test=images[150:], y_test=labels[150:])
    monkeypatch.setitem(datasets.LOADERS, "toy", lambda data_dir, seed:
                        datasets.load_npz_source(data_dir / "toy.npz"))  # step 1
    arrays = datasets.prepare("toy", tmp_path, seed=0)
    assert arrays["x_train"].shape == (150, 16) and arrays["x_test"].shape == (50, 16)
    np.testing.assert_allclose(arrays["x_train"] * 255, images[:150].reshape(150, 16))
    path = tmp_path / "toy_prepared.npz"
    np.savez(path, **arrays)
    train.train(RunConfig(data=str(path), rundir=str(tmp_path / "run"), latent_dim=2, seed=0,
                          epochs=1, batch_size=32, hidden=[8], threads=1))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["dataset"] == "toy"
    np.savez(tmp_path / "toy.npz", x_train=images[:150], y_train=labels[:149],
             x_test=images[150:], y_test=labels[150:])
    with pytest.raises(UserError, match="do not match"):
        datasets.prepare("toy", tmp_path, seed=0)


def test_a_new_figure_is_drawn_by_the_figures_command(monkeypatch, tmp_path):
    import matplotlib.pyplot as plt

    from klgap.paper.figures import command, registry

    def rate_histogram(summary):
        """Toy figure: the histogram of the test rates."""
        figure, ax = plt.subplots()
        rates = summary[(summary["metric"] == "rate") & (summary["split"] == "test")]
        ax.hist(rates["mean"])
        return figure

    monkeypatch.setitem(figure_registry.FIGURE_TABLES, "rate_histogram", ("summary",))  # step 2
    monkeypatch.setitem(registry.DRAW, "rate_histogram", rate_histogram)
    monkeypatch.setitem(command.FIGURES, "rate_histogram",
                        registry.Figure(rate_histogram, ("summary",)))
    pdf, png = tmp_path / "rate_histogram.pdf", tmp_path / "rate_histogram.png"
    cli.main(["figures", "rate_histogram", "--summaries", str(REPO / "results/mnist/summary.csv"),
              "--pdf", str(pdf), "--png", str(png)])
    assert pdf.stat().st_size > 0 and png.stat().st_size > 0


def build_linear(data_shape, latent_dim, hidden, seed):
    """Checklist step 1: a linear encoder and decoder (no hidden layers)."""
    from klgap.models import vae

    (data_dim,) = data_shape
    return vae.VAE(vae.MLP([data_dim, 2 * latent_dim], seed, "encoder"),
                   vae.MLP([latent_dim, data_dim], seed + 1, "decoder"), latent_dim)


def test_a_new_network_trains_evaluates_and_is_refused_by_the_batched_path(monkeypatch,
                                                                            digits_npz, tmp_path):
    from klgap.evaluation import evaluate
    from klgap.training import batched, train

    monkeypatch.setitem(networks.NETWORKS, "linear", build_linear)  # step 2
    config = RunConfig(data=str(digits_npz), rundir=str(tmp_path / "run"), latent_dim=2, seed=0,
                       epochs=2, hidden=[16], network="linear", threads=1)
    config.validate()
    train.train(config)
    model = networks.build_model(config, (64,))
    assert sorted(tuple(v.shape) for v in model.trainable_variables) == [(2, 64), (4,), (64,),
                                                                          (64, 4)]
    records = evaluate.evaluate(str(digits_npz), str(tmp_path / "run"), iw_samples=5,
                                minibatch_sizes=[32], threads=1)
    [test] = [record for record in records if record["split"] == "test"]
    assert math.isfinite(test["elbo"]) and math.isfinite(test["aggregate_kl"])
    with pytest.raises(UserError, match="'linear'"):
        batched.stacked_vae(config, (64,), [0, 1])
