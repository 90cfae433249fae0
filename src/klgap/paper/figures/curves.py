"""The figure of the training curves, from the histories: test ELBO, rate and distortion per
epoch."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from klgap.errors import UserError
from klgap.paper.figures.panels import empty_figure, legend_below, panels, plot_interval
from klgap.paper.figures.style import FULL_WIDTH, beta_colours, dataset_name
from klgap.sweep import layout
from klgap.sweep import tables as aggregate


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
