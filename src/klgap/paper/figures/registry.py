"""The figures by name: each name's drawing function, with the tables it is drawn from.

The tables of each figure are declared once, in the light ``klgap.paper.figure_registry`` (which
the workflow imports without matplotlib); this module adds the drawing functions, named one by
one, and refuses to load if the two lists of names differ.
"""

from typing import Callable, NamedTuple

import matplotlib.pyplot as plt

from klgap.paper.figure_registry import FIGURE_TABLES
from klgap.paper.figures import (classes, curves, decomposition, estimators, latent, objectives,
                                 samples)


class Figure(NamedTuple):
    """A figure of the paper: how to draw it, and the tables it is drawn from."""

    draw: Callable[..., plt.Figure]
    tables: tuple[str, ...]


# Figure name -> the function that draws it, called with one keyword argument per table.
DRAW: dict[str, Callable[..., plt.Figure]] = {
    "rate_split": decomposition.rate_split,
    "mi_aggkl": decomposition.mi_aggkl,
    "kl_bracket": decomposition.kl_bracket,
    "information_vs_n": decomposition.information_vs_n,
    "latent_space": latent.latent_space,
    "class_kl": classes.class_kl,
    "estimators": estimators.estimators,
    "training_curves": curves.training_curves,
    "rate_distortion": decomposition.rate_distortion,
    "prior_samples": samples.prior_samples,
    "expost_samples": samples.expost_samples,
    "objectives": objectives.objectives,
    "frontier": objectives.frontier,
    "ones": latent.ones,
}
if set(DRAW) != set(FIGURE_TABLES):
    raise ImportError(
        f"figures without a drawing function: {sorted(set(FIGURE_TABLES) - set(DRAW))}; drawing "
        f"functions without tables (figure_registry.FIGURE_TABLES): "
        f"{sorted(set(DRAW) - set(FIGURE_TABLES))}")

# Figure name -> how to draw it and from which tables, in the order of ``FIGURE_TABLES``.
FIGURES: dict[str, Figure] = {name: Figure(DRAW[name], tables)
                              for name, tables in FIGURE_TABLES.items()}
