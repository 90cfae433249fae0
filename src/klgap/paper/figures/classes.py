"""The figure of the classes' aggregate posteriors, from the summaries: KL(q(z|y=c) || p(z)) of
each class beside KL(q(z) || p(z)) and I_q(y; z)."""

import math
import re

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from klgap.errors import UserError
from klgap.paper.figures.panels import (against_beta, beta_panels, cell_panels, legend_below,
                                        note_missing, plot_metric, require, swept_over_beta)
from klgap.paper.figures.style import CLASS_PALETTE, COLOURS, LABELS, ONE_CLASS


def class_kl(summary: pd.DataFrame) -> plt.Figure:
    """Class-conditional aggregates KL(q(z|y=c) || p(z)) beside KL(q(z) || p(z)) and I_q(y; z).

    One panel per dataset (rows) and latent size (columns) swept over beta (``swept_over_beta``),
    against beta, test split. Grey band:
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
    summary = swept_over_beta(summary)
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
