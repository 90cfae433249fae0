"""Training objectives: what a run minimises, as a plug-in of the training core (``engine``).

An objective has a name (a path component of its runs and the tables' ``objective`` column),
named weights (hyperparameters: path components and table columns too), the per-example terms
it logs (distortion and rate, so that every objective's history reads the same) and its loss.
The core calls ``terms`` and ``loss`` on one model's (B, .) batch or on K stacked models'
(K, B, .) batches; weights then arrive as scalars or as (K, 1) columns, the step's seed as (2,)
or (K, 2). Penalties on the aggregate posterior are computed per model, so model k of a stack
minimises exactly the loss of its separate run. A new objective is a new class in a module of
this package (``per_example``: a per-example KL; ``aggregate_penalties``: an MMD on q(z)) plus
its entry in ``OBJECTIVES`` and in the schema's ``objective`` enum (docs/extending.md).

An objective also describes itself to the tables and figures: ``label`` (its LaTeX name),
``weight_symbol`` (its weight's LaTeX symbol), ``style`` (an index into the figures' categorical
palette and a matplotlib marker) and ``tables`` (which of the paper's tables list it, from
``TABLES``). This module imports TensorFlow only inside the losses, so the workflow and the
figures can read the descriptions without it.

An objective also names the prior of its model (``prior``: ``standard`` N(0, I), ``vamp`` or
``class_conditional``; ``klgap.models.networks.build_model`` builds it), whether its terms need
the examples' labels (``needs_labels``: the core then passes ``labels`` to ``terms``) and whether
K models can be stacked (``stackable``: the learned priors cannot; the core refuses them by name).

In every formula below the mean runs over the batch's B examples, d_i = -log p(x_i|z_i) (nats,
summed over pixels) at one reparameterised z_i = mu_i + sigma_i e_i, r_i the rate of example i
(``Terms.rate``), and MMD^2 the batch's ``penalties.imq_mmd_squared`` between the codes and B
prior samples (one number per batch, added once: see ``AggregateMMD`` for the scale of lambda).

- ``vae``: mean_i [d_i + beta r_i] (the beta-VAE).
- ``mmd``: mean_i d_i + lambda MMD^2 (InfoVAE with alpha = 1, WAE-MMD with a Gaussian encoder).
- ``tcvae``: mean_i [d_i + r_i] + (beta - 1) TC (beta-TCVAE).
- ``infovae``: mean_i [d_i + r_i] + lambda MMD^2 (InfoVAE with alpha = 0).
- ``wae``: mean_i d_i + lambda MMD^2 at z_i = mu_i (WAE-MMD, deterministic encoder).
- ``waelogvar``: mean_i [d_i + sum_j |log sigma_ij^2|] + lambda MMD^2 (WAE-MMD, Gaussian encoder
  with Rubenstein et al.'s log-variance penalty).
- ``vamp``: mean_i [d_i + beta r_i], r_i = log q(z_i|x_i) - log p_vamp(z_i) (the VampPrior).
- ``classprior``: mean_i [d_i + beta KL(q(z|x_i) || p(z|y_i))] (a learned prior per class).
"""

from klgap.errors import UserError
from klgap.training.objectives.aggregate_penalties import (  # noqa: F401 (the objectives)
    AggregateMMD, DeterministicWAE, InfoVAE, LogVarianceWAE, mmd_to_prior)
from klgap.training.objectives.base import (  # noqa: F401 (the interface and its helpers)
    Objective, WeightedObjective, per_model, per_model_weight, prior_sample_seed)
from klgap.training.objectives.per_example import (  # noqa: F401 (the objectives)
    BetaTCVAE, BetaVAE, ClassPriorVAE, VampPriorVAE)


# The paper's tables an objective can be listed in: ``main``, the beta-VAE's grid (Table 1 and the
# named values); ``objectives``, the comparison of the objectives (in the cells where one not of
# ``main`` ran); ``convergence``, the final slopes of the training curves.
TABLES = ("main", "objectives", "convergence")
# Objectives renamed since older results were written: old name -> name. Tables and
# configuration snapshots that use an old name are read with the new one (``klgap.sweep.layout``).
RENAMED = {"aggregate": "mmd"}


OBJECTIVES: dict[str, type] = {objective.name: objective
                               for objective in (BetaVAE, AggregateMMD, BetaTCVAE, InfoVAE,
                                                 DeterministicWAE, LogVarianceWAE, VampPriorVAE,
                                                 ClassPriorVAE)}


def get(name: str, num_examples: int | None = None) -> Objective:
    """Returns the objective called ``name``.

    Args:
      name: a key of ``OBJECTIVES``.
      num_examples: N, the training set's size (needed by ``tcvae``'s loss).

    Raises:
      UserError: no such objective.
    """
    if name not in OBJECTIVES:
        raise UserError(f"unknown objective {name!r}; the objectives are: {', '.join(OBJECTIVES)}.")
    return OBJECTIVES[name](num_examples)


def listed_in(table: str) -> list[str]:
    """The objectives that one of the paper's tables lists, in ``OBJECTIVES`` order.

    Args:
      table: a name from ``TABLES``.

    Raises:
      ValueError: not a table of ``TABLES``.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; the tables are {', '.join(TABLES)}")
    return [name for name, objective in OBJECTIVES.items() if table in objective.tables]


def weight_names() -> list[str]:
    """Every weight of every objective, once, in order (the commands' weight options)."""
    return list(dict.fromkeys(name for cls in OBJECTIVES.values() for name in cls.weights))


def weight_name(name: str) -> str:
    """The name of the one weight that a sweep varies for objective ``name`` (e.g. ``beta``).

    Raises:
      UserError: no such objective.
    """
    [weight] = get(name).weights
    return weight
