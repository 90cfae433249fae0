r"""LaTeX generated from the aggregated summaries: macros (``numbers.tex``) and a table.

Numbers enter the paper only through these files, so the text cannot disagree with the results.
``numbers.tex`` defines provenance macros (``\klgapCommit``, ``\klgapConfigLabel``,
``\klgapConfigHash``), counts (``\klgapNumRuns``, ``\klgapNumMissingRuns``, ...), named values
(``\klgapValue{epochs/digits}``, ``\klgapValue{share_max}``, ...) and two look-ups of every
summarized value, e.g. ``\klgapMean{digits}{2}{0.5}{test}{rate}`` and ``\klgapSD{...}``. A value
that does not exist prints ``??`` and warns ("no value for ..."), which the paper's build treats as
an error.
"""

import argparse
import json
import math
from pathlib import Path

import pandas as pd
import yaml

from klgap import atomic
from klgap.data import datasets as data
from klgap.estimators import decomposition as estimators
from klgap.evaluation import evaluate
from klgap.paper import findings
from klgap.sweep import layout
from klgap.training import objectives
from klgap.sweep.tables import load_summaries, load_tables, only_vae
from klgap.errors import UserError

# Columns of Table 1 (the beta-VAE, test split): metric -> header. Older tables lack some.
TABLE_METRICS = {
    "elbo": "ELBO",
    "iw_ll": r"$\log p(x)$ (IW)",
    "rate": "rate",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"$\mathrm{KL}(q(z)\|p(z))$",
    "heldout_aggregate_kl_lower": r"held-out $\ge$",
    "label_info": r"$I_q(y;z)$",
}
# Columns of the table of objectives (test split, means over seeds): metric -> header.
OBJECTIVE_METRICS = {
    "distortion": "distortion",
    "rate": "rate",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"$\mathrm{KL}(q(z)\|p)$",
    "heldout_aggregate_kl_lower": r"held-out $\ge$",
    "total_correlation": "TC",
    "dimwise_kl": "dim-wise",
    "prior_label_kl": "prior labels",
    "prior_holes_fraction": "holes",
    "expost_label_kl": "ex-post labels",
}
# Metrics of the convergence table: curve of the history -> header.
CONVERGENCE_CURVES = {"test_elbo": "ELBO", "test_rate": "rate", "test_mutual_info": r"$I_q(x;z)$",
                      "test_aggregate_kl": r"$\mathrm{KL}(q(z)\|p)$"}

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    """Escapes LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def number(value: float, digits: int = 2) -> str:
    """Formats a number for the text; NaN becomes ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.00"


def count_runs(summary: pd.DataFrame) -> tuple[int, int]:
    """Returns (finished runs, expected runs) of the whole sweep."""
    cells = summary.drop_duplicates(["dataset", "objective", "latent_dim", "weight"])
    return int(cells["n_runs"].sum()), int(cells["n_expected"].sum())


def integer(value: float) -> str:
    """Formats a count for the text, with LaTeX thousands separators (``10{,}000``)."""
    return f"{int(round(value)):,}".replace(",", "{,}")


def listing(items) -> str:
    """Joins items as in prose: ``a, b and c`` (``none`` for no items)."""
    items = [str(item) for item in items]
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def short_commit(commit: str) -> str:
    """The first 12 hex digits of a commit, keeping a ``-dirty`` suffix."""
    return commit.removesuffix("-dirty")[:12] + ("-dirty" if commit.endswith("-dirty") else "")


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
        # The evaluation's fixed settings (klgap.evaluation.evaluate, klgap.estimators.decomposition).
        "hole_ratio": f"{estimators.HOLE_RATIO:g}",
        "generation_samples": integer(evaluate.GENERATION_SAMPLES),
        "hole_samples": integer(evaluate.HOLE_SAMPLES),
        "expost_components": str(evaluate.EXPOST_COMPONENTS),
        "expost_fit_codes": integer(evaluate.EXPOST_FIT_CODES),
        "full_split_samples": integer(evaluate.FULL_SPLIT_SAMPLES),
        "nested_samples": integer(evaluate.NESTED_SAMPLES),
        "nested_sizes": listing(integer(n) for n in evaluate.NESTED_SIZES),
    }
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
                values[f"{estimator}_mi_excess_min/b{batch}"] = number(excess.min())
                values[f"{estimator}_mi_excess_max/b{batch}"] = number(excess.max())
                values[f"log_batch/{batch}"] = number(math.log(batch))
        values["num_minibatch_cells"] = str(len(estimates) // estimates["estimator"].nunique())
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


def lookup_definitions(summary: pd.DataFrame) -> list[str]:
    """``\\@namedef`` lines for ``\\klgapObj``/``\\klgapMean``/``\\klgapSD`` of every cell and metric.

    Besides the summary's metrics, the per-cell quantities of ``findings.derived_metrics`` are
    defined (means only; their sd is not defined and so prints ``??``).

    Args:
      summary: the concatenated summaries of every objective.

    Returns:
      Lines keyed ``klgap@<objective>@<dataset>@<latent dim>@<weight>@<split>@<metric>@<mean|sd>``.
    """
    lines = []
    for row in summary.itertuples(index=False):
        key = (f"{row.objective}@{row.dataset}@{row.latent_dim}@{layout.format_weight(row.weight)}"
               f"@{row.split}@{row.metric}")
        lines.append(rf"\@namedef{{klgap@{key}@mean}}{{{number(row.mean)}}}")
        lines.append(rf"\@namedef{{klgap@{key}@sd}}{{{number(row.sd)}}}")
    for (objective, split), rows in summary.groupby(["objective", "split"], sort=False):
        derived = findings.derived_metrics(findings.cell_means(rows, split))
        for (dataset, latent_dim, weight), row in derived.iterrows():
            for metric, value in row.items():
                key = (f"{objective}@{dataset}@{latent_dim}@{layout.format_weight(weight)}"
                       f"@{split}@{metric}")
                digits = 0 if metric.endswith("share") else 2
                lines.append(rf"\@namedef{{klgap@{key}@mean}}{{{number(value, digits)}}}")
    return lines


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


def numbers_tex(summary: pd.DataFrame, history: pd.DataFrame, config: dict, provenance: dict,
                benchmarks: pd.DataFrame, commit: str, config_label: str, config_hash: str,
                latent_samples: pd.DataFrame | None = None) -> str:
    """Writes the macros of the paper.

    Args:
      summary: the concatenated summaries, every objective (the named values and counts are of
        the beta-VAE's; the look-ups cover every objective).
      history: the concatenated training histories, every objective.
      config: the validated configuration (``<outdir>/config.yaml``).
      provenance: ``<outdir>/provenance.json``.
      benchmarks: ``<outdir>/benchmarks.csv``.
      commit: the git commit the paper is built from (``-dirty`` if modified).
      config_label: which configuration files and overrides were used.
      config_hash: the short hash of the validated configuration.
      latent_samples: the concatenated ``latent_samples.csv`` tables (for the class sizes), or
        None.

    Returns:
      The text of ``numbers.tex``: named macros (``\\klgapCommit``, ``\\klgapNumRuns``, ...),
      ``\\klgapValue{name}`` for the values of ``configuration_values``, ``sweep_values``,
      ``convergence_values``, ``class_count_values`` and ``provenance_values``, and look-ups of
      every cell: ``\\klgapObj{objective}{dataset}{latent dim}{weight}{split}{metric}``, and for
      the beta-VAE ``\\klgapMean`` and ``\\klgapSD`` without the objective.
    """
    every_objective, summary = summary, only_vae(summary)
    finished, expected = count_runs(every_objective)
    macros = {
        "klgapCommit": escape(short_commit(commit)),
        "klgapConfigLabel": escape(config_label),
        "klgapConfigHash": escape(config_hash),
        "klgapDatasets": escape(", ".join(summary["dataset"].drop_duplicates())),
        "klgapNumRuns": str(finished),
        "klgapNumExpectedRuns": str(expected),
        "klgapNumMissingRuns": str(expected - finished),
        "klgapNumSeeds": str(int(summary["n_expected"].max())),
    }
    values = {**configuration_values(config), **sweep_values(summary),
              **convergence_values(history), **provenance_values(provenance, benchmarks)}
    if latent_samples is not None:
        values.update(class_count_values(latent_samples, every_objective))
    lines = ["% Generated by `klgap tex`; do not edit.", r"\makeatletter"]
    lines += [rf"\newcommand{{\{name}}}{{{value}}}" for name, value in macros.items()]
    lines += [
        r"\newcommand{\klgap@missing}[1]{\textbf{??}\PackageWarning{klgap}{no value for #1}}",
        r"\DeclareRobustCommand{\klgapValue}[1]{\@ifundefined{klgap@value@#1}{\klgap@missing{#1}}"
        r"{\@nameuse{klgap@value@#1}}}",
        r"\newcommand{\klgap@lookup}[7]{\@ifundefined{klgap@#1@#2@#3@#4@#5@#6@#7}"
        r"{\klgap@missing{#1 #2 z=#3 weight=#4 #5 #6 #7}}{\@nameuse{klgap@#1@#2@#3@#4@#5@#6@#7}}}",
        r"\DeclareRobustCommand{\klgapObj}[6]{\klgap@lookup{#1}{#2}{#3}{#4}{#5}{#6}{mean}}",
        r"\DeclareRobustCommand{\klgapMean}[5]{\klgap@lookup{vae}{#1}{#2}{#3}{#4}{#5}{mean}}",
        r"\DeclareRobustCommand{\klgapSD}[5]{\klgap@lookup{vae}{#1}{#2}{#3}{#4}{#5}{sd}}",
    ]
    lines += [rf"\@namedef{{klgap@value@{name}}}{{{value}}}" for name, value in values.items()]
    lines += lookup_definitions(every_objective)
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"


def mean_sd(cells: pd.DataFrame, index, metric: str) -> str:
    """One table cell: ``$mean \\pm sd$`` of a metric in a pivoted cell table."""
    return f"${number(cells.loc[index, ('mean', metric)])} \\pm {number(cells.loc[index, ('sd', metric)])}$"


def dataset_heading(summary: pd.DataFrame, dataset: str, columns: int) -> str:
    """A row naming a dataset and its test split's N and log N, across ``columns`` columns."""
    rows = summary[(summary["dataset"] == dataset) & (summary["split"] == "test")]
    n = rows[rows["metric"] == "n"]["mean"]
    log_n = rows[rows["metric"] == "log_n"]["mean"]
    size = (f": $N = {integer(n.iloc[0])}$, $\\log N = {number(log_n.iloc[0])}$"
            if len(n) and len(log_n) else "")
    return rf"\multicolumn{{{columns}}}{{l}}{{\emph{{{escape(dataset)}}}{size}}} \\"


def table_tex(summary: pd.DataFrame) -> str:
    """Writes Table 1, the test split of the beta-VAE: mean +- sd over seeds per cell.

    Args:
      summary: the concatenated summaries of the beta-VAE.

    Returns:
      A ``tabular`` (booktabs), to be wrapped in a ``table`` by the paper; a heading row per
      dataset gives its N and log N.
    """
    test = summary[(summary["split"] == "test") & summary["metric"].isin(list(TABLE_METRICS))]
    columns = [m for m in TABLE_METRICS if m in set(test["metric"])]
    header = ["$d_z$", r"$\beta$"] + [TABLE_METRICS[m] for m in columns] + ["seeds"]
    lines = [r"\begin{tabular}{" + "r" * len(header) + "}", r"\toprule",
             " & ".join(header) + r" \\"]
    for dataset, rows in test.groupby("dataset", sort=False):
        lines += [r"\midrule", dataset_heading(summary, dataset, len(header))]
        cells = rows.pivot_table(index=["latent_dim", "weight"], columns="metric",
                                 values=["mean", "sd"], dropna=False)
        counts = rows.drop_duplicates(["latent_dim", "weight"]).set_index(["latent_dim", "weight"])
        # The cells that ran (dropna=False also invents the pairs of latent size and beta that
        # no grid has, e.g. d_z = 20 with beta = 0.5).
        for latent_dim, beta in counts.index.sort_values():
            values = [mean_sd(cells, (latent_dim, beta), m) for m in columns]
            count = counts.loc[(latent_dim, beta)]
            seeds = f"{int(count['n_runs'])}/{int(count['n_expected'])}"
            lines.append(" & ".join([str(latent_dim), layout.format_weight(beta)]
                                    + values + [seeds]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def objectives_table_tex(summary: pd.DataFrame) -> str:
    """Writes the table of every objective: test split, means over seeds, per cell.

    Only datasets and latent sizes where an objective other than the beta-VAE ran are listed.

    Args:
      summary: the concatenated summaries of every objective.

    Returns:
      A ``tabular`` (booktabs); an empty string when only the beta-VAE ran.
    """
    test = summary[(summary["split"] == "test") & summary["metric"].isin(list(OBJECTIVE_METRICS))]
    alternatives = set(objectives.listed_in("objectives")) - set(objectives.listed_in("main"))
    others = test[test["objective"].isin(alternatives)][["dataset", "latent_dim"]].drop_duplicates()
    if others.empty:
        return ""
    columns = [m for m in OBJECTIVE_METRICS if m in set(test["metric"])]
    header = ["objective", "weight"] + [OBJECTIVE_METRICS[m] for m in columns]
    lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\"]
    for dataset, latent_dim in others.itertuples(index=False):
        rows = test[(test["dataset"] == dataset) & (test["latent_dim"] == latent_dim)]
        heading = dataset_heading(summary, dataset, len(header)).replace(
            r"}} \\", rf", $d_z = {latent_dim}$}}}} \\", 1)
        lines += [r"\midrule", heading]
        means = rows.pivot_table(index=["objective", "weight"], columns="metric", values="mean")
        for objective in objectives.listed_in("objectives"):
            if objective not in means.index.get_level_values("objective"):
                continue
            name, symbol = objectives.OBJECTIVES[objective].label, \
                objectives.OBJECTIVES[objective].weight_symbol
            for weight, row in means.loc[objective].iterrows():
                cells = [number(row[m], 3 if m == "prior_holes_fraction" else 2) for m in columns]
                lines.append(" & ".join([name, f"${symbol} = {layout.format_weight(weight)}$"]
                                        + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def convergence_table_tex(history: pd.DataFrame) -> str:
    """Writes the table of final slopes: per cell, how fast each test curve still moved.

    The cells are listed in two blocks side by side (the first half of the rows on the left), so
    that the table takes half the height.

    Args:
      history: the concatenated histories of every objective.

    Returns:
      A ``tabular`` (booktabs) of the mean over seeds of (value at the last epoch - value
      ``findings.FINAL_EPOCHS`` earlier) / that many epochs, in nats per epoch.
    """
    curves = [c for c in CONVERGENCE_CURVES if c in history.columns]
    header = ["dataset", "objective", "$d_z$", "weight", "epochs"] + [
        CONVERGENCE_CURVES[c] for c in curves]
    rows = []
    for objective in objectives.listed_in("convergence"):
        runs = history[history["objective"] == objective]
        if runs.empty:
            continue
        slopes = findings.final_slopes(runs)
        epochs = runs.groupby(findings.CELL)["epoch"].max()
        name, symbol = objectives.OBJECTIVES[objective].label, \
            objectives.OBJECTIVES[objective].weight_symbol
        for (dataset, latent_dim, weight), row in slopes.iterrows():
            rows.append([escape(dataset), name, str(latent_dim),
                         f"${symbol} = {layout.format_weight(weight)}$",
                         str(int(epochs.loc[(dataset, latent_dim, weight)]))]
                        + [number(row[c]) for c in curves])
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:] + [[""] * len(header)] * (2 * half - len(rows))
    block = "ll" + "r" * (len(header) - 2)
    lines = [r"\begin{tabular}{" + block + "@{\\hspace{2em}}" + block + "}", r"\toprule",
             " & ".join(header + header) + r" \\", r"\midrule"]
    lines += [" & ".join(l + r) + r" \\" for l, r in zip(left, right)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def parse_figure_sources(words: list[str]) -> dict[str, list[str]]:
    """Reads ``NAME=TABLE[,TABLE...]`` words (the workflow's figure registry) into a dict."""
    sources = {}
    for word in words:
        name, _, tables = word.partition("=")
        if not name or not tables:
            raise UserError(f"--figures takes NAME=TABLE[,TABLE...], not {word!r}")
        sources[name] = tables.split(",")
    return sources


def figure_sources_tex(sources: dict[str, list[str]]) -> str:
    """Writes the reproducibility appendix's table: each figure, its rule, command and tables.

    Args:
      sources: figure name -> the tables it is drawn from, in the workflow's order.

    Returns:
      A ``tabular`` (booktabs), to be wrapped by the paper.
    """
    lines = [r"\begin{tabular}{lll}", r"\toprule",
             r"figure file & rule and command & drawn from \\", r"\midrule"]
    for name, tables in sources.items():
        read = ", ".join(rf"\texttt{{<dataset>/{escape(table)}.csv}}" for table in tables)
        lines.append(rf"\texttt{{figures/{escape(name)}.pdf}} & \texttt{{figures}}: "
                     rf"\texttt{{klgap figures {escape(name)}}} & {read} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("--summaries", type=Path, nargs="+", required=True,
                        help="summary.csv files written by aggregate")
    parser.add_argument("--histories", type=Path, nargs="+", required=True,
                        help="history.csv files written by histories")
    parser.add_argument("--config", type=Path, required=True,
                        help="the validated configuration, <outdir>/config.yaml")
    parser.add_argument("--provenance", type=Path, required=True,
                        help="<outdir>/provenance.json")
    parser.add_argument("--benchmarks", type=Path, required=True, help="<outdir>/benchmarks.csv")
    parser.add_argument("--config-hash", default="unknown",
                        help="short hash of the validated configuration")
    parser.add_argument("--config-label", default="unknown",
                        help="which configuration files and overrides were used")
    parser.add_argument("--commit", default="unknown", help="git commit of the code")
    parser.add_argument("--numbers", type=Path, required=True, help="output: macros (.tex)")
    parser.add_argument("--table", type=Path, required=True, help="output: table (.tex)")
    parser.add_argument("--figures", nargs="+", default=[], metavar="NAME=TABLE[,TABLE]",
                        help="the figures drawn, with their tables (for --figure-sources)")
    parser.add_argument("--figure-sources", type=Path, default=None,
                        help="output: table of each figure's rule, command and tables (.tex)")
    parser.add_argument("--latent-samples", type=Path, nargs="+", default=[],
                        help="latent_samples.csv files (the class sizes of the test splits)")
    parser.add_argument("--objectives-table", type=Path, default=None,
                        help="output: table of every objective (.tex)")
    parser.add_argument("--convergence-table", type=Path, default=None,
                        help="output: table of the final slopes of the test curves (.tex)")


def check_inputs(summary: pd.DataFrame, history: pd.DataFrame, provenance: dict,
                 benchmarks: pd.DataFrame) -> None:
    """Stops, naming the file to remake, when an input holds no runs.

    Raises:
      UserError: the summaries or histories are empty, or the provenance records no runs.
    """
    empty = [name for name, table in (("summary", summary), ("history", history),
                                       ("benchmarks", benchmarks)) if not len(table)]
    if empty:
        raise UserError(f"the {', '.join(empty)} table(s) hold no rows: the paper needs a "
                        f"finished sweep; remake them with `make sweep`")
    if not provenance.get("runs_trained") or not provenance.get("devices"):
        raise UserError("provenance.json records no trained runs (runs_trained is 0 or devices "
                        "is empty); restore the committed one (`git checkout results/`) or "
                        "remake it with `make sweep`")


def main(args: argparse.Namespace) -> None:
    """Writes ``numbers.tex`` and the table."""
    # Table 1 and the named values are about the beta-VAE; the look-ups, the objectives' and the
    # convergence table cover every objective.
    summary = load_summaries(args.summaries)
    history = load_tables(args.histories, "history")
    config = yaml.safe_load(args.config.read_text())
    provenance = json.loads(args.provenance.read_text())
    benchmarks = pd.read_csv(args.benchmarks)
    check_inputs(only_vae(summary), history, provenance, benchmarks)
    latent_samples = (load_tables(args.latent_samples, "latent_samples")
                      if args.latent_samples else None)
    atomic.write_text(args.numbers, numbers_tex(summary, history, config, provenance, benchmarks,
                                                args.commit, args.config_label, args.config_hash,
                                                latent_samples))
    atomic.write_text(args.table, table_tex(only_vae(summary)))
    print(f"wrote {args.numbers} and {args.table}")
    if args.objectives_table is not None:
        atomic.write_text(args.objectives_table, objectives_table_tex(summary))
        print(f"wrote {args.objectives_table}")
    if args.convergence_table is not None:
        atomic.write_text(args.convergence_table, convergence_table_tex(history))
        print(f"wrote {args.convergence_table}")
    if args.figure_sources is not None:
        if not args.figures:
            raise UserError("--figure-sources needs --figures NAME=TABLE[,TABLE...]")
        atomic.write_text(args.figure_sources,
                          figure_sources_tex(parse_figure_sources(args.figures)))
        print(f"wrote {args.figure_sources}")
