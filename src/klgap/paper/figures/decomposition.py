"""Figures of the rate's decomposition, from the summaries: the rate split into I_q(x; z) and
KL(q(z) || p(z)), their N-bracket, the population's aggregate KL bracketed from above and below,
their growth with N, and the rate-distortion plane.
"""

from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from klgap.paper.figures.panels import (against_beta, beta_axis, cell_of, cell_panels, cells,
                                        clip_to_window, empty_figure, equal_elbo_lines,
                                        label_weights, legend_below, log_n_handle, log_n_line,
                                        note_missing, note_no_runs, paired, panels,
                                        plot_interval, plot_pairs, require, swept_over_beta)
from klgap.paper.figures.style import COLOURS, FULL_WIDTH, LABELS, beta_colours, dataset_name
from klgap.sweep import layout


def rate_split(summary: pd.DataFrame) -> plt.Figure:
    """The rate split into I_q(x; z) and KL(q(z) || p(z)) against beta, test split.

    One panel per dataset (rows) and latent size (columns) swept over more than one beta (a lone
    beta has no curve; the tables give it). The stacked areas are the means over
    seeds of the two terms (they add up to the mean rate, the top line); error bars are the
    t-based 95% intervals of the mutual information and of the rate. The dotted line is log N,
    the ceiling of the mutual information under the empirical data distribution.

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    require(summary, ["rate", "mutual_info", "aggregate_kl", "log_n"])
    summary = swept_over_beta(summary)
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
        beta_axis(ax, summary["weight"], label=bottom)  # the panels share their x-axis
    note_missing(figure, summary)
    legend_below(figure, [
        Patch(color=COLOURS["mutual_info"], alpha=0.55, label=LABELS["mutual_info"]),
        Patch(color=COLOURS["aggregate_kl"], alpha=0.55, label=LABELS["aggregate_kl"]),
        Line2D([], [], color=COLOURS["rate"], marker="o", label=LABELS["rate"]),
        log_n_handle()], ncol=4)
    return figure


# The estimates of KL(q(z) || p(z)) in the bracket figure: (split, metric, legend label, style).
KL_BRACKET = (
    ("train_full", "aggregate_kl", "in-sample, whole training split (upper bound in expectation)",
     {"linestyle": "-", "marker": "s", "markersize": 4.5}),
    ("test", "aggregate_kl", "in-sample, test split",
     {"linestyle": "--", "marker": "o", "markersize": 3.5, "linewidth": 1.0, "alpha": 0.8}),
    ("test", "fitted_aggregate_kl_lower", "fitted density, test codes (lower bound)",
     {"linestyle": ":", "marker": "^", "markersize": 5, "linewidth": 1.4}),
)


def kl_bracket(summary: pd.DataFrame) -> plt.Figure:
    """The population's KL(q(z) || p(z)) bracketed, against beta, on a log scale.

    One panel per dataset (rows) and latent size (columns) swept over more than one beta. From
    above: the in-sample aggregate KL of the whole training split (an upper bound in expectation
    on the population's; solid, squares) and of the test split (dashed, circles); from below: the
    fitted bound, test codes scored under a density fitted to the training posteriors (metric
    ``fitted_aggregate_kl_lower``; dotted, triangles). The shaded band between the fitted bound
    and the whole training split's value is where the population's value lies. Means over seeds
    with t-based 95% intervals as bars; values <= 0 are not drawn (log scale), and the axis starts
    at half the smallest mean drawn, cutting intervals that reach further down.

    Args:
      summary: the concatenated summaries (the beta-VAE's).

    Returns:
      The figure.
    """
    require(summary, ["aggregate_kl", "fitted_aggregate_kl_lower"])
    summary = swept_over_beta(summary)
    figure, shown = cell_panels(summary, "nats (log scale)")
    colours = {"aggregate_kl": COLOURS["aggregate_kl"], "fitted_aggregate_kl_lower": "0.15"}
    for ax, dataset, latent_dim, bottom, _ in shown:
        series = {}
        for split, metric, _, style in KL_BRACKET:
            values = against_beta(cell_of(summary, dataset, latent_dim, split), metric)
            values = values[values["mean"] > 0]
            series[(split, metric)] = values
            plot_interval(ax, values["weight"], values["mean"], values["ci95_low"].clip(lower=1e-3),
                          values["ci95_high"], colours[metric], band=False, **style)
        upper = series[("train_full", "aggregate_kl")].set_index("weight")["mean"]
        lower = series[("test", "fitted_aggregate_kl_lower")].set_index("weight")["mean"]
        both = pd.concat([lower, upper], axis=1, keys=["low", "high"]).dropna().sort_index()
        ax.fill_between(both.index, both["low"], both["high"], color=COLOURS["aggregate_kl"],
                        alpha=0.15, linewidth=0)
        ax.set_yscale("log")
        means = pd.concat([values["mean"] for values in series.values()])
        if len(means):  # an interval reaching towards zero (few seeds) is cut at the edge
            ax.set_ylim(bottom=0.5 * means.min())
        beta_axis(ax, summary["weight"], label=bottom)  # the panels share their x-axis
    note_missing(figure, summary)
    handles = [Line2D([], [], color=colours[metric], label=label, **style)
               for _, metric, label, style in KL_BRACKET]
    handles.append(Patch(color=COLOURS["aggregate_kl"], alpha=0.15,
                         label="bracket of the population's value"))
    legend_below(figure, handles, ncol=2)
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
