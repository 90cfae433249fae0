"""Tests of klgap.sweep.tables (and the run layout it reads) on synthetic metrics.json files."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from klgap.sweep import tables as aggregate
from klgap import cli
from klgap.sweep import layout
from klgap.errors import UserError

SPLITS = ("test", "train")


def write_metrics(runs_dir, run, values):
    """Writes a metrics.json for ``run`` with the given metric values (same for both splits)."""
    records = [{"dataset": run.dataset, "objective": run.objective, "latent_dim": run.latent_dim,
                "weight": run.weight, "seed": run.seed, "split": split, "n": 100, **values}
               for split in SPLITS]
    path = runs_dir / layout.run_subdir(run) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))


def synthetic_sweep(tmp_path, seeds=(0, 1, 2, 3), skip=()):
    """Writes a small sweep with random metrics; returns (runs_dir, runs, values by run)."""
    rng = np.random.default_rng(0)
    runs = layout.grid(["digits"], [2, 10], [0.1, 1.0], seeds)
    runs_dir = layout.runs_dir(tmp_path / "out", "digits")
    values = {}
    for run in runs:
        values[run] = {"rate": float(rng.normal(5, 1)), "mutual_info": float(rng.normal(3, 1))}
        if run not in skip:
            write_metrics(runs_dir, run, values[run])
    return runs_dir, runs, values


@pytest.mark.parametrize("beta, text", [(1, "1"), (1.0, "1"), (0.1, "0.1"), (0.25, "0.25"),
                                        (8, "8"), (1e-5, "1e-05"), (0.0, "0")])
def test_format_weight_is_readable_and_exact(beta, text):
    assert layout.format_weight(beta) == text
    assert float(text) == float(beta)


def test_run_dir_layout():
    run = layout.Run("fashion_mnist", 10, 0.5, 3)
    assert (layout.run_dir("results", run).as_posix()
            == "results/runs/fashion_mnist/vae/z10/beta0.5/seed3")


def test_tidy_table_has_one_row_per_run_and_split(tmp_path):
    runs_dir, runs, _ = synthetic_sweep(tmp_path)
    table, missing = aggregate.collect(runs_dir, runs)
    assert missing == []
    assert list(table.columns[:7]) == ["dataset", "objective", "classes", "latent_dim", "weight",
                                       "seed", "split"]
    assert set(table["classes"]) == {"all"}  # metrics.json written before the column
    assert {"rate", "mutual_info", "n"} <= set(table.columns[7:])
    assert len(table) == len(runs) * len(SPLITS)
    assert not table.duplicated(["latent_dim", "weight", "seed", "split"]).any()


def test_summary_matches_numpy_and_scipy(tmp_path):
    runs_dir, runs, values = synthetic_sweep(tmp_path)
    table, _ = aggregate.collect(runs_dir, runs)
    summary = aggregate.summarize(table, runs)
    row = summary[(summary["latent_dim"] == 10) & (summary["weight"] == 0.1)
                  & (summary["split"] == "test") & (summary["metric"] == "rate")].iloc[0]
    rates = np.array([values[r]["rate"] for r in runs if r.latent_dim == 10 and r.weight == 0.1])
    low, high = stats.t.interval(0.95, df=len(rates) - 1, loc=rates.mean(),
                                 scale=stats.sem(rates))
    assert row["n"] == row["n_runs"] == row["n_expected"] == 4
    assert row["mean"] == pytest.approx(rates.mean())
    assert row["sd"] == pytest.approx(rates.std(ddof=1))
    assert row["ci95_low"] == pytest.approx(low)
    assert row["ci95_high"] == pytest.approx(high)
    assert pd.isna(row["missing_seeds"]) or row["missing_seeds"] == ""


def test_missing_runs_are_reported_not_dropped(tmp_path):
    gone = layout.Run("digits", 2, 1.0, 1)
    whole_cell = [layout.Run("digits", 10, 1.0, s) for s in (0, 1, 2, 3)]
    runs_dir, runs, _ = synthetic_sweep(tmp_path, skip=[gone, *whole_cell])
    table, missing = aggregate.collect(runs_dir, runs)
    assert set(missing) == {gone, *whole_cell}
    summary = aggregate.summarize(table, runs)
    rate = summary[summary["metric"] == "rate"].set_index(["latent_dim", "weight", "split"])
    partial = rate.loc[(2, 1.0, "test")]
    assert (partial["n_runs"], partial["n_expected"], partial["missing_seeds"]) == (3, 4, "1")
    failed = rate.loc[(10, 1.0, "test")]
    assert failed["n_runs"] == 0 and failed["missing_seeds"] == "0;1;2;3"
    assert math.isnan(failed["mean"])
    # Every expected cell appears, for every split.
    assert len(rate) == 2 * 2 * len(SPLITS)


def test_single_seed_has_no_interval(tmp_path):
    runs_dir, runs, _ = synthetic_sweep(tmp_path, seeds=(0,))
    summary = aggregate.summarize(aggregate.collect(runs_dir, runs)[0], runs)
    assert (summary["n"] == 1).all()
    assert summary["sd"].isna().all() and summary["ci95_low"].isna().all()


def test_metrics_of_another_run_are_rejected(tmp_path):
    runs_dir, runs, _ = synthetic_sweep(tmp_path, seeds=(0,))
    moved = runs_dir / layout.run_subdir(runs[0]) / "metrics.json"
    moved.write_text((runs_dir / layout.run_subdir(runs[1]) / "metrics.json").read_text())
    with pytest.raises(UserError, match="not of"):
        aggregate.collect(runs_dir, runs)


def test_command_writes_tables_and_lists_missing_runs(tmp_path, capsys):
    gone = layout.Run("digits", 2, 0.1, 0)
    runs_dir, runs, _ = synthetic_sweep(tmp_path, skip=[gone])
    metrics_csv = tmp_path / "digits" / "metrics.csv"
    summary_csv = tmp_path / "digits" / "summary.csv"
    cli.main(["aggregate", "--dataset", "digits", "--runs-dir", str(runs_dir),
              "--runs", *[str(layout.run_subdir(run)) for run in runs],
              "--metrics-out", str(metrics_csv), "--summary-out", str(summary_csv)])
    assert len(pd.read_csv(metrics_csv)) == (len(runs) - 1) * len(SPLITS)
    summary = pd.read_csv(summary_csv)
    assert list(summary.columns) == aggregate.SUMMARY_COLUMNS
    assert str(layout.run_subdir(gone)) in capsys.readouterr().err


def test_command_without_any_finished_run_fails_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["aggregate", "--dataset", "digits", "--runs-dir", str(tmp_path / "none"),
                  "--runs", "vae/z2/beta1/seed0",
                  "--metrics-out", str(tmp_path / "m.csv"),
                  "--summary-out", str(tmp_path / "s.csv")])
    assert exit_info.value.code == 2
    assert "no run of digits has metrics" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()
