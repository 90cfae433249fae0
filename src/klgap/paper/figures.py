"""Figures of the paper, drawn from the aggregated tables of ``<outdir>/<dataset>/``.

Each figure is a function from tables to a matplotlib figure, registered in ``FIGURES`` with the
tables it needs (``summary``: ``summary.csv``; ``history``: ``history.csv``; ``latent_samples``:
``latent_samples.csv``; ``sample_grids``: ``sample_grids.csv``), and saved as a vector PDF (for
the paper) and a PNG preview. All figures share one style: seaborn's colour-blind palette (classes:
matplotlib's ten categorical colours, ``CLASS_PALETTE``), 7-8 pt text at the paper's full width
(6.9 in), information in nats, and over seeds the mean with its t-based 95% interval
(``ci95_low/high``). Figures of the beta-VAE are given its rows only; those that compare the
objectives (``figure_registry.EVERY_OBJECTIVE_FIGURES``) every objective's.
"""

import argparse
import inspect
import math
import re
import shlex
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, Patch  # noqa: E402

from klgap.sweep import tables as aggregate  # noqa: E402
from klgap import atomic
from klgap.paper import figure_registry
from klgap.sweep import layout
from klgap.training import objectives as training_objectives  # noqa: E402 (figure `objectives` below)
from klgap.sweep import sample_grids as sample_grids_module  # noqa: E402
from klgap.errors import UserError  # noqa: E402
from klgap.estimators.decomposition import HOLE_RATIO  # noqa: E402

FULL_WIDTH = 6.9  # inches: a figure across the page
COLUMN_WIDTH = 3.3  # inches: a figure in one column
CATEGORICAL = sns.color_palette("colorblind")
COLOURS = {"mutual_info": CATEGORICAL[0], "aggregate_kl": CATEGORICAL[1], "rate": "0.15",
           "label_info": CATEGORICAL[4], "moment_matched_kl": CATEGORICAL[2], "exact": "0.1",
           "log_n": "0.4", "missing": CATEGORICAL[3]}
# Classes: matplotlib's ten well-separated categorical colours, with red (the strongest) moved
# to class 1, whose codes the figure ``ones`` picks out.
CLASS_PALETTE = [matplotlib.colormaps["tab10"](i) for i in (0, 3, 2, 1, 4, 5, 6, 7, 8, 9)]
GREY_CODES = "0.78"  # the codes of every class, where one class is picked out
ONE_CLASS = 1  # the class of figure ``ones``
LABELS = {
    "rate": r"rate $\mathbb{E}_x\,\mathrm{KL}(q(z|x)\,\|\,p(z))$",
    "mutual_info": r"$I_q(x;z)$",
    "aggregate_kl": r"$\mathrm{KL}(q(z)\,\|\,p(z))$",
    "label_info": r"$I_q(y;z)$",
    "moment_matched_kl": r"moment-matched bound $\mathrm{KL}(\mathcal{N}(m,S)\,\|\,p(z))$",
    "class_kl": r"$\mathrm{KL}(q(z|y{=}c)\,\|\,p(z))$",
}
DATASET_NAMES = {"digits": "Digits (8×8)", "fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
# Runs missing from the summaries: a note above the panels.
MISSING_NOTE = "partial results: {finished} of {expected} runs finished"


def set_style() -> None:
    """Sets the common style of every figure (fonts sized for print, colour-blind palette)."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind", rc={
        "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
        "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
        "axes.grid": True, "grid.color": "0.9", "grid.linewidth": 0.5,
        "lines.linewidth": 1.2, "lines.markersize": 3.5, "axes.linewidth": 0.6,
        "pdf.fonttype": 42, "ps.fonttype": 42})


# --- shared pieces ------------------------------------------------------------------------------


def dataset_name(dataset: str) -> str:
    """Returns the name of a dataset as printed in figures."""
    return DATASET_NAMES.get(dataset, dataset)


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


def beta_colours(betas) -> dict[float, tuple]:
    """Maps betas to colours of the sequential, colour-blind-safe viridis map (dark = small)."""
    betas = sorted(set(float(b) for b in betas))
    colour_map = plt.get_cmap("viridis")
    positions = np.linspace(0.0, 0.85, len(betas)) if len(betas) > 1 else [0.4]
    return {beta: colour_map(position) for beta, position in zip(betas, positions)}


def class_colours(labels) -> dict[int, tuple]:
    """Maps class labels 0..9 to ``CLASS_PALETTE`` (class c, colour c); more classes to husl."""
    labels = sorted(set(int(label) for label in labels))
    if labels and 0 <= labels[0] and labels[-1] < len(CLASS_PALETTE):
        return {label: CLASS_PALETTE[label] for label in labels}
    return dict(zip(labels, sns.color_palette("husl", len(labels))))


def objective_style(objective: str) -> tuple[tuple, str]:
    """The colour and marker of an objective (its ``style``; unknown ones grey diamonds)."""
    if objective not in training_objectives.OBJECTIVES:
        return "0.4", "D"
    palette_index, marker = training_objectives.OBJECTIVES[objective].style
    return CATEGORICAL[palette_index], marker


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


def panel_title(dataset: str, latent_dim: int) -> str:
    """Names a panel by dataset and latent size."""
    return f"{dataset_name(dataset)}, $d_z = {latent_dim}$"


# --- figures from the summaries -----------------------------------------------------------------


def rate_split(summary: pd.DataFrame) -> plt.Figure:
    """The rate split into I_q(x; z) and KL(q(z) || p(z)) against beta, test split.

    One panel per dataset (rows) and latent size (columns). The stacked areas are the means over
    seeds of the two terms (they add up to the mean rate, the top line); error bars are the
    t-based 95% intervals of the mutual information and of the rate. The dotted line is log N,
    the ceiling of the mutual information under the empirical data distribution.

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["rate", "mutual_info", "aggregate_kl", "log_n"])
    figure, shown = cell_panels(summary, "nats")
    for ax, _, _, bottom, cell in shown:
        both = pd.merge(against_beta(cell, "mutual_info"), against_beta(cell, "rate"),
                        on="weight", suffixes=("_mi", "_rate"))
        ax.fill_between(both["weight"], 0, both["mean_mi"], color=COLOURS["mutual_info"],
                        alpha=0.55, linewidth=0)
        ax.fill_between(both["weight"], both["mean_mi"], both["mean_rate"],
                        color=COLOURS["aggregate_kl"], alpha=0.55, linewidth=0)
        for suffix, colour in (("_mi", COLOURS["mutual_info"]), ("_rate", COLOURS["rate"])):
            plot_interval(ax, both["weight"], both["mean" + suffix], both["ci95_low" + suffix],
                          both["ci95_high" + suffix], colour, band=False, marker="o")
        log_n_line(ax, cell)
        ax.set_ylim(bottom=0)
        beta_axis(ax, cell["weight"], label=bottom)
    note_missing(figure, summary)
    legend_below(figure, [
        Patch(color=COLOURS["mutual_info"], alpha=0.55, label=LABELS["mutual_info"]),
        Patch(color=COLOURS["aggregate_kl"], alpha=0.55, label=LABELS["aggregate_kl"]),
        Line2D([], [], color=COLOURS["rate"], marker="o", label=LABELS["rate"]),
        log_n_handle()], ncol=4)
    return figure


class Estimate(NamedTuple):
    """One estimate of a quantity in the N-bracket figure: which split's metric, and its look."""

    split: str
    metric: str
    label: str  # in the legend
    style: dict  # passed to ``ax.plot``
    bound: bool  # a held-out bound, which may lie far outside the in-sample estimates' range


# The N-bracket of each quantity, in drawing order (the test split's filled circles on top).
N_BRACKET = {quantity: (
    Estimate("train_full", quantity, "whole training split",
             {"linestyle": "--", "marker": "s", "markersize": 5, "markerfacecolor": "none",
              "linewidth": 1.0}, False),
    Estimate("test", heldout_metric, f"held-out {side} bound on {symbol}",
             {"linestyle": ":", "marker": marker, "markersize": 4.5, "linewidth": 1.3}, True),
    Estimate("test", quantity, "test split", {"linestyle": "-", "marker": "o"}, False))
    for quantity, heldout_metric, side, marker, symbol in (
        ("mutual_info", "heldout_mutual_info_upper", "upper", "v", "I"),
        ("aggregate_kl", "heldout_aggregate_kl_lower", "lower", "^", "KL"))}
OFF_SCALE_LABEL = "hollow: a bound off scale, its value written"


def mi_aggkl(summary: pd.DataFrame) -> plt.Figure:
    """The N-bracket: I_q(x; z) and KL(q(z) || p(z)) in-sample at two sizes N and held out.

    One panel per dataset (rows) and latent size (columns), against beta. Blue: the mutual
    information; orange: the aggregate KL. Solid lines with filled circles: in-sample on the
    test split (the mixture of its N posteriors); dashed lines with hollow squares: in-sample on
    the whole training split (split ``train_full``); dotted lines with triangles: held-out
    bounds, the training split's mixture evaluated at the test split's codes (metrics
    ``heldout_mutual_info_upper``, an upper bound on the information, triangles down, and
    ``heldout_aggregate_kl_lower``, a lower bound on the aggregate KL, triangles up, of the test
    split's rows). Lines are means over seeds; bands and bars their t-based 95% intervals. The
    y-range is that of the in-sample estimates and log N: a bound outside it is drawn as a hollow
    marker on the edge with its value written beside it. Dotted grey lines: log N of the test
    split and of the whole training split, the ceilings of the in-sample information. Tables
    without the whole training split or the held-out bounds show what they have.

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["mutual_info", "aggregate_kl", "log_n"])
    figure, shown = cell_panels(summary, "nats")
    drawn = set()  # what some panel drew (``n_bracket_panel``)
    for ax, dataset, latent_dim, bottom, _ in shown:
        drawn |= n_bracket_panel(ax, summary, dataset, latent_dim)
        beta_axis(ax, summary["weight"], label=bottom)
    # Colours name the quantities; grey styles the in-sample estimates; bounds are one of each.
    handles = [Line2D([], [], color=COLOURS[quantity], label=LABELS[quantity])
               for quantity in N_BRACKET]
    in_sample = [e for e in N_BRACKET["mutual_info"] if not e.bound][::-1]  # test, whole
    handles += [Line2D([], [], color="0.3", label=f"in-sample, {e.label}", **e.style)
                for e in in_sample if any((q, e.label) in drawn for q in N_BRACKET)]
    handles += [Line2D([], [], color=COLOURS[quantity], label=e.label, **e.style)
                for quantity, bracket in N_BRACKET.items() for e in bracket
                if e.bound and (quantity, e.label) in drawn]
    handles.append(log_n_handle())
    if OFF_SCALE_LABEL in drawn:
        handles.append(Line2D([], [], color="0.3", marker="^", markerfacecolor="white",
                              linestyle="none", label=OFF_SCALE_LABEL))
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=4)
    return figure


def n_bracket_panel(ax: plt.Axes, summary: pd.DataFrame, dataset: str, latent_dim: int) -> set:
    """Draws one panel of the N-bracket figure (``mi_aggkl``).

    Args:
      ax: the panel.
      summary: the concatenated summaries.
      dataset, latent_dim: the panel's cell.

    Returns:
      What it drew: ``(quantity, estimate label)`` pairs, and ``OFF_SCALE_LABEL`` if a bound
      was off scale.
    """
    series = [(quantity, estimate,
               against_beta(cell_of(summary, dataset, latent_dim, estimate.split),
                            estimate.metric))
              for quantity, bracket in N_BRACKET.items() for estimate in bracket]
    series = [(quantity, estimate, values) for quantity, estimate, values in series if len(values)]
    if not series:
        note_no_runs(ax)
        return set()
    log_n_cells = [cell_of(summary, dataset, latent_dim, split) for split in ("test", "train_full")]
    in_sample = [values[["mean", "ci95_high"]].to_numpy().ravel()
                 for _, estimate, values in series if not estimate.bound]
    in_sample += [cell.loc[cell["metric"] == "log_n", "mean"].to_numpy() for cell in log_n_cells]
    heights = np.concatenate(in_sample)
    top = 1.15 * float(np.nanmax(heights)) if np.isfinite(heights).any() else 1.0
    ax.set_ylim(0, top)
    drawn = set()
    for quantity, estimate, values in series:
        colour = COLOURS[quantity]
        if estimate.bound:
            if plot_bound(ax, values, 0, top, colour, **estimate.style):
                drawn.add(OFF_SCALE_LABEL)
        else:
            plot_interval(ax, values["weight"], values["mean"], values["ci95_low"],
                          values["ci95_high"], colour, **estimate.style)
        drawn.add((quantity, estimate.label))
    ax.set_ylim(0, top)  # the in-sample bands stay inside
    for cell in log_n_cells:
        log_n_line(ax, cell)
    return drawn


def plot_bound(ax: plt.Axes, values: pd.DataFrame, low: float, high: float, colour,
               **line_style) -> bool:
    """Draws a bound against the weight within [low, high]: values outside on the nearer edge,
    as hollow markers with their value written beside them.

    Args:
      ax: the panel.
      values: ``weight, mean, ci95_low, ci95_high`` (``against_beta``).
      low, high: the panel's y-range.
      colour: of line, markers and bars.
      **line_style: passed to ``ax.plot`` (with a ``marker``).

    Returns:
      Whether some value was outside the range (by more than 1% of it).
    """
    mean, outside = clip_to_window(values["mean"], low, high, tolerance=0.01 * (high - low))
    interval = [np.where(outside, np.nan, clip_to_window(values[bound], low, high)[0])
                for bound in ("ci95_low", "ci95_high")]
    plot_interval(ax, values["weight"], mean, *interval, colour, band=False, clip_on=False,
                  **line_style)
    if not outside.any():
        return False
    ax.plot(values["weight"][outside], mean[outside], linestyle="none",
            marker=line_style.get("marker", "o"), markersize=line_style.get("markersize"),
            markerfacecolor="white", markeredgecolor=colour, clip_on=False, zorder=4)
    for weight, value, edge in zip(values["weight"][outside], values["mean"][outside],
                                   mean[outside]):
        at_top = edge >= high
        ax.annotate(format_nats(value), (weight, edge), xytext=(3, -2 if at_top else 2),
                    textcoords="offset points", ha="left", va="top" if at_top else "bottom",
                    fontsize=5.5, color=colour)
    return True


def format_nats(value: float) -> str:
    """Formats a value in nats for a label: no decimals from 100 on, else one."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def information_vs_n(summary: pd.DataFrame) -> plt.Figure:
    """I_q(x; z) and KL(q(z) || p(z)) in-sample against log N, on nested subsets of the training
    split and the whole of it.

    One panel per dataset (rows) and latent size (columns); colour is beta (dark = small; the
    smallest, the one nearest 1 and the largest); circles and solid lines are the information,
    squares and dashed lines the aggregate KL, means over seeds with t-based 95% intervals. The
    grey diagonal is the ceiling I = log N: an information on it says more about N than about the
    model, and so does the aggregate KL = rate - log N beside it.

    Args:
      summary: the concatenated summaries (splits ``train_n<N>`` and ``train_full``).

    Returns:
      The figure.
    """
    nested = summary[summary["split"].str.startswith("train_n")
                     | (summary["split"] == "train_full")]
    if not len(nested):
        return empty_figure("No nested subsets of the training split in these tables "
                            "(evaluations since issue 16 have them).")
    require(nested, ["mutual_info", "aggregate_kl", "log_n"])
    colours = beta_colours(layout.latent_space_weights(nested["weight"]))
    figure, shown = cell_panels(nested, "nats")
    for ax, dataset, latent_dim, bottom, _ in shown:
        rows = nested[(nested["dataset"] == dataset) & (nested["latent_dim"] == latent_dim)]
        for beta, colour in colours.items():
            cell = rows[np.isclose(rows["weight"], beta)]
            log_n = cell[cell["metric"] == "log_n"].set_index("split")["mean"]
            for metric, style in (("mutual_info", {"marker": "o", "linestyle": "-"}),
                                  ("aggregate_kl", {"marker": "s", "linestyle": "--"})):
                values = cell[cell["metric"] == metric].set_index("split")
                values = values.assign(log_n=log_n).sort_values("log_n")
                plot_interval(ax, values["log_n"], values["mean"], values["ci95_low"],
                              values["ci95_high"], colour, **style)
        ceiling = np.sort(rows.loc[rows["metric"] == "log_n", "mean"].unique())
        ax.plot(ceiling, ceiling, color="0.6", linewidth=0.8, zorder=0)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("log N" if bottom else "")
    handles = [Line2D([], [], color=colour, label=rf"$\beta = {layout.format_weight(beta)}$")
               for beta, colour in colours.items()]
    handles += [Line2D([], [], color="0.3", marker="o", label=LABELS["mutual_info"]),
                Line2D([], [], color="0.3", marker="s", linestyle="--",
                       label=LABELS["aggregate_kl"]),
                Line2D([], [], color="0.6", label="ceiling I = log N")]
    legend_below(figure, handles, ncol=3)
    return figure


def class_kl(summary: pd.DataFrame) -> plt.Figure:
    """Class-conditional aggregates KL(q(z|y=c) || p(z)) beside KL(q(z) || p(z)) and I_q(y; z).

    One panel per dataset (rows) and latent size (columns), against beta, test split. Grey band:
    the range (minimum to maximum) over the C classes of the divergence of each class's
    aggregate posterior q(z|y=c) from the prior (means over seeds); thin grey line: their median
    over classes; red line with diamonds: class 1 (red as in the latent-space figures). Black,
    thick, with circles: the aggregate KL; purple, dashed, with hollow squares: the label
    information I_q(y; z); both with bands of t-based 95% intervals over seeds. Their sum is the
    class-weighted mean of the class divergences, so the black dash-dotted line, the aggregate
    KL + log C, is the ceiling of that mean (I_q(y; z) <= H(y) <= log C = log(1/pi_y) for
    balanced classes). Dotted grey: log C, the ceiling of I_q(y; z).

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["aggregate_kl", "label_info"])
    class_metrics = {int(m[1]): m[0] for m in
                     (re.fullmatch(r"class_kl_(\d+)", name) for name in summary["metric"].unique())
                     if m}
    if not class_metrics:
        raise UserError("the summaries have no class_kl_<c> metrics; re-run evaluate and "
                        "aggregate")
    log_classes = math.log(len(class_metrics))
    figure, shown = cell_panels(summary, "nats")
    for ax, _, _, bottom, cell in beta_panels(shown, summary):
        classes = class_means(cell, class_metrics)
        ax.fill_between(classes.index, classes.min(axis=1), classes.max(axis=1),
                        linewidth=0, **CLASS_KL_STYLES["range"])
        ax.vlines(classes.index, classes.min(axis=1), classes.max(axis=1), linewidth=3,
                  **CLASS_KL_STYLES["range"])  # the range where a weight stands alone
        ax.plot(classes.index, classes.median(axis=1), **CLASS_KL_STYLES["median"])
        if ONE_CLASS in classes:
            ax.plot(classes.index, classes[ONE_CLASS], **CLASS_KL_STYLES["one"])
        aggregate_kl = against_beta(cell, "aggregate_kl")
        ax.plot(aggregate_kl["weight"], aggregate_kl["mean"] + log_classes,
                **CLASS_KL_STYLES["ceiling"])
        for metric in ("label_info", "aggregate_kl"):
            style = dict(CLASS_KL_STYLES[metric])
            plot_metric(ax, cell, metric, style.pop("color"), zorder=3, **style)
        ax.axhline(log_classes, **CLASS_KL_STYLES["log_c"])
        ax.set_ylim(bottom=0)
    class_kl = LABELS["class_kl"]
    labels = {"range": f"{class_kl}: range over the classes c",
              "median": f"{class_kl}: median over the classes",
              "one": class_kl.replace("y{=}c", f"y{{=}}{ONE_CLASS}") + f": class {ONE_CLASS}",
              "aggregate_kl": LABELS["aggregate_kl"],
              "label_info": LABELS["label_info"],
              "ceiling": LABELS["aggregate_kl"] + r"$\,+\,\log C$: ceiling of the class mean",
              "log_c": rf"$\log C$, C = {len(class_metrics)} classes: ceiling of "
                       + LABELS["label_info"]}
    handles = [Patch(label=labels["range"], **CLASS_KL_STYLES["range"])]
    handles += [Line2D([], [], label=labels[name], **CLASS_KL_STYLES[name])
                for name in ("median", "one", "aggregate_kl", "ceiling", "label_info", "log_c")]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=2)
    return figure


# The look of each element of figure ``class_kl``.
CLASS_KL_STYLES = {
    "range": {"color": "0.84"},
    "median": {"color": "0.45", "linewidth": 0.9, "marker": "_", "markersize": 6},
    "one": {"color": CLASS_PALETTE[ONE_CLASS], "linewidth": 1.2, "marker": "D", "markersize": 3},
    "aggregate_kl": {"color": COLOURS["exact"], "linewidth": 2.2, "marker": "o"},
    "label_info": {"color": COLOURS["label_info"], "linewidth": 1.3, "linestyle": "--",
                   "marker": "s", "markerfacecolor": "white"},
    "ceiling": {"color": COLOURS["exact"], "linewidth": 0.9, "linestyle": (0, (3, 1.5, 1, 1.5)),
                "marker": "x", "markersize": 3},  # a dense dash-dot, recognizable in the legend
    "log_c": {"color": COLOURS["log_n"], "linewidth": 1, "linestyle": ":"},
}


def class_means(cell: pd.DataFrame, class_metrics: dict[int, str]) -> pd.DataFrame:
    """The class divergences of a summary cell: means over seeds, a row per weight (ascending)
    and a column per class label (weights with no class's mean left out)."""
    rows = cell[cell["metric"].isin(class_metrics.values())]
    table = rows.pivot_table(index="weight", columns="metric", values="mean")
    table = table.rename(columns={metric: label for label, metric in class_metrics.items()})
    return table.dropna(how="all").sort_index()


def estimators(summary: pd.DataFrame) -> plt.Figure:
    """How far Chen et al.'s minibatch estimators of I_q(x; z) are from the exact one.

    One panel per dataset (rows) and latent size (columns), against beta, test split. Each
    curve is the mean over seeds of an estimate minus the exact I_q(x; z) (the mixture over all
    N posteriors, the black zero line): minibatch weighted sampling (MWS, dashed, blues, down
    triangles) and stratified sampling (MSS, dash-dotted, oranges, up triangles) at each
    minibatch size M (darker = larger M). Each minibatch estimate of KL(q(z) || p(z)) is the
    rate minus that of I_q(x; z), so a curve is also how far the KL estimate falls short of the
    exact KL. Green diamonds: the shortfall of the closed-form moment-matched Gaussian lower
    bound on the aggregate KL. Dotted blue lines: log M, in the colour of M (MWS's excess where
    the posteriors do not overlap); dotted grey: log N (its excess where they all coincide).

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["mutual_info", "aggregate_kl", "moment_matched_kl", "log_n"])
    batch_sizes = sorted({int(m[1]) for m in (re.fullmatch(r"(?:mws|mss)_mutual_info_b(\d+)", name)
                                              for name in summary["metric"].unique()) if m})
    shades = np.linspace(0.45, 0.9, len(batch_sizes)) if len(batch_sizes) > 1 else [0.7]
    methods = {"mws": ("MWS", plt.get_cmap("Blues"), "--", "v"),
               "mss": ("MSS", plt.get_cmap("Oranges"), "-.", "^")}
    figure, shown = cell_panels(summary, "estimate − exact, nats")
    for ax, _, _, bottom, cell in beta_panels(shown, summary):
        ax.axhline(0, color=COLOURS["exact"], linewidth=1.2)
        for shade, batch_size in zip(shades, batch_sizes):
            if f"mws_mutual_info_b{batch_size}" in set(cell["metric"]):
                ax.axhline(math.log(batch_size), color=methods["mws"][1](shade),
                           linestyle=":", linewidth=0.8)
        shortfall = paired(cell, "aggregate_kl", "moment_matched_kl")
        ax.plot(shortfall["weight"], shortfall["mean_x"] - shortfall["mean_y"],
                color=COLOURS["moment_matched_kl"], marker="D", markersize=2.5, linewidth=1)
        for method, (_, colour_map, linestyle, marker) in methods.items():
            for shade, batch_size in zip(shades, batch_sizes):
                excess = paired(cell, f"{method}_mutual_info_b{batch_size}", "mutual_info")
                ax.plot(excess["weight"], excess["mean_x"] - excess["mean_y"],
                        color=colour_map(shade), linestyle=linestyle, marker=marker,
                        linewidth=1)
        log_n_line(ax, cell)
    handles = [Line2D([], [], color=COLOURS["exact"], linewidth=1.2,
                      label=r"exact $I_q(x;z)$ (all N posteriors)"),
               Line2D([], [], color=COLOURS["moment_matched_kl"], marker="D", markersize=2.5,
                      linewidth=1, label=r"moment-matched: exact KL $-$ its lower bound"),
               Line2D([], [], color=COLOURS["log_n"], linestyle=":", linewidth=1,
                      label=r"$\log N$ (MWS's excess where all posteriors coincide)"),
               Line2D([], [], color=methods["mws"][1](shades[len(shades) // 2]), linestyle=":",
                      linewidth=0.8, label=r"$\log M$ (MWS's excess where none overlap)")]
    handles += [Line2D([], [], color=colour_map(shade), marker=marker, linestyle=linestyle,
                       linewidth=1, label=f"{name}, M = {batch_size}")
                for name, colour_map, linestyle, marker in methods.values()
                for shade, batch_size in zip(shades, batch_sizes)]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=3)
    return figure


def rate_distortion(summary: pd.DataFrame) -> plt.Figure:
    """The rate-distortion plane (Alemi et al. 2018): test rate against test distortion.

    One panel per dataset. Points are the means over seeds of one beta (colour, dark = small
    beta) with t-based 95% intervals in both directions; lines join the betas of one latent size
    (line style); small numbers name the betas. Grey diagonals are lines of equal ELBO
    (rate + distortion = -ELBO).

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["rate", "distortion"])
    datasets, latent_dims = cells(summary)
    colours = beta_colours(summary["weight"])
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "D", "^"]
    figure, axes = panels(1, len(datasets), FULL_WIDTH / 2, 2.6)
    for col, dataset in enumerate(datasets):
        ax = axes[0, col]
        frames = []
        for index, latent_dim in enumerate(latent_dims):
            both = paired(cell_of(summary, dataset, latent_dim), "rate", "distortion")
            frames.append(both)
            ax.plot(both["mean_x"], both["mean_y"], color="0.35", linewidth=0.9,
                    linestyle=styles[index % 4], zorder=1)
            for row in range(len(both)):
                plot_pairs(ax, both.iloc[[row]], colours[both["weight"].iloc[row]],
                           marker=markers[index % 4], markersize=4, markeredgecolor="white",
                           markeredgewidth=0.4, zorder=2)
            label_weights(ax, both)
        ax.margins(x=0.1, y=0.08)  # room for the beta labels
        points = pd.concat(frames)
        if len(points):
            equal_elbo_lines(ax, points["mean_x"] + points["mean_y"])
        ax.set_title(dataset_name(dataset))
        ax.set_xlabel("rate, nats")
        ax.set_ylabel("distortion, nats" if col == 0 else "")
    handles = [Line2D([], [], color="0.35", linestyle=styles[i % 4], marker=markers[i % 4],
                      label=f"$d_z = {latent_dim}$") for i, latent_dim in enumerate(latent_dims)]
    handles += [Line2D([], [], color=colour, marker="o", linestyle="none",
                       label=rf"$\beta = {layout.format_weight(beta)}$")
                for beta, colour in colours.items()]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=min(len(handles), 9))
    return figure


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


def objectives(summary: pd.DataFrame) -> plt.Figure:
    """The counterfactual: the beta-VAE beside objectives that act on the aggregate posterior.

    Rows: the datasets whose summaries have an objective besides the beta-VAE, at d_z = 10
    (else the latent size with the most objectives), test split. Colour and marker name the
    objective: vae (blue circles, its beta grid), aggregate (vermilion squares, its lambda grid:
    the MMD penalty on q(z)) and tcvae (green triangles, its beta grid: the total-correlation
    penalty). Points are means over seeds, with t-based 95% intervals in both directions where a
    cell has several seeds; thin lines join one objective's weights in ascending order. Every
    panel's x-axis is the rate E_x KL(q(z|x) || p(z)), nats, shared along a row, so a point has
    the same abscissa in all four panels. (a) The rate-distortion plane, each point labelled with
    its weight; grey dashed lines of equal ELBO. (b) The rate's two terms: I_q(x; z) (filled
    markers, solid lines) and KL(q(z) || p(z)) (hollow markers, dashed lines); the grey
    diagonal is their sum, the rate; dotted: log N, the ceiling of I_q(x; z). (c) The KL
    divergence of the classifier's label distribution over decoded prior samples z ~ p(z) from
    the uniform distribution (metric ``prior_label_kl``, log scale; lower is better). (d) The
    fraction of prior samples in holes of the training split's aggregate posterior q_N (metric
    ``prior_holes_fraction``: q_N(z) / p(z) below the ratio in the axis label; lower is
    better).

    Args:
      summary: the concatenated summaries, every objective.

    Returns:
      The figure.
    """
    require(summary, ["rate", "distortion", "mutual_info", "aggregate_kl", "log_n"])
    compared = compared_objectives(summary)
    if compared.empty:
        return empty_figure("No objective besides the beta-VAE in these summaries (none in the "
                            "sweep, or not aggregated yet).")
    datasets = list(dict.fromkeys(compared["dataset"]))
    figure, axes = panels(len(datasets), 4, FULL_WIDTH / 4, 2.1, sharex="row")
    for row, dataset in enumerate(datasets):
        cell = compared[compared["dataset"] == dataset]
        information_panel(axes[row, 1], cell)
        for ax, metric in zip(axes[row, 2:], GENERATION_METRICS):
            generation_panel(ax, cell, metric)
        rate_distortion_panel(axes[row, 0], cell)  # last: it fixes the row's shared rate axis
        axes[row, 0].set_ylabel(f"{panel_title(dataset, int(cell['latent_dim'].iloc[0]))}\n"
                                "distortion, nats")
        for ax in axes[row]:
            ax.set_xlabel("rate, nats" if row == len(datasets) - 1 else "")
    for ax, title in zip(axes[0], OBJECTIVE_PANEL_TITLES):
        ax.set_title(title)
    handles = [Line2D([], [], color=objective_style(objective)[0],
                      marker=objective_style(objective)[1], linewidth=0.8,
                      label=f"{objective} ({weight_symbol(objective)})")
               for objective in sorted(compared["objective"].unique(), key=objective_rank)]
    handles += [Line2D([], [], color="0.8", linestyle="--", linewidth=0.6,
                       label="(a) equal ELBO"),
                Line2D([], [], color="0.3", marker="o", linewidth=0.8,
                       label="(b) " + LABELS["mutual_info"]),
                Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="--",
                       linewidth=0.8, label="(b) " + LABELS["aggregate_kl"]),
                Line2D([], [], color="0.6", linewidth=0.8, label="(b) their sum, the rate"),
                log_n_handle()]
    note_missing(figure, compared)
    legend_below(figure, handles, ncol=4)
    return figure


OBJECTIVE_PANEL_TITLES = ("(a) rate–distortion", "(b) terms of the rate",
                          "(c) generated labels", "(d) prior holes")
# Panels (c) and (d) of figure ``objectives``: metric -> y-axis label.
GENERATION_METRICS = {
    "prior_label_kl": "KL(labels ‖ uniform), nats",
    "prior_holes_fraction": rf"fraction with $q_N(z) < {HOLE_RATIO:g}\,p(z)$",
}


def compared_objectives(summary: pd.DataFrame) -> pd.DataFrame:
    """The test-split rows of the datasets that have an objective besides the beta-VAE, each at
    its latent size of ``shown_latent_dim`` (an empty table if there is none)."""
    parts = []
    for dataset in dict.fromkeys(summary["dataset"]):
        test = summary[(summary["dataset"] == dataset) & (summary["split"] == "test")]
        if (test["objective"] != aggregate.DEFAULT_OBJECTIVE).any():
            parts.append(test[test["latent_dim"] == shown_latent_dim(test)])
    return pd.concat(parts) if parts else summary.iloc[:0]


def objective_paths(ax: plt.Axes, cell: pd.DataFrame, y_metric: str, hollow: bool = False,
                    linestyle: str = "-") -> pd.DataFrame:
    """Draws a metric against the rate, a path of points per objective (weights ascending).

    Args:
      ax: the panel.
      cell: the summary rows of one dataset and latent size, every objective.
      y_metric: the metric on the y-axis.
      hollow: white-filled markers (else filled).
      linestyle: of the lines joining an objective's points.

    Returns:
      The points drawn (``paired``), with their ``objective``.
    """
    drawn = []
    for objective in sorted(cell["objective"].unique(), key=objective_rank):
        colour, marker = objective_style(objective)
        points = paired(cell[cell["objective"] == objective], "rate", y_metric)
        ax.plot(points["mean_x"], points["mean_y"], color=colour, linewidth=0.8,
                linestyle=linestyle, zorder=1)
        plot_pairs(ax, points, colour, marker=marker, markersize=4.5, zorder=2,
                   markerfacecolor="white" if hollow else colour,
                   markeredgecolor=colour if hollow else "white", markeredgewidth=0.6)
        drawn.append(points.assign(objective=objective))
    return pd.concat(drawn) if drawn else pd.DataFrame(columns=["mean_x", "mean_y"])


def rate_distortion_panel(ax: plt.Axes, cell: pd.DataFrame) -> None:
    """Panel (a) of figure ``objectives``: distortion against rate, weights written."""
    points = objective_paths(ax, cell, "distortion")
    label_weights(ax, points)
    ax.margins(x=0.12, y=0.1)  # room for the weights
    if len(points):
        equal_elbo_lines(ax, points["mean_x"] + points["mean_y"])


def information_panel(ax: plt.Axes, cell: pd.DataFrame) -> None:
    """Panel (b) of figure ``objectives``: I_q(x; z) and KL(q(z) || p(z)) against the rate."""
    objective_paths(ax, cell, "mutual_info")
    objective_paths(ax, cell, "aggregate_kl", hollow=True, linestyle="--")
    ax.axline((0, 0), slope=1, color="0.6", linewidth=0.8, zorder=0)
    ax.set_ylim(bottom=0)
    log_n_line(ax, cell)
    ax.set_ylabel("nats")


def generation_panel(ax: plt.Axes, cell: pd.DataFrame, metric: str) -> None:
    """Panels (c) and (d) of figure ``objectives``: a generation metric against the rate (a
    note instead where the summaries lack it)."""
    ax.set_ylabel(GENERATION_METRICS[metric])
    if not (cell["metric"] == metric).any():
        ax.text(0.5, 0.5, f"no {metric} in these summaries", transform=ax.transAxes,
                ha="center", va="center", fontsize=6, wrap=True)
        return
    objective_paths(ax, cell, metric)
    if metric.endswith("_fraction"):
        ax.set_ylim(-0.04, 1.04)
    else:
        ax.set_yscale("log")  # near-uniform labels and a collapse onto one class (log C) both


def objective_rank(objective: str) -> tuple[int, str]:
    """Sorts objectives in ``klgap.training.objectives`` order, unknown ones after, by name."""
    order = list(training_objectives.OBJECTIVES)
    return (order.index(objective) if objective in order else len(order), objective)


def weight_symbol(objective: str) -> str:
    """The symbol of an objective's weight, e.g. β of ``vae``, λ of ``aggregate``."""
    name = training_objectives.weight_name(objective)
    return WEIGHT_SYMBOLS.get(name, name)


# --- figures from the other tables --------------------------------------------------------------


def latent_space(latent_samples: pd.DataFrame) -> plt.Figure:
    """Samples of the 2-D aggregate posterior q(z), coloured by class, over the prior.

    Rows: datasets; columns: the smallest beta, the one nearest to 1 and the largest. Each point
    is one z ~ q(z|x_n) for a random test example x_n (so the points sample q(z)), coloured by
    its class y (matplotlib's ten categorical colours, class 1 red); each class's label is
    written at the median of its codes. Dashed circles are the 1, 2 and 3 sigma contours of the
    prior p(z) = N(0, I). All panels share one square window (``latent_window``); codes outside
    it are drawn on its edge, and a panel that has such codes says how many. It shows whether
    each class occupies only part of the prior's ball while all classes together fill it.

    Args:
      latent_samples: the concatenated ``latent_samples.csv`` tables.

    Returns:
      The figure.
    """
    if latent_samples.empty:
        return empty_figure("No evaluated run with a 2-D latent space yet.")
    datasets = list(dict.fromkeys(latent_samples["dataset"]))
    betas = sorted(latent_samples["weight"].unique())
    colours = class_colours(latent_samples["label"])
    radius = latent_window(latent_samples)
    figure, axes = panels(len(datasets), len(betas), 2.2, 2.2, sharex=True, sharey=True)
    for row, dataset in enumerate(datasets):
        for col, beta in enumerate(betas):
            ax = axes[row, col]
            points = latent_samples[(latent_samples["dataset"] == dataset)
                                    & (latent_samples["weight"] == beta)]
            prior_circles(ax)
            outside = scatter_clipped(ax, points, radius, s=2, alpha=0.6,
                                      c=[colours[int(y)] for y in points["label"]])
            label_classes(ax, points, colours, radius)
            note_clipped(ax, outside)
            if points.empty:
                ax.text(0.5, 0.5, "no evaluated run", transform=ax.transAxes, ha="center")
            seed = f", seed {int(points['seed'].iloc[0])}" if len(points) else ""
            ax.set_title(rf"$\beta = {layout.format_weight(beta)}${seed}")
            latent_axes(ax, radius, bottom=row == len(datasets) - 1,
                        left_label=dataset_name(dataset) if col == 0 else None)
    handles = [Line2D([], [], color=colour, marker="o", linestyle="none", markersize=4,
                      label=str(label)) for label, colour in colours.items()]
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                  frameon=False, title="class y", handletextpad=0.1, columnspacing=0.9)
    return figure


def ones(latent_samples: pd.DataFrame) -> plt.Figure:
    """Where the codes of class 1 (the digit 1) sit inside the 2-D aggregate posterior q(z).

    Rows: datasets; columns: the runs of each dataset's ``latent_samples.csv`` (the beta-VAE's
    smallest beta, the one nearest to 1 and the largest, then any other objective's 2-D runs in
    the table), objectives in ``klgap.training.objectives`` order, weights ascending. Light grey points:
    one code z ~ q(z|x_n) for each of a random subset of test examples x_n, all classes (a
    sample of q(z)); red points, drawn on top: the codes of the examples of class 1 (the digit
    1; in Fashion-MNIST, trousers). Dashed circles are the 1, 2 and 3 sigma contours of the
    prior p(z) = N(0, I). All panels share one square window (``latent_window``); codes outside
    it are drawn on its edge, and a panel that has such codes says how many.

    Args:
      latent_samples: the concatenated ``latent_samples.csv`` tables (every objective).

    Returns:
      The figure.
    """
    if latent_samples.empty:
        return empty_figure("No evaluated run with a 2-D latent space yet.")
    datasets = list(dict.fromkeys(latent_samples["dataset"]))
    runs = {dataset: by_objective_and_weight(latent_samples[latent_samples["dataset"] == dataset])
            for dataset in datasets}
    columns = max(len(cells_of_dataset) for cells_of_dataset in runs.values())
    radius = latent_window(latent_samples)
    figure, axes = panels(len(datasets), columns, 1.75, 1.95, sharex=True, sharey=True)
    for row, dataset in enumerate(datasets):
        for col in range(columns):
            ax = axes[row, col]
            if col >= len(runs[dataset]):
                ax.set_axis_off()
                continue
            (objective, weight), points = runs[dataset][col]
            prior_circles(ax)
            outside = scatter_clipped(ax, points, radius, s=2, alpha=0.5, color=GREY_CODES)
            outside += scatter_clipped(ax, points[points["label"] == ONE_CLASS], radius, s=3,
                                       alpha=0.8, color=CLASS_PALETTE[ONE_CLASS], zorder=2)
            note_clipped(ax, outside)
            seed = int(points["seed"].min())
            ax.set_title(weight_label(objective, weight) + (f", seed {seed}" if seed else ""),
                         fontsize=7)
            latent_axes(ax, radius, bottom=row == len(datasets) - 1,
                        left_label=dataset_name(dataset) if col == 0 else None)
    legend_below(figure, [
        Line2D([], [], color=GREY_CODES, marker="o", linestyle="none", markersize=4,
               label="codes of every class"),
        Line2D([], [], color=CLASS_PALETTE[ONE_CLASS], marker="o", linestyle="none",
               markersize=4, label=f"codes of class {ONE_CLASS}"),
        Line2D([], [], color="0.25", linestyle="--", linewidth=0.7,
               label=r"prior $p(z)$: 1, 2, 3$\sigma$ circles")], ncol=3)
    return figure


def by_objective_and_weight(table: pd.DataFrame) -> list[tuple[tuple[str, float], pd.DataFrame]]:
    """Splits a table by objective (``objective_rank`` order) and weight (ascending)."""
    return sorted(table.groupby(["objective", "weight"]),
                  key=lambda item: (objective_rank(item[0][0]), item[0][1]))


def latent_window(latent_samples: pd.DataFrame) -> float:
    """The half-width of the square window of the latent-space figures: the 99.9% quantile of
    the codes' coordinates |z_i|, at least 3.5 (the prior's 3-sigma circle fits)."""
    return max(3.5, float(np.quantile(np.abs(latent_samples[["z1", "z2"]].to_numpy()), 0.999)))


def prior_circles(ax: plt.Axes) -> None:
    """Draws the 1, 2 and 3 sigma circles of the prior N(0, I), dashed and labelled."""
    for sigmas in (1, 2, 3):
        ax.add_patch(Circle((0, 0), sigmas, fill=False, color="0.25", linewidth=0.7,
                            linestyle="--", zorder=3))
        ax.text(sigmas * 0.71, sigmas * 0.71, f"{sigmas}σ", fontsize=6, color="0.25",
                ha="left", va="bottom", zorder=3)


def scatter_clipped(ax: plt.Axes, points: pd.DataFrame, radius: float, **style) -> int:
    """Scatters codes (``z1, z2``) in the window [-radius, radius]^2, those outside on its edge.

    Returns:
      How many codes were outside the window.
    """
    codes, outside = clip_to_window(points[["z1", "z2"]].to_numpy(), -radius, radius)  # (n, 2)
    ax.scatter(codes[:, 0], codes[:, 1], linewidths=0, rasterized=True, clip_on=False, **style)
    return int(outside.any(axis=1).sum())


def note_clipped(ax: plt.Axes, outside: int) -> None:
    """Says in a panel how many codes lie outside its window (drawn on its edge), if any."""
    if outside:
        corner_note(ax, f"{outside} clipped to the edge")


def label_classes(ax: plt.Axes, points: pd.DataFrame, colours: dict[int, tuple],
                  radius: float) -> None:
    """Writes each class's label at the median of its codes, in its colour."""
    for label, codes in points.groupby("label"):
        z1, z2 = np.clip(codes[["z1", "z2"]].median().to_numpy(), -0.9 * radius, 0.9 * radius)
        ax.text(z1, z2, str(int(label)), color=colours[int(label)], fontsize=8,
                fontweight="bold", ha="center", va="center", zorder=4,
                path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])


def latent_axes(ax: plt.Axes, radius: float, bottom: bool, left_label: str | None) -> None:
    """Sets a latent-space panel's square window, and its axis labels where it is at the edge.

    Args:
      ax: the panel.
      radius: the window's half-width.
      bottom: whether the panel is in the bottom row (z_1 is labelled there).
      left_label: the row's name, in the left column (None elsewhere).
    """
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    ax.grid(False)  # the prior's circles are the reference
    ax.set_xlabel("$z_1$" if bottom else "")
    ax.set_ylabel(f"{left_label}\n$z_2$" if left_label else "")


def training_curves(history: pd.DataFrame) -> plt.Figure:
    """Test ELBO, rate and distortion per epoch, for the smallest beta, the one nearest 1 and the
    largest.

    Rows: dataset and latent size; columns: the three quantities (nats, on the fixed binarized
    test split, one z per example). Lines are means over seeds, bands their t-based 95%
    intervals; colour is beta (dark = small). The y-range leaves out the first epochs where they
    are far off the rest.

    Args:
      history: the concatenated ``history.csv`` tables.

    Returns:
      The figure.
    """
    quantities = {"test_elbo": "test ELBO", "test_rate": "test rate",
                  "test_distortion": "test distortion"}
    absent = sorted(set(quantities) - set(history.columns))
    if absent:
        raise UserError(f"the histories lack the columns {', '.join(absent)}; re-run histories")
    if history.empty:
        return empty_figure("No training history yet.")
    rows = [(dataset, latent_dim) for dataset in dict.fromkeys(history["dataset"])
            for latent_dim in sorted(history.loc[history["dataset"] == dataset, "latent_dim"]
                                     .unique())]
    figure, axes = panels(len(rows), len(quantities), FULL_WIDTH / 3, 1.6, sharex="row")
    chosen = {row: layout.latent_space_weights(
        history.loc[(history["dataset"] == row[0]) & (history["latent_dim"] == row[1]), "weight"])
        for row in rows}
    shown_betas = sorted({beta for betas in chosen.values() for beta in betas})
    all_colours = beta_colours(shown_betas)
    for row, (dataset, latent_dim) in enumerate(rows):
        runs = history[(history["dataset"] == dataset) & (history["latent_dim"] == latent_dim)]
        betas = chosen[(dataset, latent_dim)]
        for col, (column, name) in enumerate(quantities.items()):
            ax = axes[row, col]
            selected = runs[runs["weight"].isin(betas)]
            curves = seed_intervals(selected, ["weight", "epoch"], column)
            for beta, curve in curves.groupby("weight"):
                plot_interval(ax, curve["epoch"], curve["mean"], curve["ci95_low"],
                              curve["ci95_high"], all_colours[beta], linewidth=1)
            robust_ylim(ax, curves)
            ax.set_title(f"{name}, nats" if row == 0 else "")
            ax.set_ylabel(f"{dataset_name(dataset)}\n$d_z = {latent_dim}$" if col == 0 else "")
            ax.set_xlabel("epoch" if row == len(rows) - 1 else "")
    handles = [Line2D([], [], color=all_colours[beta],
                      label=rf"$\beta = {layout.format_weight(beta)}$") for beta in shown_betas]
    legend_below(figure, handles, ncol=len(handles))
    return figure


def seed_intervals(runs: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    """Mean and t-based 95% interval over seeds of one column, per group.

    Args:
      runs: rows of several seeds.
      by: the grouping columns (e.g. beta and epoch).
      column: the value to summarize.

    Returns:
      One row per group: ``by``, then ``n, mean, sd, ci95_low, ci95_high``.
    """
    rows = []
    for key, group in runs.groupby(by):
        values = group[column].to_numpy(dtype=float)
        rows.append({**dict(zip(by, key)),
                     **aggregate.mean_interval(values[np.isfinite(values)])})
    return pd.DataFrame(rows, columns=by + ["n", "mean", "sd", "ci95_low", "ci95_high"])


def robust_ylim(ax: plt.Axes, curves: pd.DataFrame) -> None:
    """Limits the y-axis to the curves after their first tenth of epochs (early transients)."""
    if curves.empty:
        return
    late = curves[curves["epoch"] > curves["epoch"].max() / 10]
    late = late if len(late) else curves
    low = np.nanmin(late[["mean", "ci95_low"]].to_numpy())
    high = np.nanmax(late[["mean", "ci95_high"]].to_numpy())
    margin = 0.08 * (high - low) if high > low else 1.0
    ax.set_ylim(low - margin, high + margin)


# --- figures from the decoded samples -----------------------------------------------------------

# The latent size drawn in the figures that compare objectives (samples, objectives), where a
# dataset's table has it.
SHOWN_LATENT_DIM = 10
# Panels (objective and weight) per row of the sample figures at most; more wrap to further rows
# of equal length.
SAMPLE_COLUMNS = 10
WEIGHT_SYMBOLS = {"beta": "β", "lambda": "λ"}


def shown_latent_dim(table: pd.DataFrame) -> int:
    """Chooses the latent size drawn for one dataset: d_z = 10 if present, else the largest of
    those with the most objectives."""
    latent_dims = sorted(int(d) for d in table["latent_dim"].unique())
    if SHOWN_LATENT_DIM in latent_dims:
        return SHOWN_LATENT_DIM
    return max(latent_dims, key=lambda d: (table.loc[table["latent_dim"] == d, "objective"]
                                           .nunique(), d))


def mosaic(images: np.ndarray, columns: int = 4) -> np.ndarray:
    """Tiles images into one array, one NaN pixel between them (drawn white).

    Args:
      images: uint8 grey levels, (G, H, W), G a multiple of ``columns``.
      columns: images per row.

    Returns:
      Floats 0..255 with NaN gaps, (rows (H + 1) - 1, columns (W + 1) - 1).
    """
    count, height, width = images.shape
    rows = math.ceil(count / columns)
    tiled = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for index, image in enumerate(images):
        row, col = divmod(index, columns)
        tiled[row * (height + 1):row * (height + 1) + height,
              col * (width + 1):col * (width + 1) + width] = image
    return tiled


def weight_label(objective: str, weight: float) -> str:
    """Names a cell by objective and, below it, its weight, e.g. ``vae`` and ``β = 1``."""
    return f"{objective}\n{weight_symbol(objective)} = {layout.format_weight(weight)}"


def sample_mosaics(sample_grids: pd.DataFrame, kind: str) -> plt.Figure:
    """Draws one kind of decoded samples (``prior`` or ``expost``) as a 4x4 mosaic per cell.

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.
      kind: which samples.

    Returns:
      The figure: per dataset a row (wrapped beyond ``SAMPLE_COLUMNS`` panels) of the cells at its
      latent size (``shown_latent_dim``), objectives in ``klgap.training.objectives`` order, weights
      ascending; a cell's lowest seed.
    """
    table = sample_grids[sample_grids["kind"] == kind]
    if table.empty:
        return empty_figure(f"No decoded {kind} samples yet: evaluate the runs (samples.npz) "
                            "and run sample_grids.")
    rows = []  # (dataset, latent_dim, [(objective, weight, seed, its rows)])
    for dataset in dict.fromkeys(table["dataset"]):
        of_dataset = table[table["dataset"] == dataset]
        latent_dim = shown_latent_dim(of_dataset)
        chosen = of_dataset[of_dataset["latent_dim"] == latent_dim]
        panels_of = []
        for (objective, weight), cell in by_objective_and_weight(chosen):
            seed = int(cell["seed"].min())
            panels_of.append((objective, weight, seed,
                              cell[cell["seed"] == seed].sort_values("sample")))
        per_row = math.ceil(len(panels_of) / math.ceil(len(panels_of) / SAMPLE_COLUMNS))
        for first in range(0, len(panels_of), per_row):
            rows.append((dataset, latent_dim, first == 0, panels_of[first:first + per_row]))
    columns = max(len(row[3]) for row in rows)
    width = FULL_WIDTH / max(columns, 4)
    figure, axes = panels(len(rows), columns, width, width + 0.3)
    colour_map = plt.get_cmap("gray").with_extremes(bad="white")
    for r, (dataset, latent_dim, first_row, cells_of_row) in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            if c >= len(cells_of_row):
                ax.set_axis_off()
                continue
            objective, weight, seed, cell = cells_of_row[c]
            ax.imshow(mosaic(sample_grids_module.images(cell)), cmap=colour_map, vmin=0,
                      vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(weight_label(objective, weight) + (f", seed {seed}" if seed else ""),
                         fontsize=7)
            if c == 0 and first_row:
                ax.set_ylabel(f"{dataset_name(dataset)}\n$d_z = {latent_dim}$")
    return figure


def prior_samples(sample_grids: pd.DataFrame) -> plt.Figure:
    """Decoded samples from the prior, per objective and weight.

    Each panel shows the decoder's Bernoulli means E[x|z] (grey levels, black = 0) at 16 codes
    z ~ p(z) = N(0, I), of one run: seed 0 (another seed only where seed 0 has no samples; its
    title then names it). Rows: datasets (more than ten panels wrap), at one latent size each
    (d_z = 10 where the sweep has it, else the largest latent size with the most objectives),
    named at the left; columns: the objectives, then their weights ascending (β of vae and
    tcvae, λ of aggregate).

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.

    Returns:
      The figure.
    """
    return sample_mosaics(sample_grids, "prior")


def expost_samples(sample_grids: pd.DataFrame) -> plt.Figure:
    """Decoded samples from the ex-post density, per objective and weight.

    As the prior samples' figure, but the 16 codes are drawn from the ex-post density (Ghosh et
    al. 2020): a 10-component full-covariance Gaussian mixture fitted to the posterior means of
    (up to 10,000) training examples. Each panel shows the decoder's Bernoulli means E[x|z] of
    seed 0 (another seed only where seed 0 has no samples; its title then names it), at d_z = 10
    where the sweep has it, else the largest latent size with the most objectives.

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.

    Returns:
      The figure.
    """
    return sample_mosaics(sample_grids, "expost")


class Figure(NamedTuple):
    """A figure of the paper: how to draw it, and the tables it is drawn from."""

    draw: Callable[..., plt.Figure]
    tables: tuple[str, ...]


# Figure NAME is drawn by the function NAME above, from the tables the registry lists.
FIGURES: dict[str, Figure] = {name: Figure(globals()[name], tables)
                              for name, tables in figure_registry.FIGURE_TABLES.items()}
TABLE_OPTIONS = figure_registry.TABLE_OPTIONS


def load_tables(paths: list[Path], table: str) -> pd.DataFrame:
    """Reads and concatenates the per-dataset files of one table.

    Args:
      paths: the files, one per dataset.
      table: which table (a key of ``TABLE_OPTIONS``), for messages.

    Returns:
      One table.

    Raises:
      UserError: if a file is missing.
    """
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"{table} tables not found: {', '.join(missing)}; run "
                        f"`klgap {TABLE_OPTIONS[table][1]}` first")
    return aggregate.load_tables(paths, table)


class Provenance(NamedTuple):
    """What made a figure file, stored in its metadata (as showyourwork links figures to code)."""

    commit: str  # git commit of the code (``-dirty`` if modified)
    config_hash: str  # short hash of the validated configuration (as on the paper)
    rule: str  # the workflow rule that ran the command
    command: str  # the command line


def caption(name: str) -> str:
    """Returns the description of a figure: its drawing function's docstring before ``Args:``.

    Args:
      name: a key of ``FIGURES``.

    Returns:
      The docstring's paragraphs, dedented, without the Args and Returns sections.
    """
    text = inspect.cleandoc(FIGURES[name].draw.__doc__ or "")
    return text.split("\nArgs:")[0].strip()


def file_metadata(name: str, provenance: Provenance) -> tuple[dict, dict]:
    """Returns the metadata of a figure's PDF (document information) and PNG (text chunks).

    Args:
      name: the figure (a key of ``FIGURES``).
      provenance: what made it.

    Returns:
      ``(pdf, png)``: PDF keys are the standard ones (Title, Subject, Keywords, Creator); PNG
      text chunks also name each item (``klgap:commit``, ``klgap:config_hash``, ...).
    """
    summary = caption(name).split("\n\n")[0].replace("\n", " ")
    made_by = (f"commit {provenance.commit}; config hash {provenance.config_hash}; "
               f"rule {provenance.rule}")
    pdf = {"Title": f"klgap figure {name}", "Subject": summary, "Keywords": made_by,
           "Creator": provenance.command, "CreationDate": None}
    png = {"Title": f"klgap figure {name}", "Description": summary,
           "klgap:commit": provenance.commit, "klgap:config_hash": provenance.config_hash,
           "klgap:rule": provenance.rule, "klgap:command": provenance.command}
    return pdf, png


def rst_text(text: str) -> str:
    """Escapes reStructuredText's inline markup in plain text, keeping double-backquoted literals."""
    parts = re.split(r"(``[^`]+``)", text)
    return "".join(part if part.startswith("``") else re.sub(r"([\\*`|_])", r"\\\1", part)
                   for part in parts)


def caption_rst(name: str, provenance: Provenance) -> str:
    """Returns a figure's caption for Snakemake's report: its description, then what made it.

    Args:
      name: the figure (a key of ``FIGURES``).
      provenance: what made it.

    Returns:
      reStructuredText.
    """
    draw = FIGURES[name].draw
    return (f"{rst_text(caption(name))}\n\nMade by rule ``{provenance.rule}``: "
            f"``{provenance.command}`` (function ``{draw.__name__}`` of ``{draw.__module__}``), "
            f"commit ``{provenance.commit}``, configuration hash ``{provenance.config_hash}``.\n")


def save(figure: plt.Figure, pdf: Path, png: Path, metadata: tuple[dict, dict]) -> None:
    """Saves a figure as vector PDF and PNG preview, each carrying its provenance.

    Args:
      figure: the figure (closed afterwards).
      pdf, png: the output paths (written atomically).
      metadata: ``(pdf, png)`` metadata from ``file_metadata``; the PDF has no timestamp, so
        rebuilds from the same commit and configuration are identical.
    """
    with atomic.atomic_path(pdf) as tmp:
        figure.savefig(tmp, format="pdf", bbox_inches="tight", dpi=300, metadata=metadata[0])
    with atomic.atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight", metadata=metadata[1])
    plt.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("figure", choices=sorted(FIGURES), help="which figure to draw")
    parser.add_argument("--summaries", type=Path, nargs="+",
                        help="summary.csv files written by aggregate")
    parser.add_argument("--histories", type=Path, nargs="+",
                        help="history.csv files written by histories")
    parser.add_argument("--latent-samples", type=Path, nargs="+",
                        help="latent_samples.csv files written by latent-samples")
    parser.add_argument("--sample-grids", type=Path, nargs="+",
                        help="sample_grids.csv files written by sample-grids")
    parser.add_argument("--pdf", type=Path, required=True, help="output PDF")
    parser.add_argument("--png", type=Path, required=True, help="output PNG preview")
    parser.add_argument("--commit", default="unknown",
                        help="git commit of the code, stored in the files' metadata")
    parser.add_argument("--config-hash", default="unknown",
                        help="short hash of the validated configuration, stored likewise")
    parser.add_argument("--rule", default="none (run by hand)",
                        help="the workflow rule that runs this command, stored likewise")
    parser.add_argument("--caption", type=Path, default=None,
                        help="optional output: the caption for Snakemake's report (.rst)")


def command_line(args: argparse.Namespace) -> str:
    """Returns the command that draws this figure again: its name, tables and outputs."""
    words = ["klgap", "figures", args.figure]
    for table in FIGURES[args.figure].tables:
        option = TABLE_OPTIONS[table][0]
        words += [f"--{option.replace('_', '-')}", *map(str, getattr(args, option))]
    return shlex.join(words + ["--pdf", str(args.pdf), "--png", str(args.png)])


def main(args: argparse.Namespace) -> None:
    """Draws one figure from the tables it needs and saves it."""
    figure = FIGURES[args.figure]
    tables = {}
    for table in figure.tables:
        option = TABLE_OPTIONS[table][0]
        paths = getattr(args, option)
        if not paths:
            raise UserError(f"figure {args.figure} is drawn from {table} tables: give "
                            f"--{option.replace('_', '-')}")
        tables[table] = load_tables(paths, table)
        if not figure_registry.reads_every_objective(args.figure, table):
            tables[table] = aggregate.only_vae(tables[table])  # drawn against beta
    set_style()
    provenance = Provenance(args.commit, args.config_hash, args.rule, command_line(args))
    save(figure.draw(**tables), args.pdf, args.png, file_metadata(args.figure, provenance))
    if args.caption is not None:
        atomic.write_text(args.caption, caption_rst(args.figure, provenance))
    print(f"wrote {args.pdf} and {args.png}")
