"""Figures of the paper, drawn from the aggregated tables of ``<outdir>/<dataset>/``.

Each figure is a function from tables to a matplotlib figure, registered in ``FIGURES`` with the
tables it needs (``summary``: ``summary.csv``; ``history``: ``history.csv``; ``latent_samples``:
``latent_samples.csv``; ``sample_grids``: ``sample_grids.csv``), and saved as a vector PDF (for the paper) and a PNG preview. All figures
share one style: seaborn's colour-blind palette, 7-8 pt text at the paper's full width (6.9 in),
information in nats, and over seeds the mean with its t-based 95% interval (``ci95_low/high``).
"""

import argparse
import inspect
import math
import re
import shlex
from pathlib import Path
from typing import Callable, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, Patch  # noqa: E402

from klgap import aggregate, atomic, figure_registry, layout, objectives  # noqa: E402
from klgap import sample_grids as sample_grids_module  # noqa: E402
from klgap.errors import UserError  # noqa: E402

FULL_WIDTH = 6.9  # inches: a figure across the page
COLUMN_WIDTH = 3.3  # inches: a figure in one column
CATEGORICAL = sns.color_palette("colorblind")
COLOURS = {"mutual_info": CATEGORICAL[0], "aggregate_kl": CATEGORICAL[1], "rate": "0.15",
           "label_info": "0.1", "moment_matched_kl": CATEGORICAL[2], "exact": "0.1",
           "log_n": "0.4", "missing": CATEGORICAL[3]}
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
        error = np.nan_to_num(np.vstack([mean - low, high - mean]), nan=0.0)
        ax.errorbar(x, mean, yerr=error, fmt="none", ecolor=colour, elinewidth=0.8, capsize=0)


def plot_metric(ax: plt.Axes, cell: pd.DataFrame, metric: str, colour, label: str | None = None,
                band: bool = True, **line_style) -> None:
    """Draws one metric of a summary cell against beta, mean and interval over seeds."""
    values = against_beta(cell, metric)
    plot_interval(ax, values["weight"], values["mean"], values["ci95_low"], values["ci95_high"],
                  colour, label, band, **line_style)


def log_n_line(ax: plt.Axes, cell: pd.DataFrame) -> None:
    """Draws log N, the ceiling of I_q(x; z), as a dotted line labelled with N."""
    log_n = cell.loc[cell["metric"] == "log_n", "mean"].dropna()
    if log_n.empty:
        return
    value = float(log_n.iloc[0])
    ax.axhline(value, color=COLOURS["log_n"], linestyle=":", linewidth=1)
    bottom, top = ax.get_ylim()
    if top < value + 0.12 * (value - bottom):  # room for the label above the line
        ax.set_ylim(bottom, value + 0.12 * (value - bottom))
    ax.annotate(f"log N, N = {round(math.exp(value)):,}", xy=(0.98, value),
                xycoords=("axes fraction", "data"), xytext=(0, 1.5), textcoords="offset points",
                ha="right", va="bottom", fontsize=6, color=COLOURS["log_n"],
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})


def note_missing(figure: plt.Figure, summary: pd.DataFrame) -> None:
    """Notes above the panels how many runs are missing (failed or pending), if any."""
    runs = summary.drop_duplicates(["dataset", "latent_dim", "weight"])
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
    """Maps class labels to the colour-blind palette (ten colours; more classes wrap to husl)."""
    labels = sorted(set(int(label) for label in labels))
    palette = (sns.color_palette("colorblind", len(labels)) if len(labels) <= 10
               else sns.color_palette("husl", len(labels)))
    return dict(zip(labels, palette))


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
    datasets, latent_dims = cells(summary)
    figure, axes = panels(len(datasets), len(latent_dims), FULL_WIDTH / 2, 2.0, sharex=True)
    for row, dataset in enumerate(datasets):
        for col, latent_dim in enumerate(latent_dims):
            ax, cell = axes[row, col], cell_of(summary, dataset, latent_dim)
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
            ax.set_title(panel_title(dataset, latent_dim))
            ax.set_ylabel("nats" if col == 0 else "")
            beta_axis(ax, cell["weight"], label=row == len(datasets) - 1)
    note_missing(figure, summary)
    legend_below(figure, [
        Patch(color=COLOURS["mutual_info"], alpha=0.55, label=LABELS["mutual_info"]),
        Patch(color=COLOURS["aggregate_kl"], alpha=0.55, label=LABELS["aggregate_kl"]),
        Line2D([], [], color=COLOURS["rate"], marker="o", label=LABELS["rate"]),
        log_n_handle()], ncol=4)
    return figure


def mi_aggkl(summary: pd.DataFrame) -> plt.Figure:
    """I_q(x; z) and KL(q(z) || p(z)) against beta, on the test and the train split.

    One panel per dataset (rows) and latent size (columns); lines are means over seeds, bands
    their t-based 95% intervals; solid lines with circles are the test split, dashed lines with
    hollow squares the train subset of the same size N. The dotted line is log N.

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["mutual_info", "aggregate_kl", "log_n"])
    datasets, latent_dims = cells(summary)
    # Train first, as larger hollow squares, so that the test circles on top stay visible.
    splits = {"train": {"linestyle": "--", "marker": "s", "markersize": 5,
                        "markerfacecolor": "none", "linewidth": 0.9},
              "test": {"linestyle": "-", "marker": "o"}}
    figure, axes = panels(len(datasets), len(latent_dims), FULL_WIDTH / 2, 2.0, sharex=True)
    for row, dataset in enumerate(datasets):
        for col, latent_dim in enumerate(latent_dims):
            ax = axes[row, col]
            for split, style in splits.items():
                cell = cell_of(summary, dataset, latent_dim, split)
                for metric in ("mutual_info", "aggregate_kl"):
                    plot_metric(ax, cell, metric, COLOURS[metric], **style)
            test = cell_of(summary, dataset, latent_dim)
            log_n_line(ax, test)
            ax.set_ylim(bottom=0)
            ax.set_title(panel_title(dataset, latent_dim))
            ax.set_ylabel("nats" if col == 0 else "")
            beta_axis(ax, test["weight"], label=row == len(datasets) - 1)
    handles = [Line2D([], [], color=COLOURS[metric], label=LABELS[metric], **splits["test"])
               for metric in ("mutual_info", "aggregate_kl")]
    handles += [Line2D([], [], color="0.3", label=f"{split} split", **splits[split])
                for split in ("test", "train")]
    note_missing(figure, summary)
    legend_below(figure, handles + [log_n_handle()], ncol=5)
    return figure


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
    datasets, latent_dims = cells(nested)
    colours = beta_colours(layout.latent_space_weights(nested["weight"]))
    figure, axes = panels(len(datasets), len(latent_dims), FULL_WIDTH / 2, 2.0, sharex=True)
    for row, dataset in enumerate(datasets):
        for col, latent_dim in enumerate(latent_dims):
            ax = axes[row, col]
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
            ax.set_title(panel_title(dataset, latent_dim))
            ax.set_ylabel("nats" if col == 0 else "")
            ax.set_xlabel("log N" if row == len(datasets) - 1 else "")
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

    One panel per dataset (rows) and latent size (columns), against beta, test split. Thin lines:
    the divergence of each class's aggregate posterior q(z|y=c) from the prior (means over
    seeds; colours as in the latent-space figure). Black lines with bands (t-based 95% intervals
    over seeds): the aggregate KL (solid) and the label information I_q(y; z) (dashed); their
    sum is the class-weighted mean of the thin lines. The dotted line is log C, C classes, the
    ceiling of I_q(y; z).

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
    colours = class_colours(class_metrics)
    log_classes = math.log(len(class_metrics))
    datasets, latent_dims = cells(summary)
    figure, axes = panels(len(datasets), len(latent_dims), FULL_WIDTH / 2, 2.0, sharex=True)
    for row, dataset in enumerate(datasets):
        for col, latent_dim in enumerate(latent_dims):
            ax, cell = axes[row, col], cell_of(summary, dataset, latent_dim)
            for label, metric in sorted(class_metrics.items()):
                values = against_beta(cell, metric)
                ax.plot(values["weight"], values["mean"], color=colours[label], linewidth=0.7,
                        alpha=0.9)
            plot_metric(ax, cell, "aggregate_kl", COLOURS["exact"], linewidth=2, marker="o")
            plot_metric(ax, cell, "label_info", COLOURS["label_info"], linewidth=1.5, marker="s",
                        linestyle="--", markerfacecolor="white")
            ax.axhline(log_classes, color=COLOURS["log_n"], linestyle=":", linewidth=1)
            ax.set_ylim(bottom=0)
            ax.set_title(panel_title(dataset, latent_dim))
            ax.set_ylabel("nats" if col == 0 else "")
            beta_axis(ax, cell["weight"], label=row == len(datasets) - 1)
    handles = [Line2D([], [], color=COLOURS["exact"], linewidth=2, marker="o",
                      label=LABELS["aggregate_kl"]),
               Line2D([], [], color=COLOURS["label_info"], linewidth=1.5, marker="s",
                      linestyle="--", markerfacecolor="white", label=LABELS["label_info"]),
               Line2D([], [], color=COLOURS["log_n"], linestyle=":", linewidth=1,
                      label=rf"$\log C$, C = {len(class_metrics)} classes"),
               Line2D([], [], color="0.6", linewidth=0.7,
                      label=LABELS["class_kl"] + ", a line per class c")]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=4)
    figure.legend(handles=[Line2D([], [], color=colours[label], linewidth=1.5, label=str(label))
                           for label in sorted(class_metrics)],
                  loc="outside right center", frameon=False, title="class c", handlelength=1.5)
    return figure


def estimators(summary: pd.DataFrame) -> plt.Figure:
    """Estimators of I_q(x; z) and KL(q(z) || p(z)) compared, against beta, test split.

    Columns: dataset and latent size. Top row: the mutual information from the exact mixture over
    all N posteriors (black, band: t-based 95% interval over seeds) and from Chen et al.'s
    minibatch weighted (MWS, dashed, blues) and stratified (MSS, dash-dotted, oranges) sampling at
    each minibatch size B (darker = larger B; error bars over seeds); the dotted line is log N.
    Bottom row: the aggregate KL, exact and from the same minibatch estimators, and the
    closed-form moment-matched Gaussian lower bound (green).

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
    datasets, latent_dims = cells(summary)
    columns = [(dataset, latent_dim) for dataset in datasets for latent_dim in latent_dims]
    figure, axes = panels(2, len(columns), COLUMN_WIDTH / 2 + 0.1, 1.9, sharex="col")
    handles = [Line2D([], [], color=COLOURS["exact"], marker="o", label="exact (all N)")]
    for col, (dataset, latent_dim) in enumerate(columns):
        cell = cell_of(summary, dataset, latent_dim)
        for row, quantity in enumerate(("mutual_info", "aggregate_kl")):
            ax = axes[row, col]
            plot_metric(ax, cell, quantity, COLOURS["exact"], marker="o", zorder=3)
            for method, (name, colour_map, linestyle, marker) in methods.items():
                for shade, batch_size in zip(shades, batch_sizes):
                    metric = f"{method}_{quantity}_b{batch_size}"
                    if metric in set(cell["metric"]):
                        plot_metric(ax, cell, metric, colour_map(shade), band=False,
                                    linestyle=linestyle, marker=marker, linewidth=1)
                    if col == 0 and row == 0:
                        handles.append(Line2D([], [], color=colour_map(shade), marker=marker,
                                              linestyle=linestyle, linewidth=1,
                                              label=f"{name}, B = {batch_size}"))
            if quantity == "mutual_info":
                log_n_line(ax, cell)
                ax.set_title(panel_title(dataset, latent_dim), fontsize=7)
            else:
                plot_metric(ax, cell, "moment_matched_kl", COLOURS["moment_matched_kl"],
                            marker="D", markersize=2.5)
                ax.axhline(0, color="0.6", linewidth=0.6)
            ax.set_ylabel((LABELS[quantity] + ", nats") if col == 0 else "")
            beta_axis(ax, cell["weight"], label=row == 1)
            ax.tick_params(axis="x", labelsize=6)
    # The legend fills column by column: exact and bounds, then MWS, then MSS.
    handles[1:1] = [Line2D([], [], color=COLOURS["moment_matched_kl"], marker="D",
                           markersize=2.5, label=LABELS["moment_matched_kl"]), log_n_handle()]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=1 + len(methods))
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
            cell = cell_of(summary, dataset, latent_dim)
            both = pd.merge(against_beta(cell, "rate"), against_beta(cell, "distortion"),
                            on="weight", suffixes=("_rate", "_dist"))
            frames.append(both)
            style = {"marker": markers[index % 4]}
            ax.plot(both["mean_rate"], both["mean_dist"], color="0.35", linewidth=0.9,
                    linestyle=styles[index % 4], zorder=1)
            for _, point in both.iterrows():
                xerr = np.nan_to_num([[point["mean_rate"] - point["ci95_low_rate"]],
                                      [point["ci95_high_rate"] - point["mean_rate"]]])
                yerr = np.nan_to_num([[point["mean_dist"] - point["ci95_low_dist"]],
                                      [point["ci95_high_dist"] - point["mean_dist"]]])
                ax.errorbar(point["mean_rate"], point["mean_dist"], xerr=xerr, yerr=yerr,
                            color=colours[point["weight"]], elinewidth=0.8, markersize=4,
                            markeredgecolor="white", markeredgewidth=0.4, zorder=2, **style)
                ax.annotate(layout.format_weight(point["weight"]),
                            (point["mean_rate"], point["mean_dist"]), xytext=(3, 2),
                            textcoords="offset points", fontsize=5.5, color="0.3")
        ax.margins(x=0.1, y=0.08)  # room for the beta labels
        points = pd.concat(frames)
        if len(points):
            equal_elbo_lines(ax, points["mean_rate"] + points["mean_dist"])
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


# --- figures from the other tables --------------------------------------------------------------


def latent_space(latent_samples: pd.DataFrame) -> plt.Figure:
    """Samples of the 2-D aggregate posterior q(z), coloured by class, over the prior.

    Rows: datasets; columns: the smallest beta, the one nearest to 1 and the largest. Each point
    is one z ~ q(z|x_n) for a random test example x_n (so the points sample q(z)); circles are the
    1, 2 and 3 sigma contours of the prior p(z) = N(0, I). It shows whether each class occupies
    only part of the prior's ball while all classes together fill it.

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
    radius = max(3.5, float(np.quantile(np.abs(latent_samples[["z1", "z2"]].to_numpy()), 0.999)))
    figure, axes = panels(len(datasets), len(betas), 2.2, 2.2, sharex=True, sharey=True)
    for row, dataset in enumerate(datasets):
        for col, beta in enumerate(betas):
            ax = axes[row, col]
            points = latent_samples[(latent_samples["dataset"] == dataset)
                                    & (latent_samples["weight"] == beta)]
            for sigmas in (1, 2, 3):
                ax.add_patch(Circle((0, 0), sigmas, fill=False, color="0.25", linewidth=0.7,
                                    linestyle="--", zorder=3))
                ax.text(sigmas * 0.71, sigmas * 0.71, f"{sigmas}σ", fontsize=6, color="0.25",
                        ha="left", va="bottom", zorder=3)
            ax.scatter(points["z1"], points["z2"], c=[colours[int(y)] for y in points["label"]],
                       s=2, alpha=0.6, linewidths=0, rasterized=True)
            if points.empty:
                ax.text(0.5, 0.5, "no evaluated run", transform=ax.transAxes, ha="center")
            seed = f", seed {int(points['seed'].iloc[0])}" if len(points) else ""
            ax.set_title(rf"$\beta = {layout.format_weight(beta)}${seed}")
            ax.set_xlim(-radius, radius)
            ax.set_ylim(-radius, radius)
            ax.set_aspect("equal")
            ax.grid(False)  # the prior's circles are the reference
            ax.set_xlabel("$z_1$" if row == len(datasets) - 1 else "")
            ax.set_ylabel(f"{dataset_name(dataset)}\n$z_2$" if col == 0 else "")
    handles = [Line2D([], [], color=colour, marker="o", linestyle="none", markersize=4,
                      label=str(label)) for label, colour in colours.items()]
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                  frameon=False, title="class y", handletextpad=0.1, columnspacing=0.9)
    return figure


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

# The latent size whose samples are drawn, where a dataset's table has it.
SAMPLES_LATENT_DIM = 10
# Panels (objective and weight) per row of the sample figures at most; more wrap to further rows
# of equal length.
SAMPLE_COLUMNS = 10
WEIGHT_SYMBOLS = {"beta": "β", "lambda": "λ"}


def samples_latent_dim(table: pd.DataFrame) -> int:
    """Chooses the latent size drawn for one dataset: d_z = 10 if present, else the largest of
    those with the most objectives."""
    latent_dims = sorted(int(d) for d in table["latent_dim"].unique())
    if SAMPLES_LATENT_DIM in latent_dims:
        return SAMPLES_LATENT_DIM
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
    name = objectives.weight_name(objective)
    return f"{objective}\n{WEIGHT_SYMBOLS.get(name, name)} = {layout.format_weight(weight)}"


def sample_mosaics(sample_grids: pd.DataFrame, kind: str) -> plt.Figure:
    """Draws one kind of decoded samples (``prior`` or ``expost``) as a 4x4 mosaic per cell.

    Args:
      sample_grids: the concatenated ``sample_grids.csv`` tables.
      kind: which samples.

    Returns:
      The figure: per dataset a row (wrapped beyond ``SAMPLE_COLUMNS`` panels) of the cells at its
      latent size (``samples_latent_dim``), objectives in ``klgap.objectives`` order, weights
      ascending; a cell's lowest seed.
    """
    table = sample_grids[sample_grids["kind"] == kind]
    if table.empty:
        return empty_figure(f"No decoded {kind} samples yet: evaluate the runs (samples.npz) "
                            "and run sample_grids.")
    order = {name: index for index, name in enumerate(objectives.OBJECTIVES)}
    rows = []  # (dataset, latent_dim, [(objective, weight, seed, its rows)])
    for dataset in dict.fromkeys(table["dataset"]):
        of_dataset = table[table["dataset"] == dataset]
        latent_dim = samples_latent_dim(of_dataset)
        chosen = of_dataset[of_dataset["latent_dim"] == latent_dim]
        panels_of = []
        for (objective, weight), cell in sorted(
                chosen.groupby(["objective", "weight"]),
                key=lambda item: (order.get(item[0][0], len(order)), item[0][0], item[0][1])):
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
        if table not in figure_registry.EVERY_OBJECTIVE:
            tables[table] = aggregate.only_vae(tables[table])  # drawn against beta
    set_style()
    provenance = Provenance(args.commit, args.config_hash, args.rule, command_line(args))
    save(figure.draw(**tables), args.pdf, args.png, file_metadata(args.figure, provenance))
    if args.caption is not None:
        atomic.write_text(args.caption, caption_rst(args.figure, provenance))
    print(f"wrote {args.pdf} and {args.png}")
