"""The figures that compare the objectives, from the summaries of every objective: the beta-VAE
beside objectives that act on the aggregate posterior, in four panels against the rate, and their
samples' quality against their held-out likelihood (the frontier)."""

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from klgap.estimators.holes import HOLE_RATIO
from klgap.paper.figures.panels import (empty_figure, equal_elbo_lines, label_weights,
                                        legend_below, log_n_handle, log_n_line, note_missing,
                                        paired, panels, plot_pairs, require, shown_latent_dim)
from klgap.paper.figures.style import (FULL_WIDTH, LABELS, objective_rank, objective_style,
                                       panel_title, weight_symbol)
from klgap.sweep import tables as aggregate


def objectives(summary: pd.DataFrame) -> plt.Figure:
    """The counterfactual: the beta-VAE beside objectives that act on the aggregate posterior.

    Rows: the datasets whose summaries have an objective besides the beta-VAE, at d_z = 10
    (else the latent size with the most objectives), test split. Colour and marker name the
    objective: vae (blue circles, its beta grid), mmd (vermilion squares, its lambda grid:
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
                    linestyle: str = "-", x_metric: str = "rate") -> pd.DataFrame:
    """Draws a metric against another (the rate by default), a path of points per objective
    (weights ascending).

    Args:
      ax: the panel.
      cell: the summary rows of one dataset and latent size, every objective.
      y_metric: the metric on the y-axis.
      hollow: white-filled markers (else filled).
      linestyle: of the lines joining an objective's points.
      x_metric: the metric on the x-axis.

    Returns:
      The points drawn (``paired``), with their ``objective``.
    """
    drawn = []
    for objective in sorted(cell["objective"].unique(), key=objective_rank):
        colour, marker = objective_style(objective)
        points = paired(cell[cell["objective"] == objective], x_metric, y_metric)
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


# Panels of figure ``frontier``: the FID of which samples -> panel title.
FRONTIER_PANELS = {"prior_fid": "(a) samples from the prior",
                   "fitted_fid": "(b) samples from the fitted density"}


def frontier(summary: pd.DataFrame) -> plt.Figure:
    """Sample quality against held-out likelihood: does an objective beat the beta-VAE's frontier?

    Rows: the datasets whose summaries have an objective besides the beta-VAE, at the latent size
    of ``objectives``, test split. x: the AIS estimate of log p(x) on the fixed test subset
    (metric ``ais_ll``; higher is better); y: the FID of decoded samples against the test images
    (log scale; lower is better), (a) of samples from the prior (``prior_fid``), (b) of samples
    from the density fitted to the training codes (``fitted_fid``: the prior a model could have).
    Colour and marker name the objective; each point is a cell, labelled with its weight, a mean
    over seeds with t-based 95% intervals in both directions; lines join an objective's weights
    in ascending order. Better models lie to the lower right; a point below the beta-VAE's path
    at equal likelihood beats it. Learned priors have no AIS estimate and are not drawn.

    Args:
      summary: the concatenated summaries, every objective.

    Returns:
      The figure.
    """
    require(summary, ["ais_ll", *FRONTIER_PANELS])
    compared = compared_objectives(summary)
    if compared.empty:
        return empty_figure("No objective besides the beta-VAE in these summaries (none in the "
                            "sweep, or not aggregated yet).")
    datasets = list(dict.fromkeys(compared["dataset"]))
    figure, axes = panels(len(datasets), len(FRONTIER_PANELS), FULL_WIDTH / 2, 2.6, sharex="row")
    for row, dataset in enumerate(datasets):
        cell = compared[compared["dataset"] == dataset]
        for ax, (metric, title) in zip(axes[row], FRONTIER_PANELS.items()):
            label_weights(ax, objective_paths(ax, cell, metric, x_metric="ais_ll"))
            ax.set_yscale("log")
            ax.margins(x=0.08)
            ax.set_ylabel(f"{panel_title(dataset, int(cell['latent_dim'].iloc[0]))}\nFID"
                          if ax is axes[row, 0] else "FID")
            ax.set_xlabel(r"$\log p(x)$ (AIS), nats" if row == len(datasets) - 1 else "")
            if row == 0:
                ax.set_title(title)
    drawn = compared[(compared["metric"] == "ais_ll") & compared["mean"].notna()]
    handles = [Line2D([], [], color=objective_style(objective)[0],
                      marker=objective_style(objective)[1], linewidth=0.8,
                      label=f"{objective} ({weight_symbol(objective)})")
               for objective in sorted(drawn["objective"].unique(), key=objective_rank)]
    note_missing(figure, compared)
    legend_below(figure, handles, ncol=4)
    return figure
