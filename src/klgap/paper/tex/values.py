r"""The named values of the paper (``\klgapValue{name}``): the configuration, the sweep's
findings, the convergence of the training curves, the classes and how the results were made."""

import math
from pathlib import Path

import pandas as pd

from klgap.data import datasets as data
from klgap import estimators
from klgap.estimators import fitted_density, flow_density
from klgap.estimators.mixture_numerics import mws_floor
from klgap.evaluation import (ais, evaluate, feature_network, generation_metrics,
                              sample_quality)
from klgap.paper import findings
from klgap.paper.tex.formatting import escape, integer, listing, number, short_commit
from klgap.sweep import layout, verify
from klgap.sweep.tables import whole_dataset


def count_runs(summary: pd.DataFrame) -> tuple[int, int]:
    """Returns (finished runs, expected runs) of the whole sweep."""
    cells = summary.drop_duplicates(["dataset", "objective", "latent_dim", "weight"])
    return int(cells["n_runs"].sum()), int(cells["n_expected"].sum())


def configuration_values(config: dict) -> dict[str, str]:
    """Values of ``\\klgapValue`` that describe the configuration (``epochs/<dataset>``, ...)."""
    epochs = config["epochs"]
    betas = layout.upgrade_snapshot(config)["weights"]  # the beta-VAE's grid
    values = {
        "betas": listing(layout.format_weight(b) for b in betas),
        "num_betas": str(len(betas)),
        "beta_min": layout.format_weight(min(betas)),
        "beta_max": layout.format_weight(max(betas)),
        "latent_dims": listing(config["latent_dims"]),
        "seeds": listing(config["seeds"]),
        "hidden": "--".join(str(h) for h in config["hidden"]),
        "batch_size": str(config["batch_size"]),
        "learning_rate": f"{config['learning_rate']:g}",
        "iw_samples": str(config["iw_samples"]),
        "minibatch_sizes": listing(config["minibatch_sizes"]),
        "threads_per_run": str(config["threads_per_run"]),
        # The same lists for sets in formulas: {0.1, 0.2, ...}.
        "beta_set": ", ".join(layout.format_weight(b) for b in betas),
        "latent_dim_set": ", ".join(str(d) for d in config["latent_dims"]),
        "minibatch_set": ", ".join(str(b) for b in config["minibatch_sizes"]),
        "digits_test_percent": number(100 * data.DIGITS_TEST_FRACTION, 0),
        "active_unit_threshold": f"{estimators.ACTIVE_UNIT_THRESHOLD:g}",
        "digits_train_percent": number(100 * (1 - data.DIGITS_TEST_FRACTION), 0),
        # The evaluation's fixed settings (klgap.evaluation.evaluate,
        # klgap.estimators.decomposition).
        "hole_ratio": f"{estimators.HOLE_RATIO:g}",
        "generation_samples": integer(generation_metrics.GENERATION_SAMPLES),
        "hole_samples": integer(generation_metrics.HOLE_SAMPLES),
        "expost_components": str(generation_metrics.EXPOST_COMPONENTS),
        "expost_fit_codes": integer(generation_metrics.EXPOST_FIT_CODES),
        "full_split_samples": integer(evaluate.FULL_SPLIT_SAMPLES),
        "nested_samples": integer(evaluate.NESTED_SAMPLES),
        "nested_sizes": listing(integer(n) for n in evaluate.NESTED_SIZES),
        # Sample quality, the fitted bound and AIS (klgap.evaluation, klgap.estimators).
        "quality_samples": integer(generation_metrics.QUALITY_SAMPLES),
        "precision_recall_k": str(sample_quality.PRECISION_RECALL_K),
        "feature_channels": listing(feature_network.CHANNELS),
        "feature_dim": str(feature_network.FEATURE_DIM),
        "feature_epochs": str(feature_network.EPOCHS),
        "fit_validation_percent": number(100 * fitted_density.VALIDATION_FRACTION, 0),
        "gmm_component_set": ", ".join(str(k) for k in fitted_density.GMM_COMPONENTS),
        "num_bandwidths": str(len(fitted_density.MIXTURE_BANDWIDTHS)),
        "flow_couplings": str(flow_density.NUM_COUPLINGS),
        "ais_leapfrog_steps": str(ais.NUM_LEAPFROG_STEPS),
        "ais_adaptation_chains": str(ais.NUM_ADAPTATION_CHAINS),
        "ceiling_margin": f"{findings.CEILING_MARGIN:g}",
    }
    for key in ("ais_examples", "ais_steps", "ais_chains", "num_pseudo_inputs"):
        if key in config:  # snapshots of sweeps before the key lack it
            values[key] = integer(config[key])
    for dataset in config["datasets"]:
        values[f"epochs/{dataset}"] = str(epochs[dataset] if isinstance(epochs, dict) else epochs)
    runs = layout.sweep(layout.upgrade_snapshot(config))
    values["num_runs_planned"] = str(len(runs))
    for objective in dict.fromkeys(run.objective for run in runs):
        mine = [run for run in runs if run.objective == objective]
        values[f"weight_set/{objective}"] = ", ".join(
            layout.format_weight(w) for w in sorted({run.weight for run in mine}))
        values[f"num_runs/{objective}"] = str(len(mine))
    return values


def sweep_values(summary: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` computed from the results (``findings.py`` has the definitions).

    Args:
      summary: the concatenated summaries of the beta-VAE.

    Returns:
      Name -> LaTeX text, e.g. ``n/digits/test``, ``share_min/fashion_mnist``,
      ``collapse_beta/digits/2``.
    """
    test = findings.cell_means(summary, "test")
    values = {}
    for (dataset, split), rows in summary[summary["metric"] == "n"].groupby(["dataset", "split"]):
        values[f"n/{dataset}/{split}"] = integer(rows["mean"].iloc[0])
        log_n = summary[(summary["dataset"] == dataset) & (summary["split"] == split)
                        & (summary["metric"] == "log_n")]["mean"].iloc[0]
        values[f"logn/{dataset}/{split}"] = number(log_n)
    low, high = findings.share_range(test)
    values.update({"share_min": number(low, 0), "share_max": number(high, 0),
                   "share_min_rate": number(findings.SHARE_MIN_RATE, 1)})
    for dataset, cells in test.groupby(level="dataset"):
        low, high = findings.share_range(cells)
        values[f"share_min/{dataset}"] = number(low, 0)
        values[f"share_max/{dataset}"] = number(high, 0)
        for latent_dim in cells.index.get_level_values("latent_dim").unique():
            values[f"aggkl_max/{dataset}/{latent_dim}"] = number(
                cells.loc[(dataset, latent_dim), "aggregate_kl"].max())
            beta = findings.collapse_beta(test, dataset, latent_dim)
            values[f"collapse_beta/{dataset}/{latent_dim}"] = (
                "none" if beta is None else layout.format_weight(beta))
    num_classes = sum(1 for metric in summary["metric"].unique()
                      if metric.startswith("class_kl_") and metric[9:].isdigit())
    if num_classes:
        values["log_classes"] = number(math.log(num_classes))
    if "train" in set(summary["split"]):
        gap = (findings.cell_means(summary, "train")["mutual_info"] - test["mutual_info"]).abs()
        values["mi_train_test_maxdiff"] = number(gap.max())
    bracket = findings.bracket_ratios(summary)
    for (dataset, latent_dim), ratios in (bracket.groupby(level=["dataset", "latent_dim"])
                                          if len(bracket) else []):
        values[f"bracket_ratio_max/{dataset}/{latent_dim}"] = number(ratios.max(), 1)
        values[f"bracket_ratio_min/{dataset}/{latent_dim}"] = number(ratios.min(), 1)
    derived = findings.derived_metrics(test)
    if "moment_matched_share" in derived:
        values["moment_matched_share_max"] = number(derived["moment_matched_share"].max(), 1)
    estimates = findings.minibatch_estimates(test)
    if len(estimates):
        for estimator, rows in estimates.groupby("estimator"):
            values[f"{estimator}_mi_excess_min"] = number(rows["mutual_info_excess"].min())
            values[f"{estimator}_mi_excess_max"] = number(rows["mutual_info_excess"].max())
            values[f"{estimator}_negative_aggkl"] = str(int((rows["aggregate_kl"] < 0).sum()))
            for batch, batch_rows in rows.groupby("batch_size"):
                excess = batch_rows["mutual_info_excess"]
                values[f"{estimator}_mi_excess_min/b{batch}"] = number(excess.min(), 3)
                values[f"{estimator}_mi_excess_max/b{batch}"] = number(excess.max(), 3)
                values[f"log_batch/{batch}"] = number(math.log(batch))
        values["num_minibatch_cells"] = str(len(estimates) // estimates["estimator"].nunique())
        for (dataset, split), rows in summary[summary["metric"] == "n"].groupby(
                ["dataset", "split"]):
            for batch in estimates["batch_size"].unique():
                values[f"mws_floor/{dataset}/{split}/b{batch}"] = number(
                    mws_floor(int(rows["mean"].iloc[0]), int(batch)), 3)
    return values


# Names in ``frontier/<name>`` of the verdicts of ``findings.frontier_comparison``.
VERDICT_NAMES = {"better": "better", "worse": "worse", "within intervals": "within",
                 "no main cell as likely": "unmatched"}


def objective_values(summary: pd.DataFrame) -> dict[str, str]:
    """Values about every objective: finished seeds, and verdicts at equal likelihood.

    Args:
      summary: the concatenated summaries of every objective.

    Returns:
      ``seeds_min/<objective>`` (the fewest finished runs in any of its cells on the whole
      dataset); ``frontier_cells`` (cells of the other objectives with both the frontier's
      likelihood and quality), ``frontier/<verdict>`` (how many of them got each verdict of
      ``VERDICT_NAMES``) and ``frontier_unscored`` (cells with the quality but no likelihood).
    """
    rows = whole_dataset(summary)
    rows = rows[(rows["split"] == "test") & (rows["metric"] == findings.FRONTIER_QUALITY)]
    values = {f"seeds_min/{objective}": str(int(cells["n_runs"].min()))
              for objective, cells in rows.groupby("objective")}
    comparison = findings.frontier_comparison(summary)
    values["frontier_cells"] = str(len(comparison))
    for verdict, name in VERDICT_NAMES.items():
        values[f"frontier/{name}"] = str(int((comparison["verdict"] == verdict).sum()))
    quality = findings.cell_intervals(summary, findings.FRONTIER_QUALITY)["mean"].dropna()
    others = quality[quality.index.get_level_values("objective") != "vae"]
    values["frontier_unscored"] = str(len(others) - len(comparison))
    return values


def provenance_values(provenance: dict, benchmarks: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` about how the results were made: commits, devices, time."""
    values = {
        "training_commits": listing(short_commit(c) for c in provenance["training_commits"]),
        "num_training_commits": str(len(provenance["training_commits"])),
        "sweep_date": provenance["date_utc"][:10],
        "devices": escape(listing(provenance["devices"])),
        # Sweeps before CPUs were recorded lack the key.
        "cpus": escape(listing(provenance.get("cpus", ["none (these runs predate the record)"]))),
        "cpu_hours": number(provenance.get("cpu_seconds_benchmarked_total",
                                           benchmarks["cpu_time"].sum()) / 3600, 1),
        "job_hours": number(provenance["wall_seconds_benchmarked_total"] / 3600, 1),
    }
    if provenance.get("span_seconds") is not None:
        values["span_minutes"] = number(provenance["span_seconds"] / 60, 0)
    for row in findings.job_times(benchmarks).itertuples(index=False):
        values[f"job_seconds/{row.rule}/{row.dataset}"] = number(row.mean_s, 0)
    return values


def cross_cpu_values(report: Path) -> dict[str, str]:
    """Values of ``\\klgapValue`` from a ``klgap verify`` report of committed runs re-run on
    another CPU (``klgap verify --retrained``): how far they moved, in across-seed SDs.

    Args:
      report: the report (``results/bench/verify_*.csv``).

    Returns:
      ``crosscpu/runs``, ``crosscpu/values``, ``crosscpu/bitwise`` (values equal bit for bit),
      ``crosscpu/median_sd`` and ``crosscpu/max_sd`` (deviations), ``crosscpu/beyond_two_sd``
      (values more than 2 SDs away) and ``crosscpu/cpu`` (the re-run's CPU and its features).
    """
    _, machine, table = verify.read_report(report)
    deviations = table["deviation_sd"]
    return {"crosscpu/runs": str(table["run"].nunique()), "crosscpu/values": str(len(table)),
            "crosscpu/bitwise": str(int((table["difference"] == 0).sum())),
            "crosscpu/median_sd": number(deviations.median(), 2),
            "crosscpu/max_sd": number(deviations.max(), 1),
            "crosscpu/beyond_two_sd": str(int((deviations > 2).sum())),
            "crosscpu/cpu": escape(machine)}


def family_choice_values(metrics: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` on the fitted bound's density families: how often each was the
    one chosen on validation codes, over the runs' test records.

    Args:
      metrics: the sweep's concatenated per-run metrics (column ``fitted_family``, a string).

    Returns:
      ``fitted_runs`` (test records with a fitted bound) and ``fitted_chosen/<family>`` for each
      family of ``fitted_density.FAMILIES`` and the prior; empty without the column.
    """
    if "fitted_family" not in metrics:
        return {}
    counts = findings.chosen_families(metrics)
    values = {"fitted_runs": str(sum(counts.values()))}
    for family in (*fitted_density.FAMILIES, "prior"):
        values[f"fitted_chosen/{family}"] = str(counts.get(family, 0))
    return values


def class_count_values(latent_samples: pd.DataFrame, summary: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` about the classes of each test split.

    The counts are those of one drawn run's samples when they cover the whole test split
    (``klgap latent-samples`` draws every example by default); a subset gives no values.

    Args:
      latent_samples: the concatenated ``latent_samples.csv`` tables.
      summary: the concatenated summaries (for the test split's size ``n``).

    Returns:
      ``n_class/<dataset>/<c>``, ``logn_class/<dataset>/<c>`` (log n_c, the ceiling of the
      information within class c) and ``log_inv_share/<dataset>/<c>`` (log N / n_c, the most that
      KL(q(z|y=c) || q(z)) can be).
    """
    values = {}
    test_n = summary[(summary["split"] == "test") & (summary["metric"] == "n")]
    for dataset, samples in latent_samples.groupby("dataset"):
        sizes = test_n[test_n["dataset"] == dataset]["mean"]
        first = samples.groupby(["objective", "latent_dim", "weight", "seed"]).ngroup() == 0
        labels = samples[first]["label"]
        if sizes.empty or len(labels) != int(sizes.iloc[0]):
            continue
        for label, count in labels.value_counts().sort_index().items():
            values[f"n_class/{dataset}/{label}"] = integer(count)
            values[f"logn_class/{dataset}/{label}"] = number(math.log(count))
            values[f"log_inv_share/{dataset}/{label}"] = number(math.log(len(labels) / count))
    return values


def convergence_values(history: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` about the final slopes of the test curves, every objective.

    Returns:
      ``final_slope/<dataset>/<curve>`` (the largest |slope| over the dataset's cells of every
      objective) and ``final_slope/<objective>/<dataset>/<curve>``, in nats per epoch.
    """
    values = {"final_epochs": str(findings.FINAL_EPOCHS)}
    slopes = {objective: findings.final_slopes(rows)
              for objective, rows in history.groupby("objective", sort=False)}
    for objective, table in slopes.items():
        for dataset, rows in table.groupby(level="dataset"):
            for curve in rows.columns:
                values[f"final_slope/{objective}/{dataset}/{curve}"] = number(
                    rows[curve].abs().max())
    every = pd.concat(slopes.values())
    for dataset, rows in every.groupby(level="dataset"):
        for curve in rows.columns:
            values[f"final_slope/{dataset}/{curve}"] = number(rows[curve].abs().max())
    return values
