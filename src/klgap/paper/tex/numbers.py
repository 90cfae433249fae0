r"""``numbers.tex``: the paper's macros (``\klgapCommit``, counts, ``\klgapValue``) and the
look-ups of every summarized value (``\klgapObj``, ``\klgapMean``, ``\klgapSD``)."""

import pandas as pd

from klgap.paper import findings
from klgap.paper.tex.formatting import escape, number, short_commit
from klgap.paper.tex.values import (class_count_values, configuration_values, convergence_values,
                                    count_runs, objective_values, provenance_values,
                                    sweep_values)
from klgap.sweep import layout
from klgap.sweep.tables import only_vae


def lookup_definitions(summary: pd.DataFrame) -> list[str]:
    """``\\@namedef`` lines for ``\\klgapObj``/``\\klgapMean``/``\\klgapSD`` of every cell and
    metric.

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


def class_subset_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs on some classes, their objective renamed ``<objective>-classes<labels>``
    (``vae-classes1``: the beta-VAE of the ones), so that their look-ups stay apart from those of
    the runs on every class (an empty table for tables without the column ``classes``)."""
    if "classes" not in summary.columns:
        return summary.iloc[:0]
    rows = summary[summary["classes"] != layout.ALL_CLASSES]
    return rows.assign(objective=rows["objective"] + "-classes" + rows["classes"])


def numbers_tex(summary: pd.DataFrame, history: pd.DataFrame, config: dict, provenance: dict,
                benchmarks: pd.DataFrame, commit: str, config_label: str, config_hash: str,
                latent_samples: pd.DataFrame | None = None,
                subsets: pd.DataFrame | None = None,
                more_values: dict[str, str] | None = None) -> str:
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
      subsets: summary rows of runs on some classes (``class_subset_rows``), looked up as
        ``\\klgapObj{vae-classes1}{...}``; None: none.
      more_values: further named values (e.g. ``study.study_values``), or None.

    Returns:
      The text of ``numbers.tex``: named macros (``\\klgapCommit``, ``\\klgapNumRuns``, ...),
      ``\\klgapValue{name}`` for the values of ``configuration_values``, ``sweep_values``,
      ``objective_values``, ``convergence_values``, ``class_count_values`` and
      ``provenance_values``, and look-ups of
      every cell: ``\\klgapObj{objective}{dataset}{latent dim}{weight}{split}{metric}``, and for
      the beta-VAE ``\\klgapMean`` and ``\\klgapSD`` without the objective.
    """
    every_objective, summary = summary, only_vae(summary)
    # Every run of the sweep, those on some classes too (their objective names keep them apart).
    finished, expected = count_runs(every_objective if subsets is None
                                    else pd.concat([every_objective, subsets]))
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
              **objective_values(every_objective), **convergence_values(history),
              **provenance_values(provenance, benchmarks)}
    if latent_samples is not None:
        values.update(class_count_values(latent_samples, every_objective))
    values.update(more_values or {})
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
    if subsets is not None and len(subsets):
        lines += lookup_definitions(subsets)
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"
