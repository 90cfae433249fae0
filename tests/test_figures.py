"""Tests of the figures and of the tables they are drawn from besides the summaries: the collected
training histories, the samples of 2-D aggregate posteriors and the decoded sample grids, on
synthetic run directories."""

import inspect
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts
from PIL import Image

from klgap.sweep import tables as aggregate
from klgap import cli
from klgap.paper import figure_registry
from klgap.paper.figures import (curves, decomposition, estimators, latent, objectives, panels,
                                 registry, samples, style)
from klgap.paper.figures import classes as class_figures
from klgap.paper.figures import provenance as figure_provenance
from klgap.sweep import histories
from klgap.sweep import latent_samples
from klgap.sweep import layout
from klgap.sweep import sample_grids

HISTORY_COLUMNS = ["epoch", "train_elbo", "train_rate", "train_distortion", "test_elbo",
                   "test_rate", "test_distortion", "seconds"]
BETAS = [0.1, 0.5, 1.0, 4.0]
SEEDS = [0, 1, 2]
TEST_SIZE = 300
CLASSES = 3
GRID = 16  # decoded samples of each kind per run (samples.npz)


def write_run(runs_dir: Path, run: layout.Run, rng: np.random.Generator, epochs: int = 4) -> None:
    """Writes a run's history.csv and posterior_test.npz with random values."""
    rundir = runs_dir / layout.run_subdir(run)
    rundir.mkdir(parents=True, exist_ok=True)
    history = pd.DataFrame(rng.normal(size=(epochs, len(HISTORY_COLUMNS))),
                           columns=HISTORY_COLUMNS)
    history["epoch"] = np.arange(1, epochs + 1)
    history.to_csv(rundir / "history.csv", index=False)
    mu = rng.normal(size=(TEST_SIZE, run.latent_dim))
    sigma = rng.uniform(0.1, 1.0, size=(TEST_SIZE, run.latent_dim))
    np.savez(rundir / "posterior_test.npz", mu=mu, sigma=sigma,
             labels=rng.integers(0, CLASSES, TEST_SIZE))


def write_samples(runs_dir: Path, run: layout.Run, rng: np.random.Generator,
                  image_shape: tuple[int, int] = (8, 8)) -> dict[str, np.ndarray]:
    """Writes a run's samples.npz with random grey levels, as evaluate does; returns its arrays."""
    rundir = runs_dir / layout.run_subdir(run)
    rundir.mkdir(parents=True, exist_ok=True)
    pixels = image_shape[0] * image_shape[1]
    arrays = {"prior": rng.integers(0, 256, (GRID, pixels), dtype=np.uint8),  # (G, P)
              "expost": rng.integers(0, 256, (GRID, pixels), dtype=np.uint8),
              "image_shape": np.array(image_shape, dtype=np.int64)}
    np.savez(rundir / "samples.npz", **arrays)
    return arrays


def synthetic_records(runs: list[layout.Run], rng: np.random.Generator) -> list[dict]:
    """Metric records with every metric a figure draws, for both splits."""
    records = []
    for run in runs:
        for split in ("test", "train"):
            mutual_info, aggregate_kl = rng.uniform(1, 5), rng.uniform(0, 2)
            label_info = rng.uniform(0, math.log(CLASSES))
            record = {**run._asdict(), "split": split, "log_n": math.log(TEST_SIZE),
                      "rate": mutual_info + aggregate_kl, "mutual_info": mutual_info,
                      "aggregate_kl": aggregate_kl, "moment_matched_kl": aggregate_kl / 4,
                      "fitted_aggregate_kl_lower": aggregate_kl * rng.uniform(0.2, 1.0),
                      "ais_ll": -rng.uniform(85, 120), "prior_fid": rng.uniform(10, 150),
                      "fitted_fid": rng.uniform(5, 50),
                      "label_info": label_info, "distortion": rng.uniform(30, 40)}
            record.update({f"class_kl_{c}": aggregate_kl + label_info * rng.uniform(0.5, 1.5)
                           for c in range(CLASSES)})
            for batch_size in (16, 64):
                for method in ("mws", "mss"):
                    estimate = mutual_info + rng.normal()
                    record[f"{method}_mutual_info_b{batch_size}"] = estimate
                    record[f"{method}_aggregate_kl_b{batch_size}"] = record["rate"] - estimate
            records.append(record)
    return records


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Paths of every table a figure needs, for a synthetic sweep of digits with one run missing.

    The summary comes from synthetic metric records; the histories and latent samples are written
    by their commands from synthetic run directories.
    """
    outdir = tmp_path_factory.mktemp("out")
    rng = np.random.default_rng(3)
    runs = layout.grid(["digits"], [2, 10], BETAS, SEEDS)
    finished = runs[:-1]
    runs_dir = layout.runs_dir(outdir, "digits")
    for run in finished:
        write_run(runs_dir, run, rng)
    paths = {"summary": outdir / "digits" / "summary.csv",
             "history": outdir / "digits" / "history.csv",
             "latent_samples": outdir / "digits" / "latent_samples.csv",
             "sample_grids": outdir / "digits" / "sample_grids.csv"}
    # Samples of every run but one seed 0 (its cell falls back to seed 1), and of one other
    # objective's run, which only the sample figures draw.
    mmd_run = layout.Run("digits", 10, 100.0, 0, "mmd")
    for run in [r for r in finished if r != layout.Run("digits", 10, 1.0, 0)] + [mmd_run]:
        write_samples(runs_dir, run, rng)
    summary = aggregate.summarize(aggregate.tidy(synthetic_records(finished, rng)), runs)
    aggregate.write_csv(paths["summary"], summary)
    sweep_options = ["--dataset", "digits", "--runs-dir", str(runs_dir)]
    cli.main(["histories", *sweep_options, "--runs", *[str(layout.run_subdir(r)) for r in runs],
              "--out", str(paths["history"])])
    cli.main(["latent-samples", *sweep_options, "--weights", *map(str, BETAS),
              "--seeds", *map(str, SEEDS), "--points", "100",
              "--out", str(paths["latent_samples"])])
    cli.main(["sample-grids", *sweep_options, "--runs",
              *[str(layout.run_subdir(r)) for r in runs + [mmd_run]],
              "--out", str(paths["sample_grids"])])
    return paths


def draw(name: str, tables: dict, directory: Path) -> tuple[Path, Path]:
    """Draws one figure through the command line, giving it every table."""
    pdf, png = directory / f"{name}.pdf", directory / f"{name}.png"
    cli.main(["figures", name, "--summaries", str(tables["summary"]),
              "--histories", str(tables["history"]),
              "--latent-samples", str(tables["latent_samples"]),
              "--sample-grids", str(tables["sample_grids"]),
              "--pdf", str(pdf), "--png", str(png)])
    return pdf, png


@pytest.mark.parametrize("name", sorted(registry.FIGURES))
def test_every_figure_is_written_as_pdf_and_png(tmp_path, tables, name):
    pdf, png = draw(name, tables, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def test_every_figure_function_is_documented():
    for name, figure in registry.FIGURES.items():
        assert figure.draw.__doc__ and "Returns:" in figure.draw.__doc__, name


# The modules of the figures' drawing functions (klgap.paper.figures.*).
FIGURE_MODULES = (class_figures, curves, decomposition, estimators, latent, objectives,
                  samples)


def figure_functions() -> list:
    """The functions of the figure modules that draw a whole figure from tables: each parameter
    names a table (``figure_registry.TABLE_OPTIONS``) and the result is a matplotlib figure."""
    found = []
    for module in FIGURE_MODULES:
        for function in vars(module).values():
            if not inspect.isfunction(function) or function.__module__ != module.__name__:
                continue
            signature = inspect.signature(function)
            if (signature.return_annotation is plt.Figure and signature.parameters
                    and set(signature.parameters) <= set(figure_registry.TABLE_OPTIONS)):
                found.append(function)
    return found


def test_the_registry_names_every_figure_function_once_with_known_tables():
    drawn = [figure.draw for figure in registry.FIGURES.values()]
    assert len(set(drawn)) == len(drawn)  # no function under two names
    assert set(drawn) == set(figure_functions())  # and none left out
    assert list(registry.FIGURES) == list(figure_registry.FIGURE_TABLES)
    for name, figure in registry.FIGURES.items():
        assert figure.draw.__name__ == name
        assert figure.tables and set(figure.tables) <= set(figure_registry.TABLE_OPTIONS), name
        # `klgap figures` calls the function with one keyword argument per table.
        assert tuple(inspect.signature(figure.draw).parameters) == figure.tables, name


def test_figure_without_its_table_names_the_option(tmp_path, tables, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["figures", "training_curves", "--summaries", str(tables["summary"]),
                  "--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")])
    assert exit_info.value.code == 2
    assert "--histories" in capsys.readouterr().err


def test_partial_summaries_are_noted_on_the_figure(tables):
    style.set_style()
    figure = decomposition.rate_split(pd.read_csv(tables["summary"]))
    assert "23 of 24 runs" in figure.get_suptitle()
    complete = pd.read_csv(tables["summary"]).assign(n_runs=lambda s: s["n_expected"])
    assert decomposition.rate_split(complete).get_suptitle() == ""


def test_latent_space_without_runs_draws_a_note(tmp_path):
    figure = latent.latent_space(pd.DataFrame(columns=latent_samples.COLUMNS))
    assert "No evaluated run" in figure.axes[0].texts[0].get_text()


@pytest.mark.parametrize("betas, chosen", [
    ([0.1, 0.2, 0.5, 1, 2, 4, 8], [0.1, 1, 8]),
    ([8, 0.1, 1], [0.1, 1, 8]),
    ([0.5, 2], [0.5, 2]),  # equally near 1 on a log scale: the smaller
    ([0, 0.3, 5], [0, 0.3, 5]),
    ([3], [3]),
    ([], []),
])
def test_latent_space_weights(betas, chosen):
    assert layout.latent_space_weights(betas) == chosen


def test_histories_are_one_row_per_run_and_epoch(tmp_path):
    rng = np.random.default_rng(0)
    runs = layout.grid(["digits"], [2, 10], [0.5, 2.0], [0, 1])
    runs_dir = layout.runs_dir(tmp_path, "digits")
    for run in runs[1:]:
        write_run(runs_dir, run, rng, epochs=3)
    table, missing = histories.collect(runs_dir, runs)
    assert missing == [runs[0]]
    assert list(table.columns) == ["dataset", "objective", "classes", "latent_dim", "weight",
                                   "seed", *HISTORY_COLUMNS]
    assert set(table["classes"]) == {"all"}
    assert len(table) == 3 * (len(runs) - 1)
    assert not table.duplicated(["latent_dim", "weight", "seed", "epoch"]).any()
    # Each run's rows are its history, in order.
    run = runs[-1]
    own = pd.read_csv(runs_dir / layout.run_subdir(run) / "history.csv")
    rows = table[(table["latent_dim"] == run.latent_dim) & (table["weight"] == run.weight)
                 & (table["seed"] == run.seed)]
    np.testing.assert_array_equal(rows[HISTORY_COLUMNS].to_numpy(), own.to_numpy())


def test_histories_command_rounds_values_and_keeps_betas_exact(tmp_path):
    runs = layout.grid(["digits"], [2], [1e-5, 0.1], [0])
    runs_dir = layout.runs_dir(tmp_path, "digits")
    for run in runs:
        write_run(runs_dir, run, np.random.default_rng(1), epochs=2)
    out = tmp_path / "history.csv"
    cli.main(["histories", "--dataset", "digits", "--runs-dir", str(runs_dir),
              "--runs", "vae/z2/beta1e-05/seed0", "vae/z2/beta0.1/seed0", "--out", str(out)])
    written = pd.read_csv(out)
    assert sorted(written["weight"].unique()) == [1e-5, 0.1]
    original = pd.read_csv(runs_dir / layout.run_subdir(runs[0]) / "history.csv")
    np.testing.assert_allclose(written.loc[written["weight"] == 1e-5, HISTORY_COLUMNS],
                               original, rtol=1e-5)


def test_histories_command_fails_without_any_history(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["histories", "--dataset", "digits", "--runs-dir", str(tmp_path),
                  "--runs", "vae/z2/beta1/seed0", "--out", str(tmp_path / "h.csv")])
    assert "no run of digits has a history" in capsys.readouterr().err


def test_latent_samples_subsample_is_deterministic_and_shared_across_betas(tmp_path):
    rng = np.random.default_rng(0)
    runs = layout.grid(["digits"], [2], BETAS, [0])
    runs_dir = layout.runs_dir(tmp_path, "digits")
    for run in runs:
        write_run(runs_dir, run, rng)
    options = ["latent-samples", "--dataset", "digits", "--runs-dir", str(runs_dir),
               "--weights", *map(str, BETAS), "--seeds", "0", "--points", "50"]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    cli.main([*options, "--out", str(first)])
    cli.main([*options, "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()
    table = pd.read_csv(first)
    assert list(table.columns) == latent_samples.COLUMNS
    assert sorted(table["weight"].unique()) == [0.1, 1.0, 4.0]
    assert len(table) == 3 * 50
    examples = [tuple(group["example"]) for _, group in table.groupby("weight")]
    assert len(set(examples)) == 1 and len(set(examples[0])) == 50  # same 50, no repeats
    other_seed = tmp_path / "c.csv"
    cli.main([*options, "--sample-seed", "1", "--out", str(other_seed)])
    assert set(pd.read_csv(other_seed)["example"]) != set(table["example"])


def test_latent_samples_are_draws_of_each_examples_posterior(tmp_path):
    runs_dir = layout.runs_dir(tmp_path, "digits")
    run = layout.Run("digits", 2, 1.0, 0)
    rundir = runs_dir / layout.run_subdir(run)
    rundir.mkdir(parents=True)
    mu = np.arange(2 * 40, dtype=float).reshape(40, 2)
    labels = np.arange(40) % 4
    np.savez(rundir / "posterior_test.npz", mu=mu, sigma=np.full_like(mu, 1e-9), labels=labels)
    table = latent_samples.collect(runs_dir, [run], points=1000, sample_seed=0)
    assert len(table) == 40  # all examples when fewer than points
    np.testing.assert_allclose(table[["z1", "z2"]], mu[table["example"]], atol=1e-4)
    np.testing.assert_array_equal(table["label"], labels[table["example"]])
    # Samples spread by sigma: with unit sigma around zero, about unit variance.
    examples, z = latent_samples.sample_aggregate_posterior(
        np.zeros((5000, 2)), np.ones((5000, 2)), 4000, sample_seed=0)
    assert abs(z.std() - 1) < 0.05 and len(set(examples)) == 4000


def test_latent_samples_take_the_first_evaluated_seed(tmp_path):
    rng = np.random.default_rng(0)
    runs_dir = layout.runs_dir(tmp_path, "digits")
    write_run(runs_dir, layout.Run("digits", 2, 0.1, 1), rng)
    write_run(runs_dir, layout.Run("digits", 2, 0.1, 2), rng)
    chosen, missing = latent_samples.choose_runs(runs_dir, "digits", 2, [0.1, 8.0], [0, 1, 2])
    assert chosen == [layout.Run("digits", 2, 0.1, 1)]
    assert missing == [8.0]


def test_latent_samples_refuse_other_latent_sizes(tmp_path, capsys):
    runs_dir = layout.runs_dir(tmp_path, "digits")
    write_run(runs_dir, layout.Run("digits", 10, 1.0, 0), np.random.default_rng(0))
    with pytest.raises(SystemExit):
        cli.main(["latent-samples", "--dataset", "digits", "--runs-dir", str(runs_dir),
                  "--latent-dim", "10", "--weights", "1", "--seeds", "0",
                  "--out", str(tmp_path / "l.csv")])
    assert "not (N, 2)" in capsys.readouterr().err


def test_latent_samples_without_runs_write_an_empty_table(tmp_path, capsys):
    out = tmp_path / "l.csv"
    cli.main(["latent-samples", "--dataset", "digits", "--runs-dir", str(tmp_path),
              "--weights", "1", "--seeds", "0", "--out", str(out)])
    assert list(pd.read_csv(out).columns) == latent_samples.COLUMNS
    assert "warning: no evaluated run" in capsys.readouterr().err


def test_latent_samples_without_runs_never_replace_a_table_of_samples(tmp_path, capsys):
    out = tmp_path / "l.csv"
    committed = "dataset,latent_dim,beta,seed,example,label,z1,z2\ndigits,2,1.0,0,3,1,0.5,-0.5\n"
    out.write_text(committed)
    with pytest.raises(SystemExit):
        cli.main(["latent-samples", "--dataset", "digits", "--runs-dir", str(tmp_path),
                  "--weights", "1", "--seeds", "0", "--out", str(out)])
    assert "nothing was written" in capsys.readouterr().err
    assert out.read_text() == committed


def test_sample_grids_round_trip_the_stored_grey_levels(tmp_path, capsys):
    rng = np.random.default_rng(11)
    runs_dir = tmp_path / "runs" / "digits"
    runs = [layout.Run("digits", 2, 0.5, seed) for seed in (0, 1)]
    runs += [layout.Run("digits", 2, 2.0, seed) for seed in (0, 1)]  # no samples: warned
    runs += [layout.Run("digits", 2, 100.0, 0, "mmd")]
    stored = {runs[0]: write_samples(runs_dir, runs[0], rng),
              runs[1]: write_samples(runs_dir, runs[1], rng),  # seed 1 of a cell: not chosen
              runs[4]: write_samples(runs_dir, runs[4], rng, image_shape=(28, 28))}
    out = tmp_path / "digits" / "sample_grids.csv"
    cli.main(["sample-grids", "--dataset", "digits", "--runs-dir", str(runs_dir), "--runs",
              *[str(layout.run_subdir(r)) for r in runs], "--out", str(out)])
    assert "missing: " + str(runs_dir / "vae/z2/beta2") + "/seed*" in capsys.readouterr().err
    table = pd.read_csv(out)
    assert list(table.columns) == sample_grids.COLUMNS
    assert table.groupby(["objective", "weight"])["seed"].unique().map(list).to_dict() == {
        ("mmd", 100.0): [0], ("vae", 0.5): [0]}
    for run in (runs[0], runs[4]):
        height, width = stored[run]["image_shape"]
        for kind in sample_grids.KINDS:
            rows = table[(table["objective"] == run.objective) & (table["weight"] == run.weight)
                         & (table["kind"] == kind)].sort_values("sample")
            assert list(rows["sample"]) == list(range(GRID))
            decoded = sample_grids.images(rows)  # (G, H, W)
            np.testing.assert_array_equal(decoded.reshape(GRID, -1), stored[run][kind])
            assert decoded.shape == (GRID, height, width)
    assert table["pixels"].str.startswith("eN").all()  # never read as numbers


def test_sample_grids_without_samples_never_replace_a_table_of_samples(tmp_path, capsys):
    rng = np.random.default_rng(5)
    runs_dir, run = tmp_path / "runs", layout.Run("digits", 2, 1.0, 0)
    options = ["sample-grids", "--dataset", "digits", "--runs-dir", str(runs_dir), "--runs",
               str(layout.run_subdir(run)), "--out", str(tmp_path / "s.csv")]
    cli.main(options)  # no samples and no table yet: the header only, and a warning
    assert list(pd.read_csv(tmp_path / "s.csv").columns) == sample_grids.COLUMNS
    assert "1 cells of digits have no run" in capsys.readouterr().err
    write_samples(runs_dir, run, rng)
    cli.main(options)
    committed = (tmp_path / "s.csv").read_text()
    (runs_dir / layout.run_subdir(run) / "samples.npz").unlink()
    with pytest.raises(SystemExit):
        cli.main(options)
    assert "nothing was written" in capsys.readouterr().err
    assert (tmp_path / "s.csv").read_text() == committed


def test_sample_figures_draw_every_objective_at_the_chosen_latent_size(tables):
    style.set_style()
    table = aggregate.load_tables([tables["sample_grids"]], "sample_grids")
    figure = samples.prior_samples(table)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    # d_z = 10: the four betas of vae (beta 1 from seed 1), then mmd's lambda.
    assert titles == ["vae\nβ = 0.1", "vae\nβ = 0.5", "vae\nβ = 1, seed 1", "vae\nβ = 4",
                      "mmd\nλ = 100"]
    assert "$d_z = 10$" in figure.axes[0].get_ylabel()
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (4 * 9 - 1, 4 * 9 - 1)  # 4x4 images of 8x8, one pixel apart
    # One objective only, at the smoke configuration's latent size 2.
    only_2d = table[(table["latent_dim"] == 2) & (table["objective"] == "vae")]
    figure = samples.expost_samples(only_2d)
    assert "$d_z = 2$" in figure.axes[0].get_ylabel() and len(figure.axes[0].images) == 1
    empty = samples.prior_samples(table.iloc[:0])
    assert "No decoded prior samples" in empty.axes[0].texts[0].get_text()


def test_figure_files_carry_their_provenance(tmp_path, tables):
    pdf, png = tmp_path / "rate_split.pdf", tmp_path / "rate_split.png"
    caption = tmp_path / "rate_split.rst"
    cli.main(["figures", "rate_split", "--summaries", str(tables["summary"]), "--pdf", str(pdf),
              "--png", str(png), "--caption", str(caption), "--commit", "c0ffee-dirty",
              "--config-hash", "5eed5eed5eed", "--rule", "figures"])
    command = (f"klgap figures rate_split --summaries {tables['summary']} --pdf {pdf} "
               f"--png {png}")
    # The PDF's document information is written uncompressed by matplotlib.
    info = pdf.read_bytes()
    for entry in ["/Title (klgap figure rate_split)",
                  "/Keywords (commit c0ffee-dirty; config hash 5eed5eed5eed; rule figures)",
                  f"/Creator ({command})"]:
        assert entry.encode() in info, entry
    assert b"/CreationDate" not in info  # no timestamp: a rebuild is identical
    with Image.open(png) as image:
        text = image.text
    assert text["klgap:commit"] == "c0ffee-dirty" and text["klgap:rule"] == "figures"
    assert text["klgap:config_hash"] == "5eed5eed5eed" and text["klgap:command"] == command
    assert text["Description"].startswith("The rate split into")
    rst = caption.read_text()
    assert rst.startswith("The rate split into") and f"``{command}``" in rst
    assert "Args:" not in rst and "commit ``c0ffee-dirty``" in rst


@pytest.mark.parametrize("name", sorted(registry.FIGURES))
def test_report_captions_are_valid_restructured_text(name):
    provenance = figure_provenance.Provenance("abc", "def", "figures",
                                              "klgap figures x --pdf a_b.pdf")
    # halt_level 2: any warning (e.g. a stray | or * read as markup) raises.
    html = publish_parts(figure_provenance.caption_rst(name, provenance), writer="html",
                         settings_overrides={"halt_level": 2})["body"]
    assert figure_provenance.caption(name).split()[0] in html and "a_b.pdf" in html


def test_information_against_log_n_draws_the_nested_subsets_means():
    rng = np.random.default_rng(9)
    rows = []
    for beta in (0.5, 1.0, 4.0):
        for split, n in (("train_n100", 100), ("train_n1000", 1000), ("train_full", 1437)):
            means = {"log_n": np.log(n), "mutual_info": min(np.log(n), rng.uniform(1, 6)),
                     "aggregate_kl": rng.uniform(0, 3)}
            rows += [{"dataset": "digits", "objective": "vae", "latent_dim": 2, "weight": beta,
                      "split": split, "metric": metric, "mean": value,
                      "ci95_low": value - 0.1, "ci95_high": value + 0.1}
                     for metric, value in means.items()]
    summary = pd.DataFrame(rows)
    figure = decomposition.information_vs_n(summary)
    drawn = {tuple(np.round(line.get_ydata(), 9)) for line in figure.axes[0].lines}
    for (beta, metric), cell in summary[summary["metric"] != "log_n"].groupby(["weight", "metric"]):
        order = np.argsort([np.log(n) for n in (100, 1000, 1437)])
        assert tuple(np.round(cell["mean"].to_numpy()[order], 9)) in drawn, (beta, metric)
    plt.close(figure)
    empty = decomposition.information_vs_n(
        summary[summary["split"] == "train_full"].assign(split="test"))
    assert "No nested subsets" in empty.axes[0].texts[0].get_text()
    plt.close(empty)


def summary_rows(dataset: str, objective: str, latent_dim: int, weight: float, split: str,
                 means: dict[str, float], half_width: float = 0.1) -> list[dict]:
    """Summary rows of one cell and split: each metric's mean, its interval mean +- half_width."""
    return [{"dataset": dataset, "objective": objective, "latent_dim": latent_dim,
             "weight": weight, "split": split, "metric": metric, "n_expected": 3, "n_runs": 3,
             "n": 3, "mean": value, "sd": half_width, "ci95_low": value - half_width,
             "ci95_high": value + half_width, "missing_seeds": ""}
            for metric, value in means.items()]


def line_data(ax) -> dict[tuple, tuple]:
    """The lines of a panel in data coordinates: rounded y values -> rounded x values."""
    return {tuple(np.round(np.asarray(line.get_ydata(), float), 6)):
            tuple(np.round(np.asarray(line.get_xdata(), float), 6))
            for line in ax.lines if line.get_transform() == ax.transData}


# Three objectives' weights, as in the paper's counterfactual (two of each here).
OBJECTIVE_WEIGHTS = {"vae": [0.5, 1.0], "mmd": [10.0, 100.0], "tcvae": [2.0, 4.0]}


def objectives_summary(rng: np.random.Generator) -> pd.DataFrame:
    """MNIST: every objective at d_z = 10, the beta-VAE also at d_z = 2; digits: the beta-VAE."""
    rows = []
    cells = [("mnist", objective, 10, weight) for objective, weights in OBJECTIVE_WEIGHTS.items()
             for weight in weights]
    cells += [("mnist", "vae", 2, 1.0), ("digits", "vae", 10, 1.0)]
    for dataset, objective, latent_dim, weight in cells:
        mutual_info, aggregate_kl = rng.uniform(2, 9), rng.uniform(0, 30)
        rows += summary_rows(dataset, objective, latent_dim, weight, "test", {
            "rate": mutual_info + aggregate_kl, "mutual_info": mutual_info,
            "aggregate_kl": aggregate_kl, "distortion": rng.uniform(80, 110),
            "log_n": math.log(10_000), "prior_label_kl": rng.uniform(0.001, 2),
            "prior_holes_fraction": rng.uniform(0, 1), "ais_ll": -rng.uniform(85, 120),
            "prior_fid": rng.uniform(10, 150), "fitted_fid": rng.uniform(5, 50)})
    return pd.DataFrame(rows)


def test_objectives_draw_every_objective_against_the_rate():
    style.set_style()
    summary = objectives_summary(np.random.default_rng(4))
    figure = objectives.objectives(summary)
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert len(axes) == 4  # one row: MNIST at d_z = 10 (digits has the beta-VAE only)
    assert "MNIST, $d_z = 10$" in axes[0].get_ylabel()
    test = summary[(summary["dataset"] == "mnist") & (summary["latent_dim"] == 10)]
    means = test.set_index(["objective", "weight", "metric"])["mean"]
    for objective, weights in OBJECTIVE_WEIGHTS.items():
        rates = tuple(np.round([means[objective, w, "rate"] for w in weights], 6))
        for ax, metric in zip(axes, ["distortion", "mutual_info", "prior_label_kl",
                                     "prior_holes_fraction"]):
            path = tuple(np.round([means[objective, w, metric] for w in weights], 6))
            assert line_data(ax).get(path) == rates, (objective, metric)
        kl = tuple(np.round([means[objective, w, "aggregate_kl"] for w in weights], 6))
        assert line_data(axes[1]).get(kl) == rates  # (b) has both terms of the rate
    written = sorted(text.get_text() for text in axes[0].texts)
    assert written == sorted(["0.5", "1", "10", "100", "2", "4"])  # the weights, in panel (a)
    assert axes[2].get_yscale() == "log"
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[:3] == ["vae (β)", "mmd (λ)", "tcvae (β)"]
    plt.close(figure)


def test_frontier_draws_every_objectives_fid_against_its_likelihood():
    style.set_style()
    summary = objectives_summary(np.random.default_rng(8))
    figure = objectives.frontier(summary)
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert len(axes) == 2  # one row: MNIST at d_z = 10, prior and fitted samples
    test = summary[(summary["dataset"] == "mnist") & (summary["latent_dim"] == 10)]
    means = test.set_index(["objective", "weight", "metric"])["mean"]
    for objective, weights in OBJECTIVE_WEIGHTS.items():
        likelihoods = tuple(np.round([means[objective, w, "ais_ll"] for w in weights], 6))
        for ax, metric in zip(axes, objectives.FRONTIER_PANELS):
            path = tuple(np.round([means[objective, w, metric] for w in weights], 6))
            assert line_data(ax).get(path) == likelihoods, (objective, metric)
        assert all(ax.get_yscale() == "log" for ax in axes)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["vae (β)", "mmd (λ)", "tcvae (β)"]
    plt.close(figure)


def test_objectives_without_other_objectives_or_generation_metrics_say_so():
    style.set_style()
    summary = objectives_summary(np.random.default_rng(5))
    only_vae = objectives.objectives(summary[summary["objective"] == "vae"])
    assert "No objective besides the beta-VAE" in only_vae.axes[0].texts[0].get_text()
    older = objectives.objectives(summary[summary["metric"] != "prior_label_kl"])
    assert "no prior_label_kl" in older.axes[2].texts[0].get_text()
    plt.close("all")


def test_figures_comparing_objectives_are_given_every_objective(tmp_path, monkeypatch):
    summary_path, latent_path = tmp_path / "summary.csv", tmp_path / "latent_samples.csv"
    summary = objectives_summary(np.random.default_rng(6)).assign(classes="all")
    ones = summary[summary["objective"] == "vae"].assign(objective="classprior", classes="1")
    pd.concat([summary, ones]).to_csv(summary_path, index=False)  # runs on the ones are left out
    pd.DataFrame([{"dataset": "mnist", "objective": objective, "latent_dim": 2, "weight": 1.0,
                   "seed": 0, "example": 0, "label": 1, "z1": 0.0, "z2": 0.0}
                  for objective in ("vae", "mmd")]).to_csv(latent_path, index=False)
    given = {}

    def record(name):
        def draw(**tables):
            given[name] = {table: set(rows["objective"]) for table, rows in tables.items()}
            return panels.empty_figure(name)
        return draw

    for name in ("objectives", "ones", "rate_split", "latent_space"):
        monkeypatch.setitem(registry.FIGURES, name,
                            registry.Figure(record(name), registry.FIGURES[name].tables))
        cli.main(["figures", name, "--summaries", str(summary_path), "--latent-samples",
                  str(latent_path), "--pdf", str(tmp_path / f"{name}.pdf"),
                  "--png", str(tmp_path / f"{name}.png")])
    assert given == {"objectives": {"summary": {"vae", "mmd", "tcvae"}},
                     "ones": {"latent_samples": {"vae", "mmd"}},
                     "rate_split": {"summary": {"vae"}},
                     "latent_space": {"latent_samples": {"vae"}}}


def latent_codes(rng: np.random.Generator, runs: list[tuple[str, float]],
                 points: int = 2000) -> pd.DataFrame:
    """2-D codes of digits runs (objective, weight): three classes around their own centres
    (all within 3.5 of the origin), and two codes far outside, too few to widen the window."""
    rows = []
    for objective, weight in runs:
        labels = rng.integers(0, CLASSES, points)
        codes = rng.normal(size=(points, 2)) * 0.5 + np.array([[-1, 0], [1, 1], [0, -1.5]])[labels]
        codes[:2] = [[40, 0], [0, -40]]
        rows += [{"dataset": "digits", "objective": objective, "latent_dim": 2, "weight": weight,
                  "seed": 0, "example": i, "label": int(label), "z1": z1, "z2": z2}
                 for i, (label, (z1, z2)) in enumerate(zip(labels, codes))]
    return pd.DataFrame(rows, columns=latent_samples.COLUMNS)


def test_ones_draw_class_one_on_top_of_every_code():
    style.set_style()
    table = latent_codes(np.random.default_rng(7), [("mmd", 100.0), ("vae", 8.0),
                                                    ("vae", 0.5)])
    figure = latent.ones(table)
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["vae\nβ = 0.5", "vae\nβ = 8",
                                               "mmd\nλ = 100"]
    radius = latent.latent_window(table)
    for ax, (objective, weight) in zip(axes, [("vae", 0.5), ("vae", 8.0), ("mmd", 100.0)]):
        run = table[(table["objective"] == objective) & (table["weight"] == weight)]
        every, ones = ax.collections[-2:]
        ones_codes = run.loc[run["label"] == 1, ["z1", "z2"]].to_numpy()
        np.testing.assert_allclose(ones.get_offsets(), np.clip(ones_codes, -radius, radius))
        assert len(every.get_offsets()) == len(run) and ones.get_zorder() > every.get_zorder()
        outside = int((run[["z1", "z2"]].abs() > radius).any(axis=1).sum())
        clipped = outside + int((run.loc[run["label"] == 1, ["z1", "z2"]].abs() > radius)
                                .any(axis=1).sum())
        assert f"{clipped} clipped to the edge" in [text.get_text() for text in ax.texts]
    plt.close(figure)


def test_latent_space_labels_classes_and_counts_clipped_codes():
    style.set_style()
    table = latent_codes(np.random.default_rng(8), [("vae", 1.0)])
    figure = latent.latent_space(table)
    ax = figure.axes[0]
    radius = latent.latent_window(table)
    texts = {text.get_text(): text for text in ax.texts}
    outside = int((table[["z1", "z2"]].abs() > radius).any(axis=1).sum())
    assert outside == 2 and f"{outside} clipped to the edge" in texts
    np.testing.assert_allclose(np.abs(ax.collections[-1].get_offsets()).max(), radius)
    for label, codes in table.groupby("label"):
        np.testing.assert_allclose(texts[str(label)].get_position(),
                                   codes[["z1", "z2"]].median(), atol=1e-9)
        assert texts[str(label)].get_color() == style.CLASS_PALETTE[label]
    assert len(set(style.CLASS_PALETTE)) == 10
    plt.close(figure)


def bracket_summary(with_bracket: bool) -> pd.DataFrame:
    """Digits at d_z = 2: in-sample estimates on the test split; with the N-bracket also on the
    whole training split, and held-out bounds (beta 0.5's far off scale)."""
    rows = []
    for beta, mutual_info, aggregate_kl in ((0.5, 5.0, 3.0), (1.0, 4.0, 1.0), (8.0, 0.1, 0.0)):
        rows += summary_rows("digits", "vae", 2, beta, "test", {
            "mutual_info": mutual_info, "aggregate_kl": aggregate_kl, "log_n": math.log(360),
            **({"heldout_mutual_info_upper": 60.0 if beta == 0.5 else mutual_info + 1,
                "heldout_aggregate_kl_lower": -7.0 if beta == 0.5 else aggregate_kl - 0.5}
               if with_bracket else {})})
        if with_bracket:
            rows += summary_rows("digits", "vae", 2, beta, "train_full", {
                "mutual_info": mutual_info + 0.5, "aggregate_kl": aggregate_kl - 0.5,
                "log_n": math.log(1437)})
    return pd.DataFrame(rows)


def test_mi_aggkl_draws_the_n_bracket_with_bounds_off_scale_written():
    style.set_style()
    figure = decomposition.mi_aggkl(bracket_summary(with_bracket=True))
    ax = figure.axes[0]
    lines = {tuple(np.round(line.get_ydata(), 6)): line for line in ax.lines
             if line.get_transform() == ax.transData}
    assert lines[(5.0, 4.0, 0.1)].get_linestyle() == "-"  # I, test split
    assert lines[(5.5, 4.5, 0.6)].get_linestyle() == "--"  # I, whole training split
    top = ax.get_ylim()[1]
    assert top == pytest.approx(1.15 * math.log(1437))  # the in-sample range and log N
    upper = lines[tuple(np.round([top, 5.0, 1.1], 6))]  # beta 0.5's bound on the edge
    assert upper.get_linestyle() == ":" and upper.get_marker() == "v"
    assert lines[(0.0, 0.5, 0.0)].get_marker() == "^"  # KL's lower bound, two below zero
    written = {text.get_text() for text in ax.texts}
    assert {"60.0", "-7.0", "-0.5"} <= written and "0.5" not in written
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "in-sample, whole training split" in legend and "held-out upper bound on I" in legend
    plt.close(figure)
    older = decomposition.mi_aggkl(bracket_summary(with_bracket=False))
    legend = [text.get_text() for text in older.legends[0].get_texts()]
    assert "in-sample, test split" in legend
    assert not any("whole training" in label or "held-out" in label for label in legend)
    plt.close(older)


def class_summary(rng: np.random.Generator) -> pd.DataFrame:
    """Digits at d_z = 2: C = 3 class divergences, the aggregate KL and I(y; z) per beta."""
    rows = []
    for beta in (0.5, 1.0, 8.0):
        rows += summary_rows("digits", "vae", 2, beta, "test", {
            "aggregate_kl": rng.uniform(0, 2), "label_info": rng.uniform(0, math.log(CLASSES)),
            **{f"class_kl_{c}": rng.uniform(0, 4) for c in range(CLASSES)}})
    return pd.DataFrame(rows)


def test_class_kl_draws_the_classes_range_median_and_class_one():
    style.set_style()
    summary = class_summary(np.random.default_rng(10))
    figure = class_figures.class_kl(summary)
    ax = figure.axes[0]
    classes = summary[summary["metric"].str.startswith("class_kl_")].pivot(
        index="weight", columns="metric", values="mean")
    aggregate_kl = summary[summary["metric"] == "aggregate_kl"].sort_values("weight")["mean"]
    lines = line_data(ax)
    assert tuple(np.round(classes.median(axis=1), 6)) in lines
    assert tuple(np.round(classes["class_kl_1"], 6)) in lines
    assert tuple(np.round(aggregate_kl + math.log(CLASSES), 6)) in lines  # the class mean's ceiling
    band = ax.collections[0].get_paths()[0].vertices  # fill_between: up the top, down the bottom
    np.testing.assert_allclose(sorted(set(np.round(band[:, 1], 6))),
                               sorted(set(np.round(np.r_[classes.min(axis=1),
                                                         classes.max(axis=1)], 6))))
    legend = figure.legends[0]
    labels = [text.get_text() for text in legend.get_texts()]
    assert len(labels) == 7 and any("class 1" in label for label in labels)
    assert len(figure.legends) == 1  # no legend of ten class colours any more
    plt.close(figure)


def test_estimators_draw_each_estimates_excess_over_the_exact_information(tables):
    style.set_style()
    summary = aggregate.only_vae(aggregate.load_tables([tables["summary"]], "summary"))
    figure = estimators.estimators(summary)
    ax = figure.axes[0]  # digits, d_z = 2
    cell = summary[(summary["latent_dim"] == 2) & (summary["split"] == "test")]
    means = cell.pivot(index="weight", columns="metric", values="mean")
    lines = line_data(ax)
    for method in ("mws", "mss"):
        for batch_size in (16, 64):
            excess = means[f"{method}_mutual_info_b{batch_size}"] - means["mutual_info"]
            assert tuple(np.round(excess, 6)) in lines, (method, batch_size)
    shortfall = means["aggregate_kl"] - means["moment_matched_kl"]
    assert tuple(np.round(shortfall, 6)) in lines
    levels = {round(float(line.get_ydata()[0]), 6) for line in ax.lines
              if line.get_transform() != ax.transData}  # horizontal reference lines
    # MWS's floor with the actual batch sizes (a ragged last batch), computed here by hand
    floors = {round(sum(size * math.log(size) for size in sizes) / TEST_SIZE, 6)
              for sizes in ([16] * (TEST_SIZE // 16) + [TEST_SIZE % 16] * bool(TEST_SIZE % 16),
                            [64] * (TEST_SIZE // 64) + [TEST_SIZE % 64] * bool(TEST_SIZE % 64))}
    assert levels == {0.0, round(math.log(TEST_SIZE), 6)} | floors
    plt.close(figure)


@pytest.mark.parametrize("near_end, label_end", [("right", "left"), ("left", "right")])
def test_log_n_label_goes_to_the_end_where_the_curves_are_farther(near_end, label_end):
    figure, ax = plt.subplots()
    x = np.array([1.0, 2.0, 3.0])
    ax.plot(x, [1.0, 2.0, 3.0] if near_end == "right" else [3.0, 2.0, 1.0])
    ax.plot(x, [0.0, 0.0, 0.0])
    panels.log_n_line(ax, pd.DataFrame({"metric": ["log_n"], "mean": [3.0]}))
    label = ax.texts[0]
    assert label.get_text() == "log N, N = 20" and label.get_horizontalalignment() == label_end
    plt.close(figure)


def test_latent_samples_also_draw_other_objectives_and_default_to_every_example(tmp_path):
    rng = np.random.default_rng(31)
    runs = [layout.Run("digits", 2, 1.0, 0), layout.Run("digits", 2, 1000.0, 0, "mmd")]
    runs_dir = layout.runs_dir(tmp_path, "digits")
    for run in runs:
        write_run(runs_dir, run, rng)
    out = tmp_path / "samples.csv"
    cli.main(["latent-samples", "--dataset", "digits", "--runs-dir", str(runs_dir),
              "--weights", "1", "--also", "mmd=1000", "--seeds", "0", "--out", str(out)])
    table = pd.read_csv(out)
    assert set(table[["objective", "weight"]].itertuples(index=False, name=None)) == {
        ("vae", 1.0), ("mmd", 1000.0)}
    with np.load(runs_dir / layout.run_subdir(runs[0]) / "posterior_test.npz") as posterior:
        size = len(posterior["mu"])
    # Without --points every example of the test split is drawn once, per run.
    assert table.groupby("objective")["example"].apply(lambda e: sorted(e)).map(
        lambda e: e == list(range(size))).all()
    with pytest.raises(SystemExit):
        cli.main(["latent-samples", "--dataset", "digits", "--runs-dir", str(runs_dir),
                  "--weights", "1", "--also", "unknown=1", "--seeds", "0", "--out", str(out)])


@pytest.mark.parametrize("name", ["rate_split", "mi_aggkl", "class_kl", "estimators"])
def test_grid_figures_leave_cells_without_runs_blank(tables, name):
    # digits at d_z 2 and 10, a second dataset at d_z 10 only: its d_z = 2 position stays empty
    style.set_style()
    digits = pd.read_csv(tables["summary"])
    other = digits[digits["latent_dim"] == 10].assign(dataset="mnist")
    figure = registry.FIGURES[name].draw(pd.concat([digits, other]))
    shown = [ax for ax in figure.axes if ax.axison]
    assert sorted(ax.get_title() for ax in shown) == sorted(
        style.panel_title(dataset, latent_dim)
        for dataset, latent_dim in [("digits", 2), ("digits", 10), ("mnist", 10)])
    hidden = [ax for ax in figure.axes if not ax.axison and ax.get_subplotspec() is not None]
    assert len(hidden) == 1 and not hidden[0].lines and not hidden[0].texts
    plt.close(figure)


def test_the_figures_in_the_paper_are_those_its_sources_include(tmp_path):
    names = list(figure_registry.FIGURE_TABLES)
    (tmp_path / "sections").mkdir()
    (tmp_path / "main.tex").write_text(rf"\includegraphics[width=0.5\linewidth]{{{names[2]}}}")
    (tmp_path / "sections" / "results.tex").write_text(
        rf"\includegraphics{{{names[0]}}} \includegraphics [scale=2] {{not_a_figure}}"
        rf" 50\% % \includegraphics{{{names[1]}}} commented out")
    assert figure_registry.figures_in_paper(tmp_path) == [names[0], names[2]]


def test_figures_against_beta_leave_out_latent_sizes_trained_at_one_beta():
    summary = pd.DataFrame({"dataset": "mnist", "latent_dim": [10, 10, 20, 2, 2],
                            "weight": [0.5, 1.0, 1.0, 1.0, 1.0], "metric": "rate"})
    kept = panels.swept_over_beta(summary)
    assert list(kept.index) == [0, 1]
