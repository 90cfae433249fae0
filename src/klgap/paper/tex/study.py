r"""The convergence study beside the sweep (config key ``convergence_study``): the same beta-VAE
cells trained longer. Its table (each metric after the sweep's epochs and after the study's) and its
named values (``\klgapValue{study/...}``)."""

import pandas as pd

from klgap.paper import findings
from klgap.paper.tex.formatting import number
from klgap.sweep import layout
from klgap.sweep.tables import only_vae, whole_dataset

# Test metrics of the study's table: metric -> header.
STUDY_METRICS = {
    "elbo": "ELBO",
    "ais_ll": r"$\log p(x)$",
    "rate": "rate",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"in-sample",
    "fitted_aggregate_kl_lower": r"fitted $\ge$",
}
# The history's columns that are curves (compared run by run); the rest identify the run or time it.
RUN_KEYS = ["dataset", "objective", "classes", "latent_dim", "weight", "seed"]


def cell_means(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The beta-VAE's test rows of one metric, indexed by ``findings.CELL``: mean, ci95_low,
    ci95_high and n."""
    rows = only_vae(whole_dataset(summary))
    rows = rows[(rows["split"] == "test") & (rows["metric"] == metric)]
    return rows.set_index(findings.CELL)[["mean", "ci95_low", "ci95_high", "n"]]


def paired_means(summary: pd.DataFrame, study_summary: pd.DataFrame) -> pd.DataFrame:
    """Each cell of the study beside the same cell of the sweep.

    Args:
      summary: the sweep's concatenated summaries.
      study_summary: the study's.

    Returns:
      Indexed by the study's cells (``findings.CELL``), columns ``(metric, "sweep" | "study")``:
      the means over seeds (NaN where the sweep lacks the cell or metric).
    """
    columns = {}
    for metric in STUDY_METRICS:
        study = cell_means(study_summary, metric)["mean"]
        sweep = cell_means(summary, metric)["mean"].reindex(study.index)
        columns[(metric, "sweep")] = sweep
        columns[(metric, "study")] = study
    return pd.DataFrame(columns).sort_index()


def compared_histories(history: pd.DataFrame,
                       study_history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The beta-VAE's histories on every class of the study's datasets: (sweep's, study's)."""
    study_history = only_vae(whole_dataset(study_history))
    history = only_vae(whole_dataset(history))
    return history[history["dataset"].isin(study_history["dataset"].unique())], study_history


def last_epochs(history: pd.DataFrame) -> int:
    """The number of epochs the runs of a history were trained (the largest epoch)."""
    return int(history["epoch"].max())


def matching_runs(history: pd.DataFrame, study_history: pd.DataFrame) -> tuple[int, int]:
    """How many of the study's runs repeat the sweep's run of the same cell and seed exactly over
    the sweep's epochs (every curve of the history; the per-epoch time left out).

    Args:
      history: the sweep's concatenated histories.
      study_history: the study's.

    Returns:
      (runs whose first epochs equal the sweep's run bit for bit, runs with a sweep run to compare).
    """
    curves = [c for c in study_history.columns if c not in RUN_KEYS + ["seconds"]]
    epochs = last_epochs(history)
    sweep_runs = dict(tuple(history.groupby(RUN_KEYS)))
    matching = compared = 0
    for key, run in study_history.groupby(RUN_KEYS):
        if key not in sweep_runs:
            continue
        compared += 1
        sweep = sweep_runs[key].sort_values("epoch")[curves].reset_index(drop=True)
        longer = run[run["epoch"] <= epochs].sort_values("epoch")[curves].reset_index(drop=True)
        matching += int(sweep.shape == longer.shape and sweep.equals(longer))
    return matching, compared


def curve_changes(study_history: pd.DataFrame, epoch: int) -> pd.DataFrame:
    """How far each test curve of the study's runs moved after an epoch.

    Args:
      study_history: the study's histories (``compared_histories``).
      epoch: the epoch to measure from (the sweep's last).

    Returns:
      One row per cell (``findings.CELL``), a column per curve of ``findings.CURVES`` that the
      history has: the mean over seeds of (value at the last epoch - value at ``epoch``).
    """
    curves = [c for c in findings.CURVES if c in study_history.columns]

    def change(run: pd.DataFrame) -> pd.Series:
        by_epoch = run.set_index("epoch")[curves]
        return by_epoch.loc[by_epoch.index.max()] - by_epoch.loc[epoch]

    runs = study_history.groupby(findings.CELL + ["seed"])[["epoch", *curves]]
    return runs.apply(change).groupby(level=findings.CELL).mean()


def study_table_tex(summary: pd.DataFrame, history: pd.DataFrame, study_summary: pd.DataFrame,
                    study_history: pd.DataFrame) -> str:
    """Writes the study's table: per cell, each test metric after the sweep's and the study's
    epochs (means over seeds).

    Args:
      summary, history: the sweep's concatenated summaries and histories.
      study_summary, study_history: the study's.

    Returns:
      A ``tabular`` (booktabs).
    """
    history, study_history = compared_histories(history, study_history)
    sweep_epochs, study_epochs = last_epochs(history), last_epochs(study_history)
    means = paired_means(summary, study_summary)
    header = ["", "", *(rf"\multicolumn{{2}}{{c}}{{{name}}}" for name in STUDY_METRICS.values())]
    epochs = ["$d_z$", r"$\beta$", *[str(sweep_epochs), str(study_epochs)] * len(STUDY_METRICS)]
    rules = "".join(rf"\cmidrule(lr){{{3 + 2 * i}-{4 + 2 * i}}}" for i in range(len(STUDY_METRICS)))
    lines = [r"\begin{tabular}{ll" + "rr" * len(STUDY_METRICS) + "}", r"\toprule",
             " & ".join(header) + r" \\", rules, " & ".join(epochs) + r" \\", r"\midrule"]
    for (dataset, latent_dim, weight), row in means.iterrows():
        cells = [number(row[(metric, side)]) for metric in STUDY_METRICS
                 for side in ("sweep", "study")]
        lines.append(" & ".join([str(latent_dim), layout.format_weight(weight), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def study_values(summary: pd.DataFrame, history: pd.DataFrame, study_summary: pd.DataFrame,
                 study_history: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` about the study.

    Args:
      summary, history: the sweep's concatenated summaries and histories.
      study_summary, study_history: the study's.

    Returns:
      Name -> LaTeX text: ``study/epochs``, ``study/sweep_epochs``, ``study/runs``,
      ``study/seeds`` (the fewest seeds of a cell), ``study/matching_runs`` and
      ``study/compared_runs`` (``matching_runs``), ``study/<metric>/<dataset>/z<d>/<weight>/<sweep
      | study>`` (means), ``study/pm/<metric>/<dataset>/z<d>/<weight>`` (half the 95% interval
      over seeds after the study's epochs), ``study/change/...`` (study - sweep) and
      ``study/max_change/<metric>`` (the largest |change| over the cells; cells the sweep has),
      ``study/curve_change/<curve>/<dataset>/z<d>/<weight>`` and
      ``study/max_curve_change/<curve>`` (the same of the study's own test curves, from the
      sweep's last epoch to the study's, ``curve_changes``; every cell), and
      ``study/final_slope/<curve>`` (the largest |final slope| of the study's cells, nats per
      epoch, over ``findings.FINAL_EPOCHS`` epochs).
    """
    history, study_history = compared_histories(history, study_history)
    means = paired_means(summary, study_summary)
    elbo = cell_means(study_summary, "elbo")
    matching, compared = matching_runs(history, study_history)
    values = {
        "study/epochs": str(last_epochs(study_history)),
        "study/sweep_epochs": str(last_epochs(history)),
        "study/runs": str(int(elbo["n"].sum())),
        "study/seeds": str(int(elbo["n"].min())),
        "study/matching_runs": str(matching),
        "study/compared_runs": str(compared),
    }
    for metric in STUDY_METRICS:
        study = cell_means(study_summary, metric)
        change = means[(metric, "study")] - means[(metric, "sweep")]
        values[f"study/max_change/{metric}"] = number(change.abs().max())
        for (dataset, latent_dim, weight), row in means.iterrows():
            cell = f"{dataset}/z{latent_dim}/{layout.format_weight(weight)}"
            for side in ("sweep", "study"):
                values[f"study/{metric}/{cell}/{side}"] = number(row[(metric, side)])
            interval = study.loc[(dataset, latent_dim, weight)]
            values[f"study/pm/{metric}/{cell}"] = number(
                (interval["ci95_high"] - interval["ci95_low"]) / 2)
            values[f"study/change/{metric}/{cell}"] = number(change.loc[(dataset, latent_dim,
                                                                         weight)])
    changes = curve_changes(study_history, last_epochs(history))
    for curve in changes.columns:
        values[f"study/max_curve_change/{curve}"] = number(changes[curve].abs().max())
        for (dataset, latent_dim, weight), change in changes[curve].items():
            cell = f"{dataset}/z{latent_dim}/{layout.format_weight(weight)}"
            values[f"study/curve_change/{curve}/{cell}"] = number(change)
    slopes = findings.final_slopes(study_history)
    for curve in slopes.columns:
        values[f"study/final_slope/{curve}"] = number(slopes[curve].abs().max())
    return values
