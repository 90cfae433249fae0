"""Tests of the convergence study's table and values (klgap.paper.tex.study) on a synthetic sweep
and study, against references computed with plain loops over the per-seed records."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from klgap.paper.markdown.readme import study_sentence
from klgap.paper.tex import study
from klgap.sweep import layout
from klgap.sweep import study as sweep_study
from klgap.sweep import tables as aggregate

SWEEP_EPOCHS, STUDY_EPOCHS = 6, 15
LATENT_DIMS, WEIGHTS, SEEDS = [10, 20], [0.5, 1.0, 2.0], [0, 1, 2]
CURVES = ("train_elbo", "test_elbo", "test_rate", "test_distortion", "test_mutual_info",
          "test_aggregate_kl")


def records(runs, rng) -> list[dict]:
    """Per-run test records with every metric of the study's table (random values)."""
    return [{**run._asdict(), "split": "test", "device": "CPU", "n": 10000.0,
             **{metric: rng.normal(0, 20) for metric in study.STUDY_METRICS}} for run in runs]


def metrics_of(recs) -> pd.DataFrame:
    """The metrics.csv that the workflow writes of these records."""
    return aggregate.tidy(recs)


def history_of(runs, epochs, rng, start=None) -> pd.DataFrame:
    """Histories of random curves; ``start`` (a history) gives each run's first epochs."""
    rows = []
    for run in runs:
        for epoch in range(1, epochs + 1):
            rows.append({**run._asdict(), "classes": layout.ALL_CLASSES, "epoch": epoch,
                         "seconds": rng.uniform(1, 2),
                         **{curve: rng.normal(-90, 5) for curve in CURVES}})
    table = pd.DataFrame(rows)
    if start is not None:
        keys = study.RUN_KEYS + ["epoch"]
        merged = table.merge(start[keys + list(CURVES)], on=keys, how="left",
                             suffixes=("", "_start"))
        for curve in CURVES:
            merged[curve] = merged[f"{curve}_start"].fillna(merged[curve])
        table = merged[table.columns]
    return table


@pytest.fixture(scope="module")
def sweep_and_study():
    rng = np.random.default_rng(11)
    # The sweep has cells the study lacks (d_z 2) and lacks some of the study's (d_z 20 at beta
    # 0.5 and 2), and another objective's runs.
    sweep_runs = (layout.grid(["mnist"], [2, 10], WEIGHTS, SEEDS)
                  + layout.grid(["mnist"], [20], [1.0], SEEDS))
    other = [run._replace(objective="mmd") for run in layout.grid(["mnist"], [10], [30.0], SEEDS)]
    study_runs = layout.grid(["mnist"], LATENT_DIMS, WEIGHTS, SEEDS)
    # The study lacks one seed of one cell (a shard not yet run), so the pairs are by seed.
    study_runs = [run for run in study_runs
                  if (run.latent_dim, run.weight, run.seed) != (10, 1.0, 2)]
    sweep_records, study_records = records(sweep_runs + other, rng), records(study_runs, rng)
    # In one cell the AIS estimate rises by 5 nats in every seed, far beyond its interval.
    before = {r["seed"]: r["ais_ll"] for r in sweep_records
              if r["objective"] == "vae" and (r["latent_dim"], r["weight"]) == (10, 0.5)}
    for r in study_records:
        if (r["latent_dim"], r["weight"]) == (10, 0.5):
            r["ais_ll"] = before[r["seed"]] + 5 + rng.normal(0, 0.1)
    history = history_of(sweep_runs + other, SWEEP_EPOCHS, rng)
    study_history = history_of(study_runs, STUDY_EPOCHS, rng, start=history)
    # One run of the study departs from the sweep's in its third epoch.
    departs = ((study_history["latent_dim"] == 10) & (study_history["weight"] == 2.0)
               & (study_history["seed"] == 1) & (study_history["epoch"] == 3))
    study_history.loc[departs, "test_rate"] += 1e-9
    return (sweep_records, metrics_of(sweep_records), history,
            study_records, metrics_of(study_records), study_history)


def paired(sweep_records, study_records, latent_dim, weight, metric):
    """The per-seed values (sweep's, study's) of a cell over the seeds both ran, plain loops."""
    def by_seed(recs):
        return {r["seed"]: r[metric] for r in recs if r["objective"] == "vae"
                and (r["latent_dim"], r["weight"]) == (latent_dim, weight)}
    before, after = by_seed(sweep_records), by_seed(study_records)
    seeds = sorted(set(before) & set(after))
    return [before[s] for s in seeds], [after[s] for s in seeds], list(after.values())


def test_values_are_the_paired_means_and_changes(sweep_and_study):
    sweep_records, metrics, history, study_records, study_metrics, study_history = sweep_and_study
    values = study.study_values(metrics, history, study_metrics, study_history)
    assert values["study/epochs"] == str(STUDY_EPOCHS)
    assert values["study/sweep_epochs"] == str(SWEEP_EPOCHS)
    assert values["study/runs"] == str(len(LATENT_DIMS) * len(WEIGHTS) * len(SEEDS) - 1)
    assert values["study/seeds"] == str(len(SEEDS) - 1)
    assert values["study/paired_seeds"] == str(len(SEEDS) - 1)
    for metric in study.STUDY_METRICS:
        changes, beyond, falling = [], 0, 0
        for latent_dim in LATENT_DIMS:
            for weight in WEIGHTS:
                cell = f"{metric}/mnist/z{latent_dim}/{layout.format_weight(weight)}"
                before, after, every = paired(sweep_records, study_records, latent_dim, weight,
                                              metric)
                if not before:  # a cell the sweep lacks: the study's own seeds
                    assert values[f"study/{cell}/sweep"] == "n/a"
                    assert values[f"study/change/{cell}"] == "n/a"
                    assert values[f"study/{cell}/study"] == f"{np.mean(every):.2f}"
                    continue
                assert values[f"study/{cell}/sweep"] == f"{np.mean(before):.2f}"
                assert values[f"study/{cell}/study"] == f"{np.mean(after):.2f}"
                differences = np.subtract(after, before)
                assert float(values[f"study/change/{cell}"]) == pytest.approx(
                    differences.mean(), abs=0.006)
                half = (stats.t.ppf(0.975, len(differences) - 1) * np.std(differences, ddof=1)
                        / np.sqrt(len(differences)))
                assert float(values[f"study/change_pm/{cell}"]) == pytest.approx(half,
                                                                                abs=0.006)
                changes.append(abs(differences.mean()))
                beyond += bool(abs(differences.mean()) > half)
                falling += bool(differences.mean() < 0)
        assert float(values[f"study/max_change/{metric}"]) == pytest.approx(max(changes),
                                                                           abs=0.006)
        assert float(values[f"study/min_change/{metric}"]) == pytest.approx(min(changes),
                                                                           abs=0.006)
        assert values[f"study/beyond_interval/{metric}"] == str(beyond)
        assert values[f"study/falling/{metric}"] == str(falling)
        assert values["study/cells"] == str(len(changes))


def test_interval_half_width_of_the_study(sweep_and_study):
    _, metrics, history, study_records, study_metrics, study_history = sweep_and_study
    values = study.study_values(metrics, history, study_metrics, study_history)
    seeds = [r["ais_ll"] for r in study_records if (r["latent_dim"], r["weight"]) == (10, 0.5)]
    half = stats.t.ppf(0.975, len(seeds) - 1) * np.std(seeds, ddof=1) / np.sqrt(len(seeds))
    assert float(values["study/pm/ais_ll/mnist/z10/0.5"]) == pytest.approx(half, abs=0.006)


def test_matching_runs_finds_the_run_that_departs(sweep_and_study):
    _, _, history, _, _, study_history = sweep_and_study
    matching, compared = study.matching_runs(*study.compared_histories(history, study_history))
    # The runs of d_z 10 and of d_z 20 at beta 1 have a sweep run (one the study lacks); one of
    # them departs.
    assert (matching, compared) == (4 * len(SEEDS) - 2, 4 * len(SEEDS) - 1)


def test_final_slopes_of_the_study(sweep_and_study):
    _, metrics, history, _, study_metrics, study_history = sweep_and_study
    values = study.study_values(metrics, history, study_metrics, study_history)
    slopes = []
    for _, run in study_history.groupby(["latent_dim", "weight"]):
        per_seed = [(g.sort_values("epoch")["test_elbo"].iloc[-1]
                     - g.sort_values("epoch")["test_elbo"].iloc[-6]) / 5
                    for _, g in run.groupby("seed")]
        slopes.append(abs(sum(per_seed) / len(per_seed)))
    assert float(values["study/final_slope/test_elbo"]) == pytest.approx(max(slopes), abs=0.006)


def test_table_has_a_row_per_cell_with_both_epochs(sweep_and_study):
    sweep_records, metrics, history, study_records, study_metrics, study_history = sweep_and_study
    text = study.study_table_tex(metrics, history, study_metrics, study_history)
    rows = [line for line in text.splitlines() if re.match(r"^(10|20) & ", line)]
    assert len(rows) == len(LATENT_DIMS) * len(WEIGHTS)
    assert f"$d_z$ & $\\beta$ & {SWEEP_EPOCHS} & {STUDY_EPOCHS}" in text
    cells = rows[0].removesuffix(r" \\").split(" & ")
    assert cells[:2] == ["10", "0.5"]
    assert rows[3].split(" & ")[:3] == ["20", "0.5", "n/a"]  # the sweep lacks the cell
    first = next(iter(study.STUDY_METRICS))
    before, after, _ = paired(sweep_records, study_records, 10, 0.5, first)
    assert cells[2:4] == [f"${np.mean(before):.2f}$", f"${np.mean(after):.2f}$"]


def test_curve_changes_from_the_sweeps_last_epoch(sweep_and_study):
    _, metrics, history, _, study_metrics, study_history = sweep_and_study
    values = study.study_values(metrics, history, study_metrics, study_history)
    largest = 0.0
    for latent_dim in LATENT_DIMS:
        for weight in WEIGHTS:
            changes = []
            for seed in SEEDS:
                run = study_history[(study_history["latent_dim"] == latent_dim)
                                    & (study_history["weight"] == weight)
                                    & (study_history["seed"] == seed)]
                if run.empty:  # the run the study lacks
                    continue
                value = {int(e): v for e, v in zip(run["epoch"], run["test_mutual_info"])}
                changes.append(value[STUDY_EPOCHS] - value[SWEEP_EPOCHS])
            change = sum(changes) / len(changes)
            cell = f"mnist/z{latent_dim}/{layout.format_weight(weight)}"
            assert float(values[f"study/curve_change/test_mutual_info/{cell}"]) == pytest.approx(
                change, abs=0.006)
            largest = max(largest, abs(change))
    assert float(values["study/max_curve_change/test_mutual_info"]) == pytest.approx(largest,
                                                                                   abs=0.006)


def test_no_study_sentence_without_a_study(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "config.yaml").write_text(
        "datasets: [mnist]\nconvergence_study: null\n")
    assert study_sentence(tmp_path / "results") == ""


def test_a_study_without_outdir_is_refused(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "study.yaml").write_text("epochs: 200\n")
    config = {"datasets": ["mnist"], "convergence_study": "config/study.yaml"}
    with pytest.raises(sweep_study.UserError, match="sets no outdir"):
        sweep_study.study_tables(tmp_path, config, "metrics")
    (tmp_path / "config" / "study.yaml").write_text("outdir: results/longer\n")
    assert sweep_study.study_tables(tmp_path, config, "history") == [
        tmp_path / "results" / "longer" / "mnist" / "history.csv"]
