"""What the paper states about a sweep, computed from the aggregated tables.

Every function reads tables as the workflow writes them (``summary.csv``, ``history.csv``,
``benchmarks.csv``) and returns numbers or per-cell tables; ``report.py`` turns them into LaTeX
macros. A cell is one (dataset, latent size, beta); values are means over its seeds.
"""

import re

import numpy as np
import pandas as pd

from klgap.estimators import CEILING_MARGIN
from klgap.sweep.tables import whole_dataset

CELL = ["dataset", "latent_dim", "weight"]
# Below this rate (nats) the share aggregate_kl / rate is a ratio of two numbers near zero.
SHARE_MIN_RATE = 0.5
# The training curves' final slope is measured over this many last epochs.
FINAL_EPOCHS = 5
# The test curves whose final slopes are measured; the information and the aggregate KL are in
# histories written since they were added (issue 18), and taken where present.
CURVES = ("test_elbo", "test_rate", "test_distortion", "test_mutual_info", "test_aggregate_kl")
# Metric names of the minibatch estimators: mws_mutual_info_b256 -> ("mws", "mutual_info", 256).
MINIBATCH_METRIC = re.compile(r"^(mws|mss)_(mutual_info|aggregate_kl|total_correlation|dimwise_kl)"
                              r"_b(\d+)$")


def cell_means(summary: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The mean over seeds of every metric, one row per cell.

    Args:
      summary: concatenated ``summary.csv`` tables.
      split: ``test`` or ``train``.

    Returns:
      A table indexed by (dataset, latent_dim, beta) with one column per metric.
    """
    rows = summary[summary["split"] == split]
    means = rows.pivot_table(index=CELL, columns="metric", values="mean", dropna=False)
    # dropna=False keeps metrics that are NaN in every cell, but also invents the cells of other
    # datasets' grids: keep only the cells of the summary.
    return means.loc[pd.MultiIndex.from_frame(rows[CELL].drop_duplicates())].sort_index()


def derived_metrics(means: pd.DataFrame) -> pd.DataFrame:
    """Per-cell quantities the text quotes that are not columns of the summary.

    Args:
      means: ``cell_means`` of one split.

    Returns:
      Same index; columns ``class_kl_min``/``class_kl_max`` (over classes), ``aggkl_share`` (percent
      of the rate that is aggregate KL; NaN where rate < SHARE_MIN_RATE),
      ``moment_matched_share`` (the bound as percent of the aggregate KL; NaN where that is below
      SHARE_MIN_RATE) and ``<mws|mss>_mi_excess_b<B>`` (estimate minus exact mutual information).
    """
    derived = pd.DataFrame(index=means.index)
    class_columns = [c for c in means.columns if re.fullmatch(r"class_kl_\d+", c)]
    if class_columns:
        derived["class_kl_min"] = means[class_columns].min(axis=1)
        derived["class_kl_max"] = means[class_columns].max(axis=1)
    if {"rate", "aggregate_kl"} <= set(means.columns):
        share = 100 * means["aggregate_kl"] / means["rate"]
        derived["aggkl_share"] = share.where(means["rate"] >= SHARE_MIN_RATE)
    if {"moment_matched_kl", "aggregate_kl"} <= set(means.columns):
        share = 100 * means["moment_matched_kl"] / means["aggregate_kl"]
        derived["moment_matched_share"] = share.where(means["aggregate_kl"] >= SHARE_MIN_RATE)
    for column in means.columns:
        match = MINIBATCH_METRIC.match(column)
        if match and match.group(2) == "mutual_info":
            name = f"{match.group(1)}_mi_excess_b{match.group(3)}"
            derived[name] = means[column] - means["mutual_info"]
    return derived


def share_range(means: pd.DataFrame) -> tuple[float, float]:
    """The smallest and largest share (percent) of the rate that is aggregate KL.

    Args:
      means: ``cell_means`` (any subset of cells).

    Returns:
      (min, max) over cells whose rate is at least SHARE_MIN_RATE; NaNs if there are none.
    """
    share = derived_metrics(means)["aggkl_share"].dropna()
    return (share.min(), share.max()) if len(share) else (np.nan, np.nan)


def collapse_beta(means: pd.DataFrame, dataset: str, latent_dim: int) -> float | None:
    """The smallest beta from which no latent unit is active any more (posterior collapse).

    Args:
      means: ``cell_means`` with an ``active_units`` column.
      dataset, latent_dim: the cells' dataset and latent size.

    Returns:
      The smallest beta b such that every beta >= b has zero active units (mean over seeds), or
      None if the largest beta still has active units. A cell without runs (NaN) is not
      collapsed: it ends the search like an active one.
    """
    units = means.loc[(dataset, latent_dim), "active_units"].sort_index()
    collapsed = None
    for beta, active in units[::-1].items():
        if not active == 0:
            break
        collapsed = beta
    return collapsed


def final_slopes(history: pd.DataFrame, epochs: int = FINAL_EPOCHS) -> pd.DataFrame:
    """How fast the test curves still move at the end of training.

    Args:
      history: concatenated ``history.csv`` tables.
      epochs: the window: the slope is (value at the last epoch - value ``epochs`` earlier) /
        epochs; a run with fewer epochs uses all it has (and gives NaN with a single epoch).

    Returns:
      One row per cell, a column per curve of CURVES that the history has: the mean over seeds of
      that slope, nats per epoch.
    """
    present = [curve for curve in CURVES if curve in history.columns]

    def slope(run: pd.DataFrame) -> pd.Series:
        curves = run.sort_values("epoch")[present]
        window = min(epochs, len(curves) - 1)
        if window < 1:
            return pd.Series(np.nan, index=present)
        return (curves.iloc[-1] - curves.iloc[-1 - window]) / window

    runs = history.groupby(CELL + ["seed"])[["epoch", *present]]
    return runs.apply(slope).groupby(level=CELL).mean()


def minibatch_estimates(means: pd.DataFrame) -> pd.DataFrame:
    """The minibatch estimates beside the exact values, one row per cell, estimator and batch size.

    Args:
      means: ``cell_means``.

    Returns:
      Columns dataset, latent_dim, beta, estimator (``mws``/``mss``), batch_size, and for
      ``mutual_info`` and ``aggregate_kl``: the estimate and ``<key>_excess`` (estimate - exact).
    """
    rows = []
    for column in means.columns:
        match = MINIBATCH_METRIC.match(column)
        if not match or match.group(2) not in ("mutual_info", "aggregate_kl"):
            continue
        estimator, key, batch = match.group(1), match.group(2), int(match.group(3))
        for cell, value in means[column].items():
            rows.append({**dict(zip(CELL, cell)), "estimator": estimator, "batch_size": batch,
                         "key": key, "estimate": value, "excess": value - means.loc[cell, key]})
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).pivot_table(
        index=CELL + ["estimator", "batch_size"], columns="key", values=["estimate", "excess"])
    table.columns = [f"{key}" if kind == "estimate" else f"{key}_excess"
                     for kind, key in table.columns]
    return table.reset_index().dropna()


def job_times(benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Wall and CPU time of the training and evaluation jobs, per rule and dataset.

    Args:
      benchmarks: ``benchmarks.csv`` (columns rule, job = ``<dataset>/z<D>/beta<b>/seed<s>``, s,
        cpu_time, ...).

    Returns:
      One row per (rule, dataset): jobs, mean and total wall seconds, total CPU seconds.
    """
    table = benchmarks.assign(dataset=benchmarks["job"].str.split("/").str[0])
    return table.groupby(["rule", "dataset"]).agg(
        jobs=("s", "size"), mean_s=("s", "mean"), total_s=("s", "sum"),
        cpu_s=("cpu_time", "sum")).reset_index()


# The quantities of the findings table, in its order: the rate and its two terms, and the
# fitted-density lower bound on the population's aggregate KL (the in-sample value bounds it
# from above).
FINDINGS_METRICS = ("n", "log_n", "rate", "mutual_info", "aggregate_kl",
                    "fitted_aggregate_kl_lower")


def chosen_families(metrics: pd.DataFrame) -> dict[str, int]:
    """How often each density family was the fitted bound's choice, over the runs' test records.

    Args:
      metrics: per-run metrics (columns ``split`` and ``fitted_family``, a string).

    Returns:
      {family: runs}, the families that were chosen at least once; empty without the column.
    """
    if "fitted_family" not in metrics:
        return {}
    counts = metrics.loc[metrics["split"] == "test", "fitted_family"].dropna().value_counts()
    return {str(family): int(count) for family, count in counts.items()}


def at_ceiling(mutual_info, log_n, margin: float = CEILING_MARGIN):
    """Whether the in-sample information sits at its ceiling log N.

    Args:
      mutual_info: I_q(x; z), in-sample (a number or an array).
      log_n: log N of the same evaluation set.
      margin: how close to log N counts as at the ceiling, nats.

    Returns:
      ``mutual_info >= log_n - margin`` (False where either is NaN).
    """
    return np.asarray(mutual_info) >= np.asarray(log_n) - margin


def findings_table(summary: pd.DataFrame, objective: str = "vae", split: str = "test",
                   weight: float | None = 1.0) -> pd.DataFrame:
    """The README's findings: how the rate splits, per dataset, latent size and weight.

    Args:
      summary: concatenated ``summary.csv`` tables (``klgap.sweep.tables.load_tables``: objectives
        under their current names).
      objective: the objective whose cells are listed (the beta-VAE by default).
      split: the evaluation set.
      weight: only the cells of this weight (beta = 1 by default); None for every weight.

    Returns:
      One row per cell, sorted by dataset, latent_dim and weight: columns ``dataset, latent_dim,
      weight``, the means over seeds of ``FINDINGS_METRICS``, ``seeds`` (runs with a finite
      rate) and ``at_ceiling`` (``at_ceiling(mutual_info, log_n)``). Empty if no cell matches.
    """
    rows = summary[(summary["objective"] == objective) & (summary["split"] == split)]
    if weight is not None:
        rows = rows[np.isclose(rows["weight"].astype(float), weight, rtol=1e-12, atol=0)]
    columns = CELL + list(FINDINGS_METRICS) + ["seeds", "at_ceiling"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    means = cell_means(rows, split)
    table = pd.DataFrame(index=means.index)
    for metric in FINDINGS_METRICS:
        table[metric] = means[metric] if metric in means.columns else np.nan
    seeds = rows[rows["metric"] == "rate"].set_index(CELL)["n"]
    table["seeds"] = seeds.reindex(table.index).fillna(0).astype(int)
    table["at_ceiling"] = at_ceiling(table["mutual_info"], table["log_n"])
    return table.reset_index()[columns]


# The frontier of the main objective against which the others are judged: held-out likelihood
# (AIS estimate of log p(x), higher is better) and the quality of prior samples (FID, lower is
# better), both on the test split.
FRONTIER_LIKELIHOOD = "ais_ll"
FRONTIER_QUALITY = "prior_fid"
FRONTIER_COLUMNS = ["dataset", "latent_dim", "objective", "weight", "likelihood", "quality",
                    "quality_low", "quality_high", "best_weight", "best_likelihood",
                    "best_quality", "best_quality_low", "best_quality_high", "verdict"]


def cell_intervals(summary: pd.DataFrame, metric: str, split: str = "test") -> pd.DataFrame:
    """Mean and 95% interval over seeds of one metric, one row per cell with a finished run.

    Args:
      summary: concatenated ``summary.csv`` tables (runs on some classes are left out).
      metric: a metric of the summary.
      split: the evaluation set.

    Returns:
      Indexed by (objective, dataset, latent_dim, weight): ``mean``, ``low``, ``high`` (the
      t-based interval; NaN for a single seed).
    """
    rows = whole_dataset(summary)
    rows = rows[(rows["split"] == split) & (rows["metric"] == metric)]
    if "n_runs" in rows:
        rows = rows[rows["n_runs"] > 0]
    table = rows.set_index(["objective"] + CELL)[["mean", "ci95_low", "ci95_high"]]
    return table.rename(columns={"ci95_low": "low", "ci95_high": "high"}).sort_index()


def frontier_comparison(summary: pd.DataFrame, main: str = "vae",
                        likelihood: str = FRONTIER_LIKELIHOOD,
                        quality: str = FRONTIER_QUALITY) -> pd.DataFrame:
    """Each other objective's cell against the main objective's best cell at equal or higher
    likelihood.

    For a cell a of another objective, the main objective's cells b of the same dataset and
    latent size with mean likelihood >= a's are candidates; the best is the one of lowest mean
    ``quality``. The verdict compares the qualities' 95% intervals over seeds: ``better`` (a's
    interval lies below the best's), ``worse`` (above it), ``within intervals`` (they overlap or
    one is missing), or ``no main cell as likely`` (a's likelihood exceeds every b's).

    Args:
      summary: concatenated ``summary.csv`` tables (runs on some classes are left out).
      main: the objective whose cells form the frontier.
      likelihood: the metric to match (higher is better).
      quality: the metric to compare (lower is better).

    Returns:
      One row per cell of another objective with both metrics finite, ``FRONTIER_COLUMNS``
      (``best_*`` NaN where no main cell is as likely).
    """
    likely = cell_intervals(summary, likelihood)["mean"]
    good = cell_intervals(summary, quality)
    cells = pd.concat([likely.rename("likelihood"), good["mean"].rename("quality"),
                       good["low"].rename("quality_low"), good["high"].rename("quality_high")],
                      axis=1).dropna(subset=["likelihood", "quality"]).reset_index()
    frontier = cells[cells["objective"] == main]
    rows = []
    for cell in cells[cells["objective"] != main].itertuples(index=False):
        candidates = frontier[(frontier["dataset"] == cell.dataset)
                              & (frontier["latent_dim"] == cell.latent_dim)
                              & (frontier["likelihood"] >= cell.likelihood)]
        row = {**cell._asdict(), "best_weight": np.nan, "best_likelihood": np.nan,
               "best_quality": np.nan, "best_quality_low": np.nan, "best_quality_high": np.nan,
               "verdict": "no main cell as likely"}
        if len(candidates):
            best = candidates.loc[candidates["quality"].idxmin()]
            row.update(best_weight=best["weight"], best_likelihood=best["likelihood"],
                       best_quality=best["quality"], best_quality_low=best["quality_low"],
                       best_quality_high=best["quality_high"], verdict="within intervals")
            if cell.quality_high < best["quality_low"]:
                row["verdict"] = "better"
            elif cell.quality_low > best["quality_high"]:
                row["verdict"] = "worse"
        rows.append(row)
    return pd.DataFrame(rows, columns=FRONTIER_COLUMNS)


def bracket_ratios(summary: pd.DataFrame) -> pd.Series:
    """How wide the bracket on the population's aggregate KL is, per cell: the in-sample value on
    the whole training split (the upper side, in expectation) over the fitted bound on the test
    codes (the lower side).

    Args:
      summary: concatenated ``summary.csv`` tables of one objective.

    Returns:
      The ratio of the means over seeds, indexed by ``CELL``; only cells where both sides exist
      and the lower one is positive.
    """
    upper = cell_means(summary, "train_full")["aggregate_kl"] if (
        summary["split"] == "train_full").any() else pd.Series(dtype=float)
    test = cell_means(summary, "test")
    if "fitted_aggregate_kl_lower" not in test or upper.empty:
        return pd.Series(dtype=float)
    lower = test["fitted_aggregate_kl_lower"]
    ratio = (upper / lower.where(lower > 0)).dropna()
    return ratio.rename("bracket_ratio")
