"""The figures' common look: sizes, palettes, labels, names, and the style of each objective.

Every figure is drawn at the paper's full width (``FULL_WIDTH``) or a column's, with 7-8 pt text
(``set_style``), seaborn's colour-blind palette (``COLOURS``; classes: matplotlib's ten categorical
colours, ``CLASS_PALETTE``; betas: viridis, ``beta_colours``) and information in nats.
"""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from klgap.sweep import layout
from klgap.training import objectives as training_objectives


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
WEIGHT_SYMBOLS = {"beta": "β", "lambda": "λ"}


def set_style() -> None:
    """Sets the common style of every figure (fonts sized for print, colour-blind palette)."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind", rc={
        "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
        "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
        "axes.grid": True, "grid.color": "0.9", "grid.linewidth": 0.5,
        "lines.linewidth": 1.2, "lines.markersize": 3.5, "axes.linewidth": 0.6,
        "pdf.fonttype": 42, "ps.fonttype": 42})


def dataset_name(dataset: str) -> str:
    """Returns the name of a dataset as printed in figures."""
    return layout.DATASET_NAMES.get(dataset, dataset)


def panel_title(dataset: str, latent_dim: int) -> str:
    """Names a panel by dataset and latent size."""
    return f"{dataset_name(dataset)}, $d_z = {latent_dim}$"


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


def objective_rank(objective: str) -> tuple[int, str]:
    """Sorts objectives in ``klgap.training.objectives`` order, unknown ones after, by name."""
    order = list(training_objectives.OBJECTIVES)
    return (order.index(objective) if objective in order else len(order), objective)


def weight_symbol(objective: str) -> str:
    """The symbol of an objective's weight, e.g. β of ``vae``, λ of ``mmd``."""
    name = training_objectives.weight_name(objective)
    return WEIGHT_SYMBOLS.get(name, name)


def weight_label(objective: str, weight: float) -> str:
    """Names a cell by objective and, below it, its weight, e.g. ``vae`` and ``β = 1``."""
    return f"{objective}\n{weight_symbol(objective)} = {layout.format_weight(weight)}"
