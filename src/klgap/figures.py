"""Figures of the paper, drawn from the aggregated summaries (``<outdir>/<dataset>/summary.csv``).

Each figure is a function from the summary table to a matplotlib figure, registered in ``FIGURES``
and saved as a vector PDF (for the paper) and a PNG preview.
"""

import argparse
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from klgap import atomic, layout  # noqa: E402
from klgap.aggregate import load_summaries  # noqa: E402
from klgap.errors import UserError  # noqa: E402

# The terms of "rate = I(x; z) + KL(q(z) || p(z))", with their legend labels.
RATE_TERMS = {
    "rate": r"rate $\mathbb{E}_x\,\mathrm{KL}(q(z|x)\,\|\,p(z))$",
    "mutual_info": r"$I_q(x; z)$",
    "aggregate_kl": r"$\mathrm{KL}(q(z)\,\|\,p(z))$",
}


def _require(summary: pd.DataFrame, metrics: list[str]) -> None:
    """Raises UserError unless every metric is in the summary."""
    absent = sorted(set(metrics) - set(summary["metric"]))
    if absent:
        raise UserError(f"the summaries lack the metrics {', '.join(absent)}; are they from an "
                        "older evaluate? Re-run evaluate and aggregate")


def rate_split(summary: pd.DataFrame) -> plt.Figure:
    """The rate and its two terms against beta, test split, one panel per dataset and latent size.

    Lines are means over seeds, bands their t-based 95% intervals; the dotted line is log N, the
    ceiling of the mutual information under the empirical data distribution.

    Args:
      summary: the concatenated summaries.

    Returns:
      The figure.
    """
    _require(summary, list(RATE_TERMS) + ["log_n"])
    test = summary[summary["split"] == "test"]
    terms = test[test["metric"].isin(list(RATE_TERMS))].copy()
    terms["term"] = terms["metric"].map(RATE_TERMS)
    grid = sns.FacetGrid(terms, row="latent_dim", col="dataset", hue="term",
                         hue_order=list(RATE_TERMS.values()), height=2.4, aspect=1.3,
                         sharey=False, margin_titles=True, despine=False)
    grid.map_dataframe(_line_with_band)
    for (latent_dim, dataset), ax in grid.axes_dict.items():
        cell = test[(test["dataset"] == dataset) & (test["latent_dim"] == latent_dim)]
        log_n = cell.loc[cell["metric"] == "log_n", "mean"]
        if len(log_n):
            ax.axhline(float(log_n.iloc[0]), color="0.5", linestyle=":", linewidth=1)
        incomplete = cell[cell["n_runs"] < cell["n_expected"]][["beta"]].drop_duplicates()
        if len(incomplete):
            ax.text(0.02, 0.02, f"{len(incomplete)} beta(s) with missing seeds",
                    transform=ax.transAxes, va="bottom", fontsize=7, color="tab:red")
        betas = sorted(cell["beta"].unique())
        ax.set_xscale("log")
        ax.set_xticks(betas, [layout.format_beta(b) for b in betas])
        ax.minorticks_off()
    grid.set_titles(row_template=r"$d_z$ = {row_name}", col_template="{col_name}")
    grid.set_axis_labels(r"$\beta$", "nats")
    grid.add_legend(title="")
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, -0.02), ncol=len(RATE_TERMS),
                    frameon=False)
    return grid.figure


def _line_with_band(data: pd.DataFrame, color, label: str, **_) -> None:
    """Draws mean against beta with its interval as a band (FacetGrid callback)."""
    data = data.sort_values("beta")
    ax = plt.gca()
    ax.plot(data["beta"], data["mean"], marker="o", markersize=3, color=color, label=label)
    ax.fill_between(data["beta"], data["ci95_low"], data["ci95_high"], color=color, alpha=0.2,
                    linewidth=0)


FIGURES: dict[str, Callable[[pd.DataFrame], plt.Figure]] = {"rate_split": rate_split}


def save(figure: plt.Figure, pdf: Path, png: Path) -> None:
    """Saves a figure as vector PDF (no timestamp, so rebuilds are identical) and PNG preview."""
    with atomic.atomic_path(pdf) as tmp:
        figure.savefig(tmp, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
    with atomic.atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the command's options."""
    parser.add_argument("figure", choices=sorted(FIGURES), help="which figure to draw")
    parser.add_argument("--summaries", type=Path, nargs="+", required=True,
                        help="summary.csv files written by aggregate")
    parser.add_argument("--pdf", type=Path, required=True, help="output PDF")
    parser.add_argument("--png", type=Path, required=True, help="output PNG preview")


def main(args: argparse.Namespace) -> None:
    """Draws one figure and saves it."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"pdf.fonttype": 42})
    figure = FIGURES[args.figure](load_summaries(args.summaries))
    save(figure, args.pdf, args.png)
    print(f"wrote {args.pdf} and {args.png}")
