"""Tests of the derived quantities of findings.py against references computed independently.

The synthetic sweeps are built the way the workflow builds its tables (``aggregate.tidy`` and
``aggregate.summarize``); the references are computed with plain loops over the per-seed records,
never through ``findings``.
"""

import math

import numpy as np
import pandas as pd
import pytest

from klgap.sweep import tables as aggregate
from klgap.paper import findings
from klgap.paper.tex import values
from klgap.sweep import layout

DATASETS = {  # dataset -> (latent_dims, betas, seeds, minibatch sizes)
    "digits": ([2, 10], [0.1, 0.5, 1.0, 2.0, 8.0], [0, 1, 2], [64, 256]),
    "fashion_mnist": ([2, 10], [0.1, 0.5, 1.0, 2.0, 8.0], [0, 1, 2], [64, 256, 1024]),
}
MISSING_RUN = layout.Run("fashion_mnist", 10, 0.5, 1)  # a run whose job failed
NUM_CLASSES = 10
ESTIMATED = ("mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl")


def make_records(seed: int = 7) -> tuple[list[dict], list[layout.Run]]:
    """Per-run, per-split metric records of a synthetic sweep, and the expected runs."""
    rng = np.random.default_rng(seed)
    records, runs = [], []
    for dataset, (latent_dims, betas, seeds, batches) in DATASETS.items():
        dataset_runs = layout.grid([dataset], latent_dims, betas, seeds)
        runs += dataset_runs
        for run in dataset_runs:
            if run == MISSING_RUN:
                continue
            for split in ("test", "train"):
                # Large betas collapse: their rate is below SHARE_MIN_RATE.
                scale = 0.05 if run.weight >= 8 else rng.uniform(0.5, 6)
                mutual_info = scale * rng.uniform(0.5, 1.0)
                aggregate_kl = scale * rng.uniform(0.0, 0.8)
                # Around beta 2, aggregate KL straddles SHARE_MIN_RATE.
                if run.weight == 2.0:
                    aggregate_kl = rng.uniform(0.1, 0.9)
                record = {**run._asdict(), "split": split, "device": "CPU",
                          "n": 360.0 if dataset == "digits" else 10000.0,
                          "elbo": -rng.uniform(50, 150), "rate": mutual_info + aggregate_kl,
                          "mutual_info": mutual_info, "aggregate_kl": aggregate_kl,
                          "moment_matched_kl": aggregate_kl * rng.uniform(0.1, 0.9),
                          "active_units": float(rng.integers(0, run.latent_dim + 1))}
                for c in range(NUM_CLASSES):
                    record[f"class_kl_{c}"] = rng.uniform(0, 10)
                    # Standard errors are larger than every class KL: taking them for class KLs
                    # would change class_kl_max.
                    record[f"class_kl_se_{c}"] = rng.uniform(20, 30)
                for estimator in ("mws", "mss"):
                    for batch in batches:
                        for key in ESTIMATED:
                            record[f"{estimator}_{key}_b{batch}"] = rng.normal(0, 3)
                records.append(record)
    return records, runs


def make_summary(records, runs) -> pd.DataFrame:
    """The concatenated summary.csv tables of the datasets, as the workflow writes them."""
    tables = []
    for dataset in DATASETS:
        table = aggregate.tidy([r for r in records if r["dataset"] == dataset])
        tables.append(aggregate.summarize(table, [r for r in runs if r.dataset == dataset]))
    return pd.concat(tables, ignore_index=True)


@pytest.fixture(scope="module")
def sweep():
    records, runs = make_records(7)
    return records, runs, make_summary(records, runs)


def cells_of(runs):
    """The cells (dataset, latent_dim, beta) of the runs, in order."""
    return list(dict.fromkeys((r.dataset, r.latent_dim, r.weight) for r in runs))


def seed_mean(records, cell, split, metric) -> float:
    """Mean over the seeds of one cell of a metric, with a plain loop; NaN if there is none."""
    values = [r[metric] for r in records
              if (r["dataset"], r["latent_dim"], r["weight"]) == cell and r["split"] == split
              and metric in r and math.isfinite(r[metric])]
    return sum(values) / len(values) if values else math.nan


def same(a, b, tol=1e-9) -> bool:
    """Equal floats, NaN equal to NaN."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# cell_means


@pytest.mark.parametrize("split", ["test", "train"])
def test_cell_means_against_records_and_filtering(sweep, split):
    records, runs, summary = sweep
    means = findings.cell_means(summary, split)
    assert means.index.names == findings.CELL
    assert sorted(means.index) == sorted(cells_of(runs))  # one row per cell, no other rows
    for cell in cells_of(runs):
        for metric in ("rate", "elbo", "active_units", "class_kl_3", "mws_mutual_info_b64"):
            # Reference 1: the per-seed records.
            assert same(means.loc[cell, metric], seed_mean(records, cell, split, metric))
            # Reference 2: the summary row, filtered directly.
            row = summary[(summary["dataset"] == cell[0]) & (summary["latent_dim"] == cell[1])
                          & (summary["weight"] == cell[2]) & (summary["split"] == split)
                          & (summary["metric"] == metric)]
            if len(row):
                assert len(row) == 1
                assert same(means.loc[cell, metric], row["mean"].iloc[0])
    # Train and test differ (the split is really selected).
    other = findings.cell_means(summary, "train" if split == "test" else "test")
    assert not np.allclose(means["rate"], other["rate"])
    # The cell with a missing seed is the mean over the two seeds that exist.
    cell = MISSING_RUN[:3]
    values = [r["rate"] for r in records if (r["dataset"], r["latent_dim"], r["weight"]) == cell
              and r["split"] == split]
    assert len(values) == 2 and same(means.loc[cell, "rate"], np.mean(values))


def test_cell_means_has_only_the_cells_of_each_dataset():
    """Datasets with different grids: no cell of one dataset's grid is invented for another."""
    rng = np.random.default_rng(11)
    runs = (layout.grid(["digits"], [2], [0.5, 1.0], [0, 1])
            + layout.grid(["fashion_mnist"], [10], [2.0, 4.0], [0, 1]))
    records = [{**run._asdict(), "split": "test", "rate": rng.uniform(1, 2),
                "active_units": float(rng.integers(1, 3))} for run in runs]
    summary = pd.concat([aggregate.summarize(aggregate.tidy([r for r in records
                                                             if r["dataset"] == d]),
                                             [r for r in runs if r.dataset == d])
                         for d in ("digits", "fashion_mnist")], ignore_index=True)
    means = findings.cell_means(summary)
    assert sorted(means.index) == sorted(cells_of(runs))
    # Every unit is active everywhere, so there is no collapse in either dataset.
    assert findings.collapse_beta(means, "digits", 2) is None
    assert findings.collapse_beta(means, "fashion_mnist", 10) is None


# derived_metrics


def test_derived_metrics_against_loops(sweep):
    records, runs, summary = sweep
    means = findings.cell_means(summary, "test")
    derived = findings.derived_metrics(means)
    expected_columns = {"class_kl_min", "class_kl_max", "aggkl_share", "moment_matched_share"}
    for estimator in ("mws", "mss"):
        expected_columns |= {f"{estimator}_mi_excess_b{b}" for b in (64, 256, 1024)}
    assert set(derived.columns) == expected_columns
    cuts = {"aggkl_share": 0, "moment_matched_share": 0}
    for cell in cells_of(runs):
        mean = {m: seed_mean(records, cell, "test", m) for m in records[0]
                if m not in aggregate.ID_COLUMNS and m != "device"}
        class_kls = [mean[f"class_kl_{c}"] for c in range(NUM_CLASSES)]
        lowest = highest = class_kls[0]
        for value in class_kls[1:]:
            lowest, highest = min(lowest, value), max(highest, value)
        assert same(derived.loc[cell, "class_kl_min"], lowest)
        assert same(derived.loc[cell, "class_kl_max"], highest)
        if mean["rate"] < findings.SHARE_MIN_RATE:
            cuts["aggkl_share"] += 1
            assert math.isnan(derived.loc[cell, "aggkl_share"])
        else:
            assert same(derived.loc[cell, "aggkl_share"],
                        100 * mean["aggregate_kl"] / mean["rate"])
        if mean["aggregate_kl"] < findings.SHARE_MIN_RATE:
            cuts["moment_matched_share"] += 1
            assert math.isnan(derived.loc[cell, "moment_matched_share"])
        else:
            assert same(derived.loc[cell, "moment_matched_share"],
                        100 * mean["moment_matched_kl"] / mean["aggregate_kl"])
        for estimator in ("mws", "mss"):
            for batch in (64, 256, 1024):
                estimate = seed_mean(records, cell, "test", f"{estimator}_mutual_info_b{batch}")
                assert same(derived.loc[cell, f"{estimator}_mi_excess_b{batch}"],
                            estimate - mean["mutual_info"])
    # The synthetic sweep exercises both sides of both cuts.
    n_cells = len(cells_of(runs))
    assert 0 < cuts["aggkl_share"] < n_cells and 0 < cuts["moment_matched_share"] < n_cells


def test_derived_metrics_cut_is_at_share_min_rate():
    cut = findings.SHARE_MIN_RATE
    index = pd.MultiIndex.from_tuples([("d", 2, 0.5), ("d", 2, 1.0), ("d", 2, 2.0)],
                                      names=findings.CELL)
    means = pd.DataFrame({"rate": [cut, cut * 0.999, 4.0],
                          "aggregate_kl": [0.25 * cut, 0.5 * cut, cut * 0.999],
                          "moment_matched_kl": [0.1, 0.1, 0.1]}, index=index)
    derived = findings.derived_metrics(means)
    assert derived["aggkl_share"].iloc[0] == pytest.approx(25.0)  # rate == cut: kept
    assert math.isnan(derived["aggkl_share"].iloc[1])
    assert derived["aggkl_share"].iloc[2] == pytest.approx(100 * cut * 0.999 / 4.0)
    assert derived["moment_matched_share"].isna().all()  # every aggregate KL is below the cut
    assert "class_kl_min" not in derived and not any("excess" in c for c in derived)


# share_range


def test_share_range_against_loop(sweep):
    records, runs, summary = sweep
    means = findings.cell_means(summary, "test")

    def reference(dataset=None):
        shares = []
        for cell in cells_of(runs):
            if dataset is not None and cell[0] != dataset:
                continue
            rate = seed_mean(records, cell, "test", "rate")
            if rate >= findings.SHARE_MIN_RATE:
                shares.append(100 * seed_mean(records, cell, "test", "aggregate_kl") / rate)
        return min(shares), max(shares)

    low, high = findings.share_range(means)
    assert same(low, reference()[0]) and same(high, reference()[1])
    assert low < high
    for dataset in DATASETS:
        low, high = findings.share_range(means.xs(dataset, level="dataset", drop_level=False))
        assert same(low, reference(dataset)[0]) and same(high, reference(dataset)[1])


def test_share_range_all_below_cut(sweep):
    _, _, summary = sweep
    means = findings.cell_means(summary, "test")
    collapsed = means.xs(8.0, level="weight", drop_level=False)  # every rate < SHARE_MIN_RATE
    assert (collapsed["rate"] < findings.SHARE_MIN_RATE).all()
    low, high = findings.share_range(collapsed)
    assert math.isnan(low) and math.isnan(high)


# collapse_beta


def active_units_summary(patterns: dict, betas: list[float], seeds=(0, 1, 2)) -> pd.DataFrame:
    """A summary whose active units per (dataset, latent_dim) and beta are given per seed."""
    records, runs = [], []
    for (dataset, latent_dim), per_beta in patterns.items():
        for beta, per_seed in zip(betas, per_beta):
            for seed, units in zip(seeds, per_seed):
                run = layout.Run(dataset, latent_dim, beta, seed)
                runs.append(run)
                records.append({**run._asdict(), "split": "test", "active_units": float(units),
                                "rate": 1.0})
    return pd.concat([aggregate.summarize(aggregate.tidy([r for r in records
                                                          if r["dataset"] == d]),
                                          [r for r in runs if r.dataset == d])
                      for d in dict.fromkeys(r.dataset for r in runs)], ignore_index=True)


def collapse_reference(betas, per_beta):
    """Smallest beta from which every larger beta has zero active units in every seed."""
    for i, beta in enumerate(betas):
        if all(all(u == 0 for u in per_seed) for per_seed in per_beta[i:]):
            return beta
    return None


def test_collapse_beta_cases():
    betas = [0.1, 0.5, 1.0, 2.0, 4.0]
    patterns = {
        # Collapse from beta 2; at beta 1 one seed keeps a unit (the mean is > 0).
        ("digits", 2): [[2, 2, 2], [2, 1, 2], [0, 1, 0], [0, 0, 0], [0, 0, 0]],
        # Zero at beta 1 and 2, but active again at the largest beta: no collapse.
        ("digits", 10): [[9, 8, 9], [5, 5, 4], [0, 0, 0], [0, 0, 0], [1, 0, 0]],
        # Collapsed at every beta: from the smallest.
        ("fashion_mnist", 2): [[0, 0, 0]] * 5,
        # Only the largest beta collapsed.
        ("fashion_mnist", 10): [[3, 3, 3], [2, 2, 2], [1, 1, 1], [1, 0, 1], [0, 0, 0]],
    }
    means = findings.cell_means(active_units_summary(patterns, betas))
    assert findings.collapse_beta(means, "digits", 2) == 2.0
    assert findings.collapse_beta(means, "digits", 10) is None
    assert findings.collapse_beta(means, "fashion_mnist", 2) == 0.1
    assert findings.collapse_beta(means, "fashion_mnist", 10) == 4.0


def test_collapse_beta_cell_without_runs_is_not_collapsed():
    """A cell whose every seed failed (mean NaN) is no evidence of zero active units."""
    runs = layout.grid(["digits"], [2], [0.5, 1.0, 2.0], [0, 1])
    records = [{**run._asdict(), "split": "test", "active_units": 1.0} for run in runs
               if run.weight != 2.0]
    means = findings.cell_means(aggregate.summarize(aggregate.tidy(records), runs))
    assert math.isnan(means.loc[("digits", 2, 2.0), "active_units"])
    assert findings.collapse_beta(means, "digits", 2) is None


def test_collapse_beta_random_patterns():
    rng = np.random.default_rng(23)
    betas = [0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0]
    patterns = {}
    for latent_dim in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13):
        start = rng.integers(0, len(betas) + 1)  # collapse from betas[start] (none if == len)
        per_beta = []
        for i in range(len(betas)):
            if i >= start:
                per_beta.append([0, 0, 0])
            else:  # some seeds may have zero units, but not all (with probability 1/2)
                per_seed = list(rng.integers(0, 3, size=3))
                if rng.uniform() < 0.5 and sum(per_seed) == 0:
                    per_seed[rng.integers(0, 3)] = 1
                per_beta.append(per_seed)
        patterns[("digits", latent_dim)] = per_beta
    means = findings.cell_means(active_units_summary(patterns, betas))
    outcomes = set()
    for (dataset, latent_dim), per_beta in patterns.items():
        expected = collapse_reference(betas, per_beta)
        outcomes.add(expected)
        assert findings.collapse_beta(means, dataset, latent_dim) == expected, latent_dim
    assert None in outcomes and len(outcomes) >= 3


# final_slopes


HISTORY_EPOCHS = {"digits": 12, "fashion_mnist": 7}  # different lengths per dataset


def make_history(seed: int = 3):
    """Histories that are linear over the last FINAL_EPOCHS + 1 epochs with known slopes and noise
    before; returns the table (rows shuffled) and the slopes per run."""
    rng = np.random.default_rng(seed)
    rows, slopes = [], {}
    window = findings.FINAL_EPOCHS
    for dataset, n_epochs in HISTORY_EPOCHS.items():
        for run in layout.grid([dataset], [2, 10], [0.5, 2.0], [0, 1, 2]):
            if run == MISSING_RUN:
                continue
            run_slopes = {curve: rng.normal(0, 0.5) for curve in findings.CURVES}
            slopes[tuple(run)] = run_slopes
            intercepts = {curve: rng.uniform(-120, 120) for curve in findings.CURVES}
            for epoch in range(1, n_epochs + 1):
                row = {**run._asdict(), "epoch": epoch, "train_elbo": rng.normal(),
                       "train_rate": rng.normal(), "train_distortion": rng.normal(),
                       "seconds": rng.uniform(0.1, 1)}
                for curve in findings.CURVES:
                    if epoch >= n_epochs - window:
                        row[curve] = intercepts[curve] + run_slopes[curve] * epoch
                    else:  # off the line, so a wrong window gives a wrong slope
                        row[curve] = rng.uniform(-300, 300)
                rows.append(row)
    table = pd.DataFrame(rows)
    return table.sample(frac=1, random_state=5).reset_index(drop=True), slopes


def test_final_slopes_known_slopes():
    history, slopes = make_history(3)
    result = findings.final_slopes(history)
    cells = {}
    for run, run_slopes in slopes.items():
        cells.setdefault(run[:3], []).append(run_slopes)
    assert sorted(result.index) == sorted(cells)
    assert set(findings.CURVES) <= set(result.columns)
    for cell, per_seed in cells.items():
        for curve in findings.CURVES:
            expected = sum(s[curve] for s in per_seed) / len(per_seed)
            assert result.loc[cell, curve] == pytest.approx(expected, abs=1e-9), (cell, curve)
    assert len(cells[MISSING_RUN[:3]]) == 2


@pytest.mark.parametrize("window", [1, 3])
def test_final_slopes_other_window(window):
    history, _ = make_history(4)
    result = findings.final_slopes(history, epochs=window)
    for cell, rows in history.groupby(findings.CELL):
        per_seed = []
        for _, run in rows.groupby("seed"):
            run = run.sort_values("epoch")
            for curve in findings.CURVES:
                values = run[curve].to_numpy()
                per_seed.append((curve, (values[-1] - values[-1 - window]) / window))
        for curve in findings.CURVES:
            expected = np.mean([s for c, s in per_seed if c == curve])
            assert result.loc[cell, curve] == pytest.approx(expected, abs=1e-9)


def test_final_slopes_history_shorter_than_window():
    """The smoke configuration trains 3 epochs, fewer than the window: no crash, and the longer
    runs keep their slopes. (The short run's slope may be NaN or the slope over its epochs.)"""
    history, slopes = make_history(3)
    short = history[(history["dataset"] == "digits") & (history["epoch"] <= 3)]
    history = pd.concat([history[history["dataset"] != "digits"], short], ignore_index=True)
    result = findings.final_slopes(history)
    for run, run_slopes in slopes.items():
        if run[0] == "fashion_mnist":
            continue
        for curve in findings.CURVES:
            value = result.loc[run[:3], curve]
            rows = short[(short["latent_dim"] == run[1]) & (short["weight"] == run[2])]
            span = [rows[rows["seed"] == s].sort_values("epoch")[curve].to_numpy()
                    for s in sorted(rows["seed"].unique())]
            over_epochs = np.mean([(v[-1] - v[0]) / (len(v) - 1) for v in span])
            assert math.isnan(value) or value == pytest.approx(over_epochs)


# minibatch_estimates


def test_minibatch_estimates_against_loops(sweep):
    records, runs, summary = sweep
    means = findings.cell_means(summary, "test")
    result = findings.minibatch_estimates(means)
    assert {"dataset", "latent_dim", "weight", "estimator", "batch_size", "mutual_info",
            "aggregate_kl", "mutual_info_excess", "aggregate_kl_excess"} <= set(result.columns)
    expected = {}
    for cell in cells_of(runs):
        batches = DATASETS[cell[0]][3]
        for estimator in ("mws", "mss"):
            for batch in batches:
                row = {}
                for key in ("mutual_info", "aggregate_kl"):
                    estimate = seed_mean(records, cell, "test", f"{estimator}_{key}_b{batch}")
                    row[key] = estimate
                    row[f"{key}_excess"] = estimate - seed_mean(records, cell, "test", key)
                expected[(*cell, estimator, batch)] = row
    got = {}
    for row in result.itertuples(index=False):
        key = (row.dataset, row.latent_dim, row.weight, row.estimator, int(row.batch_size))
        assert key not in got
        got[key] = row
    # digits has no batch of 1024: those rows are absent, not NaN.
    assert sorted(got) == sorted(expected)
    for key, row in expected.items():
        for column, value in row.items():
            assert same(getattr(got[key], column), value), (key, column)


def test_minibatch_estimates_without_estimators():
    index = pd.MultiIndex.from_tuples([("d", 2, 1.0)], names=findings.CELL)
    means = pd.DataFrame({"mutual_info": [1.0], "aggregate_kl": [0.5]}, index=index)
    assert findings.minibatch_estimates(means).empty


# job_times


def test_job_times_against_loop():
    rng = np.random.default_rng(31)
    rows = []
    for rule in ("train", "evaluate"):
        for dataset, n_jobs in (("digits", 7), ("fashion_mnist", 4)):
            for i in range(n_jobs):
                beta = layout.format_weight(0.5 * (i + 1))
                job = f"{dataset}/z{2 + 8 * (i % 2)}/beta{beta}/seed{i % 3}"
                rows.append({"rule": rule, "job": job, "s": rng.uniform(1, 500),
                             "max_rss": rng.uniform(100, 900), "cpu_time": rng.uniform(1, 900)})
    benchmarks = pd.DataFrame(rows).sample(frac=1, random_state=2)
    result = findings.job_times(benchmarks)
    reference = {}
    for row in rows:
        key = (row["rule"], row["job"].split("/")[0])
        entry = reference.setdefault(key, {"jobs": 0, "total_s": 0.0, "cpu_s": 0.0})
        entry["jobs"] += 1
        entry["total_s"] += row["s"]
        entry["cpu_s"] += row["cpu_time"]
    assert len(result) == len(reference)
    for row in result.itertuples(index=False):
        entry = reference[(row.rule, row.dataset)]
        assert row.jobs == entry["jobs"]
        assert row.total_s == pytest.approx(entry["total_s"])
        assert row.mean_s == pytest.approx(entry["total_s"] / entry["jobs"])
        assert row.cpu_s == pytest.approx(entry["cpu_s"])


def test_final_slopes_of_histories_without_the_information_curves():
    history, slopes = make_history(6)
    older = history.drop(columns=["test_mutual_info", "test_aggregate_kl"])
    result = findings.final_slopes(older)
    assert list(result.columns) == ["test_elbo", "test_rate", "test_distortion"]
    pd.testing.assert_frame_equal(result, findings.final_slopes(history)[result.columns])


# findings_table and at_ceiling (the README's findings)


def test_at_ceiling_margin():
    log_n = 9.21
    assert findings.at_ceiling(log_n - findings.CEILING_MARGIN, log_n)
    assert findings.at_ceiling(log_n, log_n)
    assert not findings.at_ceiling(log_n - findings.CEILING_MARGIN - 1e-9, log_n)
    assert not findings.at_ceiling(math.nan, log_n) and not findings.at_ceiling(1.0, math.nan)
    assert list(findings.at_ceiling([5.0, 9.2], [9.21, 9.21])) == [False, True]


def ceiling_records(seed: int = 5):
    """Records of two objectives that share (dataset, latent_dim, weight) cells, with log N and
    information near the ceiling in some cells; and the expected runs."""
    rng = np.random.default_rng(seed)
    runs, records = [], []
    for objective, seeds in (("vae", [0, 1, 2]), ("tcvae", [0])):
        for run in layout.grid(["digits"], [2, 10], [0.5, 1.0, 2.0], seeds, objective):
            runs.append(run)
            if run == layout.Run("digits", 10, 2.0, 2, "vae"):
                continue  # a failed job: that cell has two seeds
            log_n = math.log(360)
            # At the ceiling at d_z = 10 (some seeds just outside the margin), far below at 2.
            info = log_n - rng.uniform(0, 0.12) if run.latent_dim == 10 else rng.uniform(1, 4)
            aggregate_kl = rng.uniform(0, 3)
            records.append({**run._asdict(), "split": "test", "n": 360, "log_n": log_n,
                            "rate": info + aggregate_kl, "mutual_info": info,
                            "aggregate_kl": aggregate_kl,
                            "fitted_aggregate_kl_lower": aggregate_kl * rng.uniform(0, 1)})
            records.append({**run._asdict(), "split": "train", "n": 360, "log_n": log_n,
                            "rate": 99.0, "mutual_info": 1.0, "aggregate_kl": 98.0})
    summary = aggregate.summarize(aggregate.tidy(records), runs)
    return records, summary


@pytest.mark.parametrize("weight", [1.0, None])
def test_findings_table_against_loops(weight):
    records, summary = ceiling_records()
    table = findings.findings_table(summary, weight=weight)
    expected = {}
    for record in records:
        if (record["objective"] != "vae" or record["split"] != "test"
                or (weight is not None and record["weight"] != weight)):
            continue
        cell = (record["dataset"], record["latent_dim"], record["weight"])
        expected.setdefault(cell, []).append(record)
    assert [tuple(row) for row in table[findings.CELL].itertuples(index=False)] == sorted(expected)
    for row in table.itertuples(index=False):
        cell_records = expected[(row.dataset, row.latent_dim, row.weight)]
        assert row.seeds == len(cell_records)
        for metric in findings.FINDINGS_METRICS:
            values = [r[metric] for r in cell_records]
            assert same(getattr(row, metric), sum(values) / len(values)), metric
        info = sum(r["mutual_info"] for r in cell_records) / len(cell_records)
        assert row.at_ceiling == (info >= math.log(360) - findings.CEILING_MARGIN)
    assert table["at_ceiling"].any() and not table["at_ceiling"].all()


def test_findings_table_of_another_objective_and_of_nothing():
    _, summary = ceiling_records()
    tcvae = findings.findings_table(summary, objective="tcvae", weight=None)
    assert len(tcvae) == 6 and (tcvae["seeds"] == 1).all()
    assert findings.findings_table(summary, weight=4.0).empty
    assert findings.findings_table(summary, split="train_full").empty


# The README's findings as Markdown (klgap.paper.markdown)


def test_findings_markdown_marks_the_ceiling_and_missing_cells():
    from klgap.paper import markdown

    _, summary = ceiling_records()
    # A latent size with beta = 1 only: its other betas are "—" in the grid.
    extra = summary[(summary["objective"] == "vae") & (summary["latent_dim"] == 2)
                    & (summary["weight"] == 1.0)].assign(latent_dim=20)
    text = markdown.findings_markdown(pd.concat([summary, extra], ignore_index=True))
    table = findings.findings_table(summary)
    lines = text.splitlines()
    rows = [line for line in lines if line.startswith("| Digits")]
    assert len(rows) == 3 + 3  # headline: d_z 2, 10, 20; grid: the same
    for row in table.itertuples(index=False):
        [line] = [r for r in rows[:3] if r.startswith(f"| Digits (8×8) | {row.latent_dim} |")]
        assert f"| {markdown.number(row.mutual_info)}" + (markdown.CEILING_MARK if row.at_ceiling
                                                           else " |") in line
        assert f"| {markdown.number(row.rate)} |" in line
    assert rows[-1].count("—") == 2  # d_z = 20 has beta = 1 only
    assert "2 or 3 seeds" in lines[0] or "2 or 3 seeds" in text.replace("\n", " ")
    assert text.endswith("\n") and all(len(line) <= markdown.WIDTH or line.startswith("|")
                                       for line in lines)


def test_number_formatting():
    from klgap.paper import markdown

    assert markdown.number(-8.524) == "\u22128.52"
    assert markdown.number(-0.0001) == "0.00"
    assert markdown.number(10000, 0) == "10,000"
    assert markdown.number(math.nan) == "—"
    assert markdown.significant(72.71) == "72.7" and markdown.significant(0.0418464) == "0.0418"
    assert markdown.significant(6294.1) == "6,294"
    assert markdown.bench_value("0.1028", "", "outside_numerical_work_share") == "10.3 %"
    assert markdown.bench_value("2.99427", "x") == "2.99×"


def test_replace_and_read_block():
    from klgap.errors import UserError
    from klgap.paper import markdown

    text = f"head\n{markdown.FINDINGS_START}\nold\n{markdown.FINDINGS_END}\ntail\n"
    new = markdown.replace_block(text, "new\nlines\n")
    assert new == f"head\n{markdown.FINDINGS_START}\nnew\nlines\n{markdown.FINDINGS_END}\ntail\n"
    assert markdown.read_block(new) == "new\nlines\n"
    for broken in ("no markers", f"{markdown.FINDINGS_END}\n{markdown.FINDINGS_START}\n",
                   text + markdown.FINDINGS_START):
        with pytest.raises(UserError):
            markdown.replace_block(broken, "x\n")


def test_performance_markdown_shows_a_record_it_does_not_know(tmp_path):
    """A new benchmark CSV appears on the page (so the page's test asks for a rewrite) even
    before the generator describes it; the sweep's records are optional."""
    from klgap.paper import markdown

    bench = tmp_path / "results" / "bench"
    bench.mkdir(parents=True)
    pd.DataFrame([{"figure": "speed [new thing, 1 thr]", "value": 1234.5, "unit": "ex/s",
                   "target": ">= 1000", "status": "PASS", "note": "a note | with a pipe",
                   "load_1min": "0.10", "machine": "test"}]).to_csv(bench / "new_thing.csv",
                                                                   index=False)
    text = markdown.performance_markdown(tmp_path / "results")
    assert "## `results/bench/new_thing.csv`" in text
    assert "| speed [new thing, 1 thr] | 1,234 ex/s | ≥ 1000: **PASS** | a note \\| with a pipe |" \
        in text
    assert "`results/bench/new_thing.csv` | — | not recorded |" in text


def frontier_sweep(seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """A synthetic MNIST sweep of the beta-VAE and two other objectives at d_z 10, 3 seeds, and
    its per-run records (likelihood ``ais_ll``, quality ``prior_fid``)."""
    rng = np.random.default_rng(seed)
    runs = (layout.grid(["mnist"], [10], [0.5, 1.0, 2.0, 4.0], [0, 1, 2])
            + layout.grid(["mnist"], [10], [30.0, 300.0], [0, 1, 2], objective="mmd")
            + layout.grid(["mnist"], [10], [100.0, 1000.0], [0, 1, 2], objective="infovae"))
    centres = {}  # cell -> (likelihood, quality, spread)
    records = []
    for run in runs:
        cell = (run.objective, run.weight)
        if cell not in centres:
            centres[cell] = (rng.uniform(-120, -90), rng.uniform(20, 150),
                             rng.choice([0.1, 30.0]))
        likelihood, quality, spread = centres[cell]
        records.append({**run._asdict(), "split": "test", "device": "CPU",
                        "ais_ll": likelihood + rng.normal(0, 1),
                        "prior_fid": quality + rng.normal(0, spread)})
    return aggregate.summarize(aggregate.tidy(records), runs), records


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_frontier_comparison_finds_the_best_beta_at_equal_likelihood(seed):
    summary, records = frontier_sweep(seed)
    table = pd.DataFrame(records)
    stats = {}  # (objective, weight) -> (mean likelihood, mean quality, low, high)
    for (objective, weight), rows in table.groupby(["objective", "weight"]):
        fid = rows["prior_fid"].to_numpy()
        half = 4.302652729911275 * fid.std(ddof=1) / math.sqrt(3)  # t(0.975, df=2)
        stats[(objective, weight)] = (rows["ais_ll"].mean(), fid.mean(), fid.mean() - half,
                                      fid.mean() + half)
    comparison = findings.frontier_comparison(summary)
    assert len(comparison) == 4
    for row in comparison.itertuples(index=False):
        likelihood, quality, low, high = stats[(row.objective, row.weight)]
        assert row.likelihood == pytest.approx(likelihood)
        candidates = [(value[1], weight) for (objective, weight), value in stats.items()
                      if objective == "vae" and value[0] >= likelihood]
        if not candidates:
            assert row.verdict == "no main cell as likely" and math.isnan(row.best_weight)
            continue
        best_quality, best_weight = min(candidates)
        _, _, best_low, best_high = stats[("vae", best_weight)]
        assert row.best_weight == best_weight
        assert row.best_quality == pytest.approx(best_quality)
        expected = ("better" if high < best_low else "worse" if low > best_high
                    else "within intervals")
        assert row.verdict == expected


def test_bracket_ratios_divide_the_whole_training_splits_value_by_the_fitted_bound():
    rng = np.random.default_rng(43)
    runs = layout.grid(["mnist"], [2, 10], [0.5, 1.0, 8.0], [0, 1])
    records = []
    for run in runs:
        lower = -0.5 if run.weight == 8.0 else rng.uniform(0.1, 3)  # beta 8: not positive
        records += [{**run._asdict(), "split": "test", "fitted_aggregate_kl_lower": lower},
                    {**run._asdict(), "split": "train_full", "aggregate_kl": rng.uniform(0, 20)}]
    ratios = findings.bracket_ratios(aggregate.summarize(aggregate.tidy(records), runs))
    table = pd.DataFrame(records)
    assert len(ratios) == 4
    for (dataset, latent_dim, weight), ratio in ratios.items():
        cell = table[(table["latent_dim"] == latent_dim) & (table["weight"] == weight)]
        upper = cell.loc[cell["split"] == "train_full", "aggregate_kl"].mean()
        lower = cell.loc[cell["split"] == "test", "fitted_aggregate_kl_lower"].mean()
        assert ratio == pytest.approx(upper / lower)


def test_objective_values_count_seeds_and_verdicts_of_every_other_objective():
    _, records = frontier_sweep(5)
    vamp = layout.grid(["mnist"], [10], [1.0], [0, 1, 2], objective="vamp")
    records += [{**run._asdict(), "split": "test", "device": "CPU", "ais_ll": float("nan"),
                 "prior_fid": 20.0 + run.seed} for run in vamp]
    runs = [layout.Run(**{k: r[k] for k in layout.Run._fields}) for r in records]
    records = [r for r in records if not (r["objective"] == "mmd" and r["weight"] == 30.0
                                          and r["seed"] == 2)]
    summary = aggregate.summarize(aggregate.tidy(records), runs)
    found = values.objective_values(summary)
    assert found["seeds_min/mmd"] == "2" and found["seeds_min/vae"] == "3"
    assert found["seeds_min/vamp"] == "3" and found["frontier_unscored"] == "1"
    verdicts = findings.frontier_comparison(summary)["verdict"].value_counts()
    assert found["frontier_cells"] == "4"
    assert sum(int(found[f"frontier/{name}"]) for name in values.VERDICT_NAMES.values()) == 4
    for verdict, name in values.VERDICT_NAMES.items():
        assert found[f"frontier/{name}"] == str(verdicts.get(verdict, 0))
