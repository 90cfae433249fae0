r"""The convergence study beside the sweep (config key ``convergence_study``): the same beta-VAE
cells trained longer. Its table (each metric after the sweep's epochs and after the study's) and its
named values (``\klgapValue{study/...}``)."""

import math

import pandas as pd

from klgap.paper import findings
from klgap.paper.tex.formatting import number
from klgap.sweep import layout
from klgap.sweep.tables import mean_interval, only_vae, whole_dataset

# Test metrics of the study's table: metric -> header.
STUDY_METRICS = {
    "elbo": "ELBO",
    "ais_ll": r"$\log p(x)$",
    "rate": "rate",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"in-sample",
    "fitted_aggregate_kl_lower": r"fitted $\ge$",
}
# The columns that identify a run in the histories and metrics tables.
RUN_KEYS = ["dataset", "objective", "classes", "latent_dim", "weight", "seed"]


def runs_on_test_split(metrics: pd.DataFrame) -> pd.DataFrame:
    """The beta-VAE's per-run test rows on every class, indexed by cell and seed."""
    rows = only_vae(whole_dataset(metrics))
    return rows[rows["split"] == "test"].set_index(findings.CELL + ["seed"])


def half_width(interval: dict[str, float]) -> float:
    """Half the width of a ``mean_interval`` (NaN for fewer than two values)."""
    return (interval["ci95_high"] - interval["ci95_low"]) / 2


def paired_cells(metrics: pd.DataFrame, study_metrics: pd.DataFrame) -> pd.DataFrame:
    """Each cell of the study beside the same cell of the sweep, seed by seed.

    Args:
      metrics: the sweep's concatenated per-run metrics.
      study_metrics: the study's.

    Returns:
      Indexed by the study's cells (``findings.CELL``), columns ``(metric, statistic)``:
      ``sweep`` and ``study``, the means over the seeds that both ran (the study's own seeds
      where the sweep lacks the cell; ``sweep`` is then NaN); ``change``, the mean of the
      per-seed differences study - sweep, and ``change_pm``, half its 95% t interval;
      ``study_pm``, half the 95% interval of ``study`` over its seeds; ``paired``, how many seeds
      both ran.
    """
    sweep, study = runs_on_test_split(metrics), runs_on_test_split(study_metrics)
    cells = {}
    for cell, runs in study.groupby(level=findings.CELL):
        row = {}
        for metric in STUDY_METRICS:
            after = runs[metric]
            before = (sweep[metric] if metric in sweep.columns
                      else pd.Series(dtype=float)).reindex(after.index)
            both = (before.notna() & after.notna()).to_numpy()
            shown = after[both] if both.any() else after.dropna()
            change = mean_interval((after - before)[both].to_numpy())
            row.update({(metric, "sweep"): before[both].mean() if both.any() else math.nan,
                        (metric, "study"): shown.mean(),
                        (metric, "change"): change["mean"],
                        (metric, "change_pm"): half_width(change),
                        (metric, "study_pm"): half_width(mean_interval(shown.to_numpy())),
                        (metric, "paired"): int(both.sum())})
        cells[cell] = row
    table = pd.DataFrame.from_dict(cells, orient="index")
    table.index.names = findings.CELL
    return table.sort_index()


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


def math_number(value: float) -> str:
    """A number for a table cell, in math mode (a minus sign, not a hyphen); ``n/a`` for NaN."""
    text = number(value)
    return text if text == "n/a" else f"${text}$"


def study_table_tex(metrics: pd.DataFrame, history: pd.DataFrame, study_metrics: pd.DataFrame,
                    study_history: pd.DataFrame) -> str:
    """Writes the study's table: per cell, each test metric after the sweep's and the study's
    epochs (means over the seeds both ran, ``paired_cells``).

    Args:
      metrics, history: the sweep's concatenated per-run metrics and histories.
      study_metrics, study_history: the study's.

    Returns:
      A ``tabular`` (booktabs).
    """
    history, study_history = compared_histories(history, study_history)
    sweep_epochs, study_epochs = last_epochs(history), last_epochs(study_history)
    cells = paired_cells(metrics, study_metrics)
    header = ["", "", *(rf"\multicolumn{{2}}{{c}}{{{name}}}" for name in STUDY_METRICS.values())]
    epochs = ["$d_z$", r"$\beta$", *[str(sweep_epochs), str(study_epochs)] * len(STUDY_METRICS)]
    rules = "".join(rf"\cmidrule(lr){{{3 + 2 * i}-{4 + 2 * i}}}" for i in range(len(STUDY_METRICS)))
    lines = [r"\begin{tabular}{ll" + "rr" * len(STUDY_METRICS) + "}", r"\toprule",
             " & ".join(header) + r" \\", rules, " & ".join(epochs) + r" \\", r"\midrule"]
    for (dataset, latent_dim, weight), row in cells.iterrows():
        shown = [math_number(row[(metric, side)]) for metric in STUDY_METRICS
                 for side in ("sweep", "study")]
        lines.append(" & ".join([str(latent_dim), layout.format_weight(weight), *shown]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% Generated by `klgap tex`; do not edit.\n" + "\n".join(lines) + "\n"


def study_values(metrics: pd.DataFrame, history: pd.DataFrame, study_metrics: pd.DataFrame,
                 study_history: pd.DataFrame) -> dict[str, str]:
    """Values of ``\\klgapValue`` about the study.

    Args:
      metrics, history: the sweep's concatenated per-run metrics and histories.
      study_metrics, study_history: the study's.

    Returns:
      Name -> LaTeX text: ``study/epochs``, ``study/sweep_epochs``, ``study/runs``,
      ``study/seeds`` (the fewest seeds of a cell), ``study/paired_seeds`` (the fewest seeds that
      a cell the sweep has shares with it), ``study/matching_runs`` and ``study/compared_runs``
      (``matching_runs``); per metric and cell (``<metric>/<dataset>/z<d>/<weight>``) the
      statistics of ``paired_cells``: ``study/<cell>/sweep``, ``study/<cell>/study``,
      ``study/pm/<cell>`` (study_pm), ``study/change/<cell>`` and ``study/change_pm/<cell>``;
      ``study/cells`` (the cells the sweep has), ``study/max_change/<metric>`` and
      ``study/min_change/<metric>`` (the largest and smallest |change| over them),
      ``study/beyond_interval/<metric>`` (how many of them change by more than the half-width of
      the change's 95% interval, i.e. whose interval leaves out zero), ``study/falling/<metric>``
      (how many of them fall),
      ``study/curve_change/<curve>/<dataset>/z<d>/<weight>`` and
      ``study/max_curve_change/<curve>`` (the same of the study's own test curves, from the
      sweep's last epoch to the study's, ``curve_changes``; every cell), and
      ``study/final_slope/<curve>`` (the largest |final slope| of the study's cells, nats per
      epoch, over ``findings.FINAL_EPOCHS`` epochs).
    """
    history, study_history = compared_histories(history, study_history)
    cells = paired_cells(metrics, study_metrics)
    runs = runs_on_test_split(study_metrics).groupby(level=findings.CELL).size()
    paired = cells[("elbo", "paired")]
    matching, compared = matching_runs(history, study_history)
    values = {
        "study/epochs": str(last_epochs(study_history)),
        "study/sweep_epochs": str(last_epochs(history)),
        "study/runs": str(int(runs.sum())),
        "study/seeds": str(int(runs.min())),
        "study/paired_seeds": str(int(paired[paired > 0].min())),
        "study/matching_runs": str(matching),
        "study/compared_runs": str(compared),
    }
    compared_cells = cells[paired > 0]
    values["study/cells"] = str(len(compared_cells))
    for metric in STUDY_METRICS:
        change = compared_cells[(metric, "change")]
        values[f"study/max_change/{metric}"] = number(change.abs().max())
        values[f"study/min_change/{metric}"] = number(change.abs().min())
        values[f"study/beyond_interval/{metric}"] = str(
            int((change.abs() > compared_cells[(metric, "change_pm")]).sum()))
        values[f"study/falling/{metric}"] = str(int((change < 0).sum()))
        for (dataset, latent_dim, weight), row in cells.iterrows():
            cell = f"{metric}/{dataset}/z{latent_dim}/{layout.format_weight(weight)}"
            values[f"study/{cell}/sweep"] = number(row[(metric, "sweep")])
            values[f"study/{cell}/study"] = number(row[(metric, "study")])
            values[f"study/pm/{cell}"] = number(row[(metric, "study_pm")])
            values[f"study/change/{cell}"] = number(row[(metric, "change")])
            values[f"study/change_pm/{cell}"] = number(row[(metric, "change_pm")])
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
