"""The panel toolkit the figures share: grids of cells, beta axes, means with their intervals,
paired metrics, log N lines, legends and notes, and the choice of the cells drawn.
"""

import math
from typing import Iterator, NamedTuple

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from klgap.errors import UserError
from klgap.paper.figures.style import (COLOURS, COLUMN_WIDTH, FULL_WIDTH, objective_rank,
                                       panel_title)
from klgap.sweep import layout


# Runs missing from the summaries: a note above the panels.
MISSING_NOTE = "partial results: {finished} of {expected} runs finished"
# The latent size drawn in the figures that compare objectives (samples, objectives), where a
# dataset's table has it.
SHOWN_LATENT_DIM = 10


def panels(rows: int, cols: int, panel_width: float, panel_height: float,
           **subplot_options) -> tuple[plt.Figure, np.ndarray]:
    """Creates a figure of rows x cols panels, between a column's and the full page's width.

    Args:
      rows, cols: the grid.
      panel_width, panel_height: the size of one panel, inches (the width adjusted to fit).
      **subplot_options: passed to ``plt.subplots`` (e.g. ``sharex``).

    Returns:
      The figure and a (rows, cols) array of axes.
    """
    width = min(FULL_WIDTH, max(COLUMN_WIDTH, cols * panel_width))
    return plt.subplots(rows, cols, figsize=(width, rows * panel_height), squeeze=False,
                        layout="constrained", **subplot_options)


def legend_below(figure: plt.Figure, handles: list, ncol: int) -> None:
    """Puts one legend for the whole figure below its panels, in at most ``ncol`` columns (fewer
    if the figure is too narrow for them)."""
    ncol = max(1, min(ncol, len(handles), int(figure.get_figwidth() / 0.7)))
    figure.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False,
                  handlelength=2.2, columnspacing=1.2)


def empty_figure(message: str) -> plt.Figure:
    """A single-column figure that only says why there is nothing to draw."""
    figure, axes = panels(1, 1, COLUMN_WIDTH, 1.2)
    axes[0, 0].set_axis_off()
    axes[0, 0].text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def swept_over_beta(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the cells (dataset, latent size) trained at more than one beta: a figure
    against beta has no curve to draw for a lone beta (the tables give it)."""
    swept = summary.groupby(["dataset", "latent_dim"])["weight"].transform("nunique") > 1
    return summary[swept]


def beta_axis(ax: plt.Axes, betas, label: bool = True) -> None:
    """Makes the x-axis a log-scale beta axis with a tick at every beta of the sweep."""
    betas = sorted(set(float(b) for b in betas))
    ax.set_xscale("log")
    ax.set_xticks(betas, [layout.format_weight(b) for b in betas])
    ax.minorticks_off()
    ax.set_xlabel(r"$\beta$ (KL weight)" if label else "")


def require(summary: pd.DataFrame, metrics: list[str]) -> None:
    """Raises UserError unless every metric is in the summary."""
    absent = sorted(set(metrics) - set(summary["metric"]))
    if absent:
        raise UserError(f"the summaries lack the metrics {', '.join(absent)}; are they from an "
                        "older evaluate? Re-run evaluate and aggregate")


def cells(summary: pd.DataFrame) -> tuple[list[str], list[int]]:
    """Returns the datasets (in order of appearance) and latent sizes (ascending) of a table."""
    return list(dict.fromkeys(summary["dataset"])), sorted(int(d) for d in
                                                           summary["latent_dim"].unique())


class Panel(NamedTuple):
    """One panel of a grid figure: its axes, its cell, and whether it is in the bottom row."""

    ax: plt.Axes
    dataset: str
    latent_dim: int
    bottom: bool
    test: pd.DataFrame  # the cell's test-split rows (``cell_of``)


def cell_panels(summary: pd.DataFrame, y_label: str) -> tuple[plt.Figure, list[Panel]]:
    """A figure with a panel per dataset (rows) and latent size (columns) that has runs.

    Grid positions without runs (a dataset not trained at a latent size) are left blank. Each
    panel is titled by its cell; the first column carries the y label.

    Args:
      summary: the rows to draw (any splits).
      y_label: the first column's y label.

    Returns:
      The figure and its panels, row by row.
    """
    datasets, latent_dims = cells(summary)
    figure, axes = panels(len(datasets), len(latent_dims), FULL_WIDTH / 2, 2.0, sharex=True)
    shown = []
    for row, dataset in enumerate(datasets):
        for col, latent_dim in enumerate(latent_dims):
            ax = axes[row, col]
            if not ((summary["dataset"] == dataset) & (summary["latent_dim"] == latent_dim)).any():
                ax.set_axis_off()
                continue
            ax.set_title(panel_title(dataset, latent_dim))
            ax.set_ylabel(y_label if col == 0 else "")
            shown.append(Panel(ax, dataset, latent_dim, row == len(datasets) - 1,
                               cell_of(summary, dataset, latent_dim)))
    return figure, shown


def beta_panels(shown: list[Panel], summary: pd.DataFrame) -> Iterator[Panel]:
    """Gives the panels a beta axis over all the summary's weights and yields those with test
    rows; the others say they have no runs."""
    for panel in shown:
        beta_axis(panel.ax, summary["weight"], label=panel.bottom)
        if panel.test.empty:
            note_no_runs(panel.ax)
        else:
            yield panel


def cell_of(table: pd.DataFrame, dataset: str, latent_dim: int,
            split: str = "test") -> pd.DataFrame:
    """Selects one dataset, latent size and split of the summary."""
    return table[(table["dataset"] == dataset) & (table["latent_dim"] == latent_dim)
                 & (table["split"] == split)]


def against_beta(cell: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The mean and interval of one metric against beta (betas without a mean left out)."""
    rows = cell[cell["metric"] == metric].dropna(subset=["mean"])
    return rows.sort_values("weight")[["weight", "mean", "ci95_low", "ci95_high"]]


def plot_interval(ax: plt.Axes, x, mean, low, high, colour, label: str | None = None,
                  band: bool = True, **line_style) -> None:
    """Draws a mean as a line with its interval as a band (or error bars).

    Args:
      ax: the panel.
      x, mean, low, high: positions, means and interval bounds (NaN bounds draw nothing).
      colour: line and band colour.
      label: legend label.
      band: a shaded band if True, else vertical error bars.
      **line_style: passed to ``ax.plot``.
    """
    x, mean = np.asarray(x, float), np.asarray(mean, float)
    low, high = np.asarray(low, float), np.asarray(high, float)
    ax.plot(x, mean, color=colour, label=label, **line_style)
    if band:
        ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
    else:
        ax.errorbar(x, mean, yerr=interval_errors(mean, low, high), fmt="none", ecolor=colour,
                    elinewidth=0.8, capsize=0)


def interval_errors(mean, low, high) -> np.ndarray:
    """Error-bar lengths below and above means, (2, n); NaN bounds (one seed) give none."""
    mean, low, high = (np.asarray(v, float) for v in (mean, low, high))
    return np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)


def plot_metric(ax: plt.Axes, cell: pd.DataFrame, metric: str, colour, label: str | None = None,
                band: bool = True, **line_style) -> None:
    """Draws one metric of a summary cell against beta, mean and interval over seeds."""
    values = against_beta(cell, metric)
    plot_interval(ax, values["weight"], values["mean"], values["ci95_low"], values["ci95_high"],
                  colour, label, band, **line_style)


def log_n_line(ax: plt.Axes, cell: pd.DataFrame) -> None:
    """Draws log N, the ceiling of I_q(x; z), as a dotted line labelled with N.

    Draw it after the curves: its label goes to the end of the panel where they are farther
    from the line (``quieter_end``).
    """
    log_n = cell.loc[cell["metric"] == "log_n", "mean"].dropna()
    if log_n.empty:
        return
    value = float(log_n.iloc[0])
    end = quieter_end(ax, value)
    ax.axhline(value, color=COLOURS["log_n"], linestyle=":", linewidth=1)
    bottom, top = ax.get_ylim()
    if top < value + 0.12 * (value - bottom):  # room for the label above the line
        ax.set_ylim(bottom, value + 0.12 * (value - bottom))
    ax.annotate(f"log N, N = {round(math.exp(value)):,}",
                xy=(0.98 if end == "right" else 0.02, value), xycoords=("axes fraction", "data"),
                xytext=(0, 1.5), textcoords="offset points", ha=end, va="bottom", fontsize=6,
                color=COLOURS["log_n"],
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})


def quieter_end(ax: plt.Axes, value: float) -> str:
    """Which half of a panel, ``left`` or ``right``, has its curves farther above a height, where
    a label on a line at that height goes.

    Args:
      ax: the panel, with its curves (lines in data coordinates) drawn.
      value: the height.

    Returns:
      ``right`` unless the left half's nearest point on or above the height is farther from it.
    """
    ax.autoscale_view()
    to_axes = ax.transData + ax.transAxes.inverted()  # data -> fractions of the panel
    level = to_axes.transform((ax.get_xlim()[0], value))[1]
    nearest = {"left": math.inf, "right": math.inf}
    for line in ax.lines:
        if line.get_transform() != ax.transData:
            continue  # horizontal and vertical reference lines
        points = np.column_stack(line.get_data()).astype(float)  # (n, 2)
        points = to_axes.transform(points[np.isfinite(points).all(axis=1)])
        for x, y in points:
            if y - level > -0.02:  # on or above the line (a point's radius below counts too)
                side = "left" if x < 0.5 else "right"
                nearest[side] = min(nearest[side], abs(y - level))
    return "left" if nearest["left"] > nearest["right"] else "right"


def note_missing(figure: plt.Figure, summary: pd.DataFrame) -> None:
    """Notes above the panels how many runs are missing (failed or pending), if any."""
    runs = summary.drop_duplicates(["dataset", "objective", "latent_dim", "weight"])
    finished, expected = int(runs["n_runs"].sum()), int(runs["n_expected"].sum())
    if finished < expected:
        figure.suptitle(MISSING_NOTE.format(finished=finished, expected=expected),
                        fontsize=7, color=COLOURS["missing"])


def log_n_handle() -> Line2D:
    """The legend entry of the log N line."""
    return Line2D([], [], color=COLOURS["log_n"], linestyle=":", linewidth=1,
                  label=r"$\log N$ (ceiling of $I_q(x;z)$)")


def paired(cell: pd.DataFrame, x_metric: str, y_metric: str) -> pd.DataFrame:
    """Two metrics of a summary cell side by side, per weight (weights lacking either left out).

    Returns:
      Columns ``weight``, then ``mean, ci95_low, ci95_high`` of each, suffixed ``_x``, ``_y``.
    """
    return pd.merge(against_beta(cell, x_metric), against_beta(cell, y_metric), on="weight",
                    suffixes=("_x", "_y"))


def plot_pairs(ax: plt.Axes, points: pd.DataFrame, colour, **marker_style) -> None:
    """Draws paired means (``paired``) as markers with their 95% intervals in both directions.

    Args:
      ax: the panel.
      points: a table from ``paired``.
      colour: of markers and bars.
      **marker_style: passed to ``ax.errorbar`` (e.g. ``marker``, ``markerfacecolor``).
    """
    ax.errorbar(points["mean_x"], points["mean_y"],
                xerr=interval_errors(points["mean_x"], points["ci95_low_x"], points["ci95_high_x"]),
                yerr=interval_errors(points["mean_y"], points["ci95_low_y"], points["ci95_high_y"]),
                color=colour, linestyle="none", elinewidth=0.8, capsize=0, **marker_style)


def label_weights(ax: plt.Axes, points: pd.DataFrame) -> None:
    """Writes each point's weight beside it (points from ``paired``)."""
    for _, point in points.iterrows():
        ax.annotate(layout.format_weight(point["weight"]), (point["mean_x"], point["mean_y"]),
                    xytext=(3, 2), textcoords="offset points", fontsize=5.5, color="0.3")


def clip_to_window(values, low: float, high: float,
                   tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Moves values outside [low, high] onto its nearer edge.

    Args:
      values: the values.
      low, high: the window.
      tolerance: how far outside a value may lie and still count as inside (it is clipped).

    Returns:
      The clipped values and a mask of those that were outside (NaN stays NaN, not outside).
    """
    values = np.asarray(values, float)
    outside = (values < low - tolerance) | (values > high + tolerance)
    return np.clip(values, low, high), outside


def note_no_runs(ax: plt.Axes) -> None:
    """Says in an empty panel that the tables have no run of its cell."""
    ax.text(0.5, 0.5, "no runs in these tables", transform=ax.transAxes, ha="center",
            va="center", fontsize=7, color="0.4")


def corner_note(ax: plt.Axes, text: str) -> None:
    """Writes a short note in the lower right corner of a panel."""
    ax.text(0.98, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5,
            color="0.3", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8,
                               "pad": 0.5})


def equal_elbo_lines(ax: plt.Axes, negative_elbos: pd.Series) -> None:
    """Draws a few lines of equal ELBO (rate + distortion = constant) across a panel."""
    ax.autoscale_view()
    x_limits, y_limits = ax.get_xlim(), ax.get_ylim()
    levels = matplotlib.ticker.MaxNLocator(nbins=4).tick_values(negative_elbos.min(),
                                                                 negative_elbos.max())
    for level in levels:
        ax.axline((0, level), slope=-1, color="0.8", linewidth=0.6, linestyle="--", zorder=0)
    ax.set_xlim(x_limits)
    ax.set_ylim(y_limits)


def by_objective_and_weight(table: pd.DataFrame) -> list[tuple[tuple[str, float], pd.DataFrame]]:
    """Splits a table by objective (``objective_rank`` order) and weight (ascending)."""
    return sorted(table.groupby(["objective", "weight"]),
                  key=lambda item: (objective_rank(item[0][0]), item[0][1]))


def shown_latent_dim(table: pd.DataFrame) -> int:
    """Chooses the latent size drawn for one dataset: d_z = 10 if present, else the largest of
    those with the most objectives."""
    latent_dims = sorted(int(d) for d in table["latent_dim"].unique())
    if SHOWN_LATENT_DIM in latent_dims:
        return SHOWN_LATENT_DIM
    return max(latent_dims, key=lambda d: (table.loc[table["latent_dim"] == d, "objective"]
                                           .nunique(), d))
