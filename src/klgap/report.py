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

from klgap import atomic, data, estimators, findings, layout
from klgap.aggregate import load_summaries, load_tables, only_vae
from klgap.errors import UserError

# Columns of the generated table: metric -> header.
TABLE_METRICS = {
    "elbo": "ELBO",
    "iw_ll": r"$\log p(x)$ (IW)",
    "rate": "rate",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"$\mathrm{KL}(q(z)\|p(z))$",
}

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
    cells = summary.drop_duplicates(["dataset", "latent_dim", "weight"])
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
    }
    for dataset in config["datasets"]:
        values[f"epochs/{dataset}"] = str(epochs[dataset] if isinstance(epochs, dict) else epochs)
    return values


def sweep_values(summary: pd.DataFrame, history: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` computed from the results (``findings.py`` has the definitions).

    Args:
      summary: the concatenated summaries.
      history: the concatenated training histories.

    Returns:
      Name -> LaTeX text, e.g. ``n/digits/test``, ``share_min/fashion_mnist``,
      ``collapse_beta/digits/2``, ``final_slope/fashion_mnist/test_elbo``.
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
        values["num_minibatch_cells"] = str(len(estimates) // estimates["estimator"].nunique())
    values["final_epochs"] = str(findings.FINAL_EPOCHS)
    for dataset, slopes in findings.final_slopes(history).groupby(level="dataset"):
        for curve in slopes.columns:
            values[f"final_slope/{dataset}/{curve}"] = number(slopes[curve].abs().max())
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
    """``\\@namedef`` lines for ``\\klgapMean``/``\\klgapSD`` of every cell and metric.

    Besides the summary's metrics, the per-cell quantities of ``findings.derived_metrics`` are
    defined (means only; their sd is not defined and so prints ``??``).
    """
    lines = []
    for row in summary.itertuples(index=False):
        key = f"{row.dataset}@{row.latent_dim}@{layout.format_weight(row.weight)}@{row.split}@{row.metric}"
        lines.append(rf"\@namedef{{klgap@{key}@mean}}{{{number(row.mean)}}}")
        lines.append(rf"\@namedef{{klgap@{key}@sd}}{{{number(row.sd)}}}")
    for split in summary["split"].unique():
        derived = findings.derived_metrics(findings.cell_means(summary, split))
        for (dataset, latent_dim, beta), row in derived.iterrows():
            for metric, value in row.items():
                key = f"{dataset}@{latent_dim}@{layout.format_weight(beta)}@{split}@{metric}"
                digits = 0 if metric.endswith("share") else 2
                lines.append(rf"\@namedef{{klgap@{key}@mean}}{{{number(value, digits)}}}")
    return lines


def numbers_tex(summary: pd.DataFrame, history: pd.DataFrame, config: dict, provenance: dict,
                benchmarks: pd.DataFrame, commit: str, config_label: str, config_hash: str) -> str:
    """Writes the macros of the paper.

    Args:
      summary: the concatenated summaries.
      history: the concatenated training histories.
      config: the validated configuration (``<outdir>/config.yaml``).
      provenance: ``<outdir>/provenance.json``.
      benchmarks: ``<outdir>/benchmarks.csv``.
      commit: the git commit the paper is built from (``-dirty`` if modified).
      config_label: which configuration files and overrides were used.
      config_hash: the short hash of the validated configuration.

    Returns:
      The text of ``numbers.tex``: named macros (``\\klgapCommit``, ``\\klgapNumRuns``, ...),
      ``\\klgapValue{name}`` for the values of ``configuration_values``, ``sweep_values`` and
      ``provenance_values``, and ``\\klgapMean``/``\\klgapSD`` look-ups of every cell.
    """
    finished, expected = count_runs(summary)
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
    values = {**configuration_values(config), **sweep_values(summary, history),
              **provenance_values(provenance, benchmarks)}
    lines = ["% Generated by `klgap tex`; do not edit.", r"\makeatletter"]
    lines += [rf"\newcommand{{\{name}}}{{{value}}}" for name, value in macros.items()]
    lines += [
        r"\newcommand{\klgap@missing}[1]{\textbf{??}\PackageWarning{klgap}{no value for #1}}",
        r"\DeclareRobustCommand{\klgapValue}[1]{\@ifundefined{klgap@value@#1}{\klgap@missing{#1}}"
        r"{\@nameuse{klgap@value@#1}}}",
        r"\newcommand{\klgap@lookup}[6]{\@ifundefined{klgap@#1@#2@#3@#4@#5@#6}"
        r"{\klgap@missing{#1 z=#2 beta=#3 #4 #5 #6}}{\@nameuse{klgap@#1@#2@#3@#4@#5@#6}}}",
        r"\DeclareRobustCommand{\klgapMean}[5]{\klgap@lookup{#1}{#2}{#3}{#4}{#5}{mean}}",
        r"\DeclareRobustCommand{\klgapSD}[5]{\klgap@lookup{#1}{#2}{#3}{#4}{#5}{sd}}",
    ]
    lines += [rf"\@namedef{{klgap@value@{name}}}{{{value}}}" for name, value in values.items()]
    lines += lookup_definitions(summary)
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"


def table_tex(summary: pd.DataFrame) -> str:
    """Writes the table of the test split: mean +- sd over seeds per dataset, latent size, beta.

    Args:
      summary: the concatenated summaries.

    Returns:
      A ``tabular`` (booktabs), to be wrapped in a ``table`` by the paper.
    """
    test = summary[(summary["split"] == "test") & summary["metric"].isin(list(TABLE_METRICS))]
    columns = [m for m in TABLE_METRICS if m in set(test["metric"])]
    header = ["dataset", "$d_z$", r"$\beta$"] + [TABLE_METRICS[m] for m in columns] + ["seeds"]
    lines = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(header) + r" \\"]
    for dataset, rows in test.groupby("dataset", sort=False):
        lines.append(r"\midrule")
        cells = rows.pivot_table(index=["latent_dim", "weight"], columns="metric",
                                 values=["mean", "sd"], dropna=False)
        counts = rows.drop_duplicates(["latent_dim", "weight"]).set_index(["latent_dim", "weight"])
        for latent_dim, beta in cells.index:
            values = [f"${number(cells.loc[(latent_dim, beta), ('mean', m)])} \\pm "
                      f"{number(cells.loc[(latent_dim, beta), ('sd', m)])}$" for m in columns]
            count = counts.loc[(latent_dim, beta)]
            seeds = f"{int(count['n_runs'])}/{int(count['n_expected'])}"
            lines.append(" & ".join([escape(dataset), str(latent_dim), layout.format_weight(beta)]
                                    + values + [seeds]) + r" \\")
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
    # The text and Table 1 are about the beta-VAE; the other objectives have figures of their own.
    summary = only_vae(load_summaries(args.summaries))
    history = only_vae(load_tables(args.histories, "history"))
    config = yaml.safe_load(args.config.read_text())
    provenance = json.loads(args.provenance.read_text())
    benchmarks = pd.read_csv(args.benchmarks)
    check_inputs(summary, history, provenance, benchmarks)
    atomic.write_text(args.numbers, numbers_tex(summary, history, config, provenance, benchmarks,
                                                args.commit, args.config_label, args.config_hash))
    atomic.write_text(args.table, table_tex(summary))
    print(f"wrote {args.numbers} and {args.table}")
    if args.figure_sources is not None:
        if not args.figures:
            raise UserError("--figure-sources needs --figures NAME=TABLE[,TABLE...]")
        atomic.write_text(args.figure_sources,
                          figure_sources_tex(parse_figure_sources(args.figures)))
        print(f"wrote {args.figure_sources}")
