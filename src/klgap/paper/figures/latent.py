"""Figures of 2-D latent spaces, from the latent samples: codes of every class over the prior
(``latent_space``), and where the codes of one class sit among them (``ones``)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

from klgap.paper.figures.panels import (by_objective_and_weight, clip_to_window, corner_note,
                                        empty_figure, legend_below, panels)
from klgap.paper.figures.style import (CLASS_PALETTE, GREY_CODES, ONE_CLASS, class_colours,
                                       dataset_name, weight_label)
from klgap.sweep import layout


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
    the table), objectives in ``klgap.training.objectives`` order, weights ascending. Light grey
    points: one code z ~ q(z|x_n) for each of a random subset of test examples x_n, all classes
    (a sample of q(z)); red points, drawn on top: the codes of the examples of class 1 (the
    digit 1; in Fashion-MNIST, trousers). Dashed circles are the 1, 2 and 3 sigma contours of
    the prior p(z) = N(0, I). All panels share one square window (``latent_window``); codes
    outside it are drawn on its edge, and a panel that has such codes says how many.

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
