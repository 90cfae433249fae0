"""The figure of the minibatch estimators, from the summaries: how far Chen et al.'s MWS and MSS
estimates of I_q(x; z) are from the exact one."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from klgap.estimators.mixture_numerics import mws_floor
from klgap.paper.figures.panels import (beta_panels, cell_panels, legend_below, log_n_line,
                                        note_missing, paired, require)
from klgap.paper.figures.style import COLOURS


def estimators(summary: pd.DataFrame) -> plt.Figure:
    """How far Chen et al.'s minibatch estimators of I_q(x; z) are from the exact one.

    One panel per dataset (rows) and latent size (columns), against beta, test split. Each
    curve is the mean over seeds of an estimate minus the exact I_q(x; z) (the mixture over all
    N posteriors, the black zero line): minibatch weighted sampling (MWS, dashed, blues, down
    triangles) and stratified sampling (MSS, dash-dotted, oranges, up triangles) at each
    minibatch size M (darker = larger M). Each minibatch estimate of KL(q(z) || p(z)) is the
    rate minus that of I_q(x; z), so a curve is also how far the KL estimate falls short of the
    exact KL. Green diamonds: the shortfall of the closed-form moment-matched Gaussian lower
    bound on the aggregate KL. Dotted blue lines, in the colour of M: MWS's least excess, the
    mean over the test examples of log M_b, the size of each one's batch
    (``mixture_numerics.mws_floor``: log M when M divides N), which it reaches where the
    posteriors do not overlap; dotted grey: log N (its excess where they all coincide).

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
        log_n = cell.loc[(cell["split"] == "test") & (cell["metric"] == "log_n"), "mean"]
        num_examples = int(round(math.exp(log_n.iloc[0]))) if len(log_n) else None
        for shade, batch_size in zip(shades, batch_sizes):
            if f"mws_mutual_info_b{batch_size}" in set(cell["metric"]) and num_examples:
                ax.axhline(mws_floor(num_examples, batch_size), color=methods["mws"][1](shade),
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
                      linewidth=0.8,
                      label=r"MWS's least excess: mean $\log M_b$ ($\log M$ if M divides N)")]
    handles += [Line2D([], [], color=colour_map(shade), marker=marker, linestyle=linestyle,
                       linewidth=1, label=f"{name}, M = {batch_size}")
                for name, colour_map, linestyle, marker in methods.values()
                for shade, batch_size in zip(shades, batch_sizes)]
    note_missing(figure, summary)
    legend_below(figure, handles, ncol=3)
    return figure
