"""bench/compare_sweeps.py: cells that differ between two output roots, timings left out, and a
table that one side lacks."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import compare_sweeps  # noqa: E402


def output_root(root: Path, metrics: pd.DataFrame, history: pd.DataFrame | None) -> Path:
    (root / "mnist").mkdir(parents=True)
    (root / "config.yaml").write_text("datasets: [mnist, fashion_mnist]\n")
    metrics.to_csv(root / "mnist" / "metrics.csv", index=False)
    if history is not None:
        history.to_csv(root / "mnist" / "history.csv", index=False)
    return root


def test_counts_differing_cells_but_not_timings_nor_equal_nans(tmp_path):
    rng = np.random.default_rng(5)
    metrics = pd.DataFrame({"elbo": rng.normal(size=4), "fid": [1.0, np.nan, 2.0, 3.0],
                            "evaluation_seconds": rng.uniform(size=4)})
    history = pd.DataFrame({"epoch": [1, 2], "test_elbo": [-3.0, -2.0], "seconds": [1.0, 2.0]})
    committed = output_root(tmp_path / "committed", metrics, history)
    changed = metrics.copy()
    changed["evaluation_seconds"] += 1.0  # a timing: left out
    changed.loc[2, "elbo"] += 1e-12  # one model cell: counted, exactly
    rerun = output_root(tmp_path / "rerun", changed, history.assign(seconds=[5.0, 6.0]))
    [metrics_row, history_row] = compare_sweeps.compare(rerun, committed)
    assert metrics_row[::3] == ("mnist/metrics", "4 rows x 3 columns") and metrics_row[1] == 1
    assert np.isclose(metrics_row[2], 1e-12, rtol=1e-3)  # the largest difference, not timings'
    assert history_row == ("mnist/history", 0, 0.0, "2 rows x 3 columns")


def test_the_largest_difference_counts_a_number_against_nan_as_infinite():
    committed = pd.DataFrame({"fid": [1.0, np.nan, 2.0], "device": ["CPU"] * 3})
    assert compare_sweeps.largest_difference(committed.copy(), committed) == 0.0
    assert compare_sweeps.largest_difference(committed.assign(fid=[1.5, np.nan, 2.0]),
                                             committed) == 0.5
    assert compare_sweeps.largest_difference(committed.assign(fid=[1.0, 3.0, 2.0]),
                                             committed) == np.inf
    assert np.isnan(compare_sweeps.largest_difference(committed.iloc[:2], committed))  # shapes


def test_tables_are_compared_on_what_both_have_and_the_rest_is_named(tmp_path):
    # A later commit no longer fits a family: its column (metrics) and its rows (summary) are
    # left out of the comparison, and the note names them.
    rng = np.random.default_rng(6)
    metrics = pd.DataFrame({"elbo": rng.normal(size=3), "fitted_flow_bound": rng.normal(size=3)})
    committed = output_root(tmp_path / "committed", metrics, None)
    changed = metrics.drop(columns="fitted_flow_bound")
    changed.loc[1, "elbo"] += 0.25
    rerun = output_root(tmp_path / "rerun", changed, None)
    [row] = compare_sweeps.compare(rerun, committed)
    assert row[:3] == ("mnist/metrics", 1, 0.25)
    assert row[3].endswith("compared without what one side lacks: fitted_flow_bound")
    summary = pd.DataFrame({"metric": ["elbo", "fitted_flow_bound", "fitted_seconds"],
                            "mean": [1.0, 2.0, 3.0]})
    shorter = summary.iloc[[0]].assign(mean=[1.5])
    assert compare_sweeps.differing_cells(shorter, summary) == 1
    assert compare_sweeps.largest_difference(shorter, summary) == 0.5
    assert compare_sweeps.unshared(shorter, summary) == ["fitted_flow_bound", "fitted_seconds"]


def test_a_table_one_side_lacks_fails_and_one_neither_has_is_skipped(tmp_path):
    metrics = pd.DataFrame({"elbo": [1.0, 2.0]})
    committed = output_root(tmp_path / "committed", metrics, pd.DataFrame({"epoch": [1]}))
    rerun = output_root(tmp_path / "rerun", metrics, None)
    [same, missing] = compare_sweeps.compare(rerun, committed)
    assert same == ("mnist/metrics", 0, 0.0, "2 rows x 1 columns")
    assert missing[:2] == ("mnist/history", None) and "history.csv is missing" in missing[3]
    out = tmp_path / "report.csv"
    compare_sweeps.main(["--rerun", str(rerun), "--committed", str(committed), "--out", str(out)])
    report = pd.read_csv(out)
    assert list(report["status"].fillna("")) == ["PASS", "", "FAIL", "", ""]
    assert report["figure"].iloc[-1] == "largest_difference [mnist/metrics: elbo]"


def test_headline_metrics_are_compared_one_by_one_on_the_test_split(tmp_path):
    rng = np.random.default_rng(11)
    metrics = pd.DataFrame({"split": ["test", "train"] * 3, "elbo": rng.normal(-90, 5, size=6),
                            "rate": rng.uniform(5, 20, size=6), "fid": rng.uniform(size=6)})
    shifts = rng.uniform(0.01, 1.0, size=3)
    changed = metrics.copy()
    changed.loc[[0, 2, 4], "elbo"] -= shifts  # the test rows
    changed.loc[1, "rate"] += 100.0  # a train row: not a headline difference
    rows = compare_sweeps.headline_differences(changed, metrics)
    assert [metric for metric, _, _ in rows] == ["elbo", "rate"]
    (_, largest, median), (_, rate_largest, _) = rows
    assert np.isclose(largest, shifts.max()) and np.isclose(median, np.median(shifts))
    assert rate_largest == 0.0
    assert compare_sweeps.headline_differences(changed.iloc[:4], metrics) == []  # shapes
    committed = output_root(tmp_path / "committed", metrics, None)
    rerun = output_root(tmp_path / "rerun", changed, None)
    out = tmp_path / "report.csv"
    compare_sweeps.main(["--rerun", str(rerun), "--committed", str(committed), "--out", str(out)])
    report = pd.read_csv(out).set_index("figure")
    assert np.isclose(report.loc["largest_difference [mnist/metrics: elbo]", "value"],
                      shifts.max())
