"""Training objectives: what a run minimises, as a plug-in of the training core (``engine``).

An objective has a name (a path component of its runs and the tables' ``objective`` column),
named weights (hyperparameters: path components and table columns too), the per-example terms
it logs (distortion and rate, so that every objective's history reads the same) and its loss.
The core calls ``terms`` and ``loss`` on one model's (B, .) batch or on K stacked models'
(K, B, .) batches; weights then arrive as scalars or as (K, 1) columns, the step's seed as (2,)
or (K, 2). Penalties on the aggregate posterior are computed per model, so model k of a stack
minimises exactly the loss of its separate run. A new objective is a new class here plus its
entry in ``OBJECTIVES`` and in the schema's ``objective`` enum (docs/extending.md).

An objective also describes itself to the tables and figures: ``label`` (its LaTeX name),
``weight_symbol`` (its weight's LaTeX symbol), ``style`` (an index into the figures' categorical
palette and a matplotlib marker) and ``tables`` (which of the paper's tables list it, from
``TABLES``). This module imports TensorFlow only inside the losses, so the workflow and the
figures can read the descriptions without it.

- ``vae``: the beta-VAE, per-example KL weighted by beta.
- ``mmd``: no per-example KL; lambda * MMD^2(q(z), p(z)) (InfoVAE with alpha = 1, WAE-MMD).
- ``tcvae``: the VAE plus (beta - 1) * the total correlation of q(z) (beta-TCVAE).
"""

import math
from typing import Callable, ClassVar, Protocol

from klgap.errors import UserError

# The paper's tables an objective can be listed in: ``main``, the beta-VAE's grid (Table 1 and the
# named values); ``objectives``, the comparison of the objectives (in the cells where one not of
# ``main`` ran); ``convergence``, the final slopes of the training curves.
TABLES = ("main", "objectives", "convergence")
# Objectives renamed since older results were written: old name -> name. Tables and
# configuration snapshots that use an old name are read with the new one (``klgap.sweep.layout``).
RENAMED = {"aggregate": "mmd"}


class Objective(Protocol):
    """The interface the training core uses (``get`` makes one)."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]  # weight name -> meaning (its --help text)
    min_batch_size: ClassVar[int]  # smallest batch the loss is defined for
    label: ClassVar[str]  # LaTeX name in tables and legends
    weight_symbol: ClassVar[str]  # LaTeX symbol of the weight, e.g. r"\beta"
    style: ClassVar[tuple[int, str]]  # (index into the figures' categorical palette, marker)
    tables: ClassVar[tuple[str, ...]]  # the tables of ``TABLES`` that list it

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns one message per invalid weight (empty if all are valid)."""

    def terms(self, vae, x, noise):
        """``klgap.models.vae.Terms``: per-example (B,) (or (K, B)) distortion and rate, z, loc, scale."""

    def loss(self, terms, weights, step_seed):
        """The loss of each model, averaged over its batch: () or (K,).

        step_seed is the step's (2,) (or (K, 2)) int64 seed, for the objective's own draws.
        """


class WeightedObjective:
    """What the objectives share: non-negative weights and the training set's size."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]
    min_batch_size: ClassVar[int] = 1

    def __init__(self, num_examples: int | None = None):
        """Args: num_examples: N, the size of the training set (None where no loss is needed)."""
        self.num_examples = num_examples

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns a message for each weight that is not a finite number >= 0."""
        messages = []
        for name in self.weights:
            value = weights[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                messages.append(f"{name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                messages.append(f"{name} must be finite, got {value}")
            elif value < 0:
                messages.append(f"{name} must be >= 0, got {value}")
        return messages

    def terms(self, vae, x, noise):
        """Distortion -log p(x|z) at z = mu + sigma * noise, the analytic rate, z, loc, scale."""
        return vae.terms(x, noise)


class BetaVAE(WeightedObjective):
    """The beta-VAE (Higgins et al. 2017); beta = 1 is the VAE's negative ELBO."""

    name = "vae"
    weights = {"beta": "KL weight (>= 0)"}
    label, weight_symbol, style = r"$\beta$-VAE", r"\beta", (0, "o")
    tables = ("main", "objectives", "convergence")

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + beta * KL(q(z|x) || p(z)).

        One reparameterised sample estimates the expectation; the KL is in closed form.

        Args:
          terms: ``Terms`` of shape (..., B).
          weights: ``{"beta": b}``, b broadcastable against (..., B).
          step_seed: unused (the loss draws nothing).

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        return tf.reduce_mean(terms.distortion + weights["beta"] * terms.rate, axis=-1)


class AggregateMMD(WeightedObjective):
    """Penalises the aggregate posterior, not each example: InfoVAE with alpha = 1 (Zhao et al.
    2019), i.e. WAE-MMD (Tolstikhin et al. 2018) with a stochastic diagonal Gaussian encoder.

    The loss is mean_i -log p(x_i|z_i) + lambda * MMD^2(q(z), p(z)), with no per-example KL. The
    MMD is ``penalties.imq_mmd_squared`` (unbiased, inverse multiquadratics kernel summed over
    WAE's scales of C = 2 d_z) between the batch's encoder samples z_i = mu_i + sigma_i * e_i and
    as many prior samples, drawn statelessly from ``prior_sample_seed(step_seed)``. The rate is
    logged but not penalised.
    """

    name = "mmd"
    weights = {"lambda": "weight of MMD^2(q(z), p(z)), the aggregate posterior's distance to "
                         "the prior; no per-example KL (>= 0)"}
    label, weight_symbol, style = "MMD", r"\lambda", (3, "s")
    tables = ("objectives", "convergence")
    min_batch_size = 2  # the U-statistic needs two samples of each distribution

    def penalty(self, terms, step_seed):
        """MMD^2 between the batch's z and prior samples: () (or (K,), one per model).

        Args:
          terms: ``Terms`` with z (B, D) or (K, B, D).
          step_seed: (2,) or (K, 2) int64.
        """
        import tensorflow as tf

        from klgap.training import penalties

        def one_model(z, seed):  # (B, D), (2,)
            prior_z = tf.random.stateless_normal(tf.shape(z), seed=prior_sample_seed(seed),
                                                 dtype=z.dtype)  # (B, D)
            return penalties.imq_mmd_squared(z, prior_z)

        return per_model(one_model, terms.z, step_seed)

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z), plus lambda * MMD^2(q(z), p(z)).

        Args:
          terms: ``Terms`` of shape (..., B), z (..., B, D).
          weights: ``{"lambda": l}``, l a scalar or a (K, 1) column.
          step_seed: (2,) or (K, 2) int64; keys the prior samples.

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        mmd = self.penalty(terms, step_seed)
        return tf.reduce_mean(terms.distortion, axis=-1) + per_model_weight(weights["lambda"],
                                                                             mmd) * mmd


class BetaTCVAE(WeightedObjective):
    """beta-TCVAE (Chen et al. 2018): the VAE's loss plus (beta - 1) times the total correlation.

    The loss is mean_i [-log p(x_i|z_i) + KL(q(z|x_i) || p)] + (beta - 1) * TC, the rate in
    closed form (so beta = 1 is the VAE, and the dimension-wise KL and the information keep
    weight 1). TC = mean_i [log q(z_i) - sum_j log q(z_ij)] is estimated from the batch alone by
    ``penalties.minibatch_total_correlation`` with N = the training set's size: minibatch
    stratified sampling in the simple unbiased variant that ``penalties`` names, importance
    weight 1/N for the sample's own component and (N - 1) / (N (B - 1)) for each of the other
    B - 1 (as ``klgap.estimators.decomposition.minibatch_log_weights("mss")``), along each row. The public
    code's weight matrix (rtqichen/beta-tcvae ``_log_importance_weight_matrix``, copied into
    other libraries), which puts the weights down columns instead of along the diagonal, is not
    reproduced.
    """

    name = "tcvae"
    weights = {"beta": "total correlation weight; 1 is the VAE (>= 0)"}
    label, weight_symbol, style = r"$\beta$-TCVAE", r"\beta", (2, "^")
    tables = ("objectives", "convergence")
    min_batch_size = 2  # the stratified weights need another component than the own one

    def penalty(self, terms, step_seed=None):
        """The batch's total correlation estimate: () (or (K,), one per model).

        Args:
          terms: ``Terms`` with z, loc and scale (B, D) or (K, B, D).
          step_seed: unused.

        Raises:
          ValueError: the objective was made without the training set's size.
        """
        from klgap.training import penalties

        if self.num_examples is None:
            raise ValueError("tcvae needs the training set's size: objectives.get('tcvae', N)")
        return per_model(lambda z, loc, scale: penalties.minibatch_total_correlation(
            z, loc, scale, self.num_examples), terms.z, terms.loc, terms.scale)

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + KL(q(z|x) || p), plus (beta - 1) * TC.

        Args:
          terms: ``Terms`` of shape (..., B), z, loc, scale (..., B, D).
          weights: ``{"beta": b}``, b a scalar or a (K, 1) column.
          step_seed: unused (the loss draws nothing).

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        total_correlation = self.penalty(terms)
        return (tf.reduce_mean(terms.distortion + terms.rate, axis=-1)
                + per_model_weight(weights["beta"] - 1.0, total_correlation) * total_correlation)


def prior_sample_seed(step_seed):
    """The seed of a step's prior samples: (s, -t - 1) for the step seed (s, t).

    No other draw of a run has a negative second seed component (the engine's binarization and
    reparameterisation noise use (s, 2 step) and (s, 2 step + 1), the initialisation and the
    evaluation non-negative ones too), so the prior samples are independent of every other draw.

    Args:
      step_seed: (2,) int64.

    Returns:
      (2,) int64.
    """
    import tensorflow as tf

    return tf.stack([step_seed[0], -step_seed[1] - 1])


def per_model(penalty: Callable, *tensors):
    """Applies a one-model penalty to (B, .) tensors, or to each model's slice of (K, B, .) ones.

    Args:
      penalty: maps one model's tensors to a scalar.
      *tensors: one model's (the first of rank 2, e.g. z (B, D)) or K models' (first (K, B, D)).

    Returns:
      () for one model, (K,) for K.
    """
    import tensorflow as tf

    if tensors[0].shape.rank == 2:
        return penalty(*tensors)
    return tf.stack([penalty(*(t[k] for t in tensors)) for k in range(tensors[0].shape[0])])


def per_model_weight(weight, penalty):
    """A weight (scalar, or (K, 1) column for stacked models) shaped like the penalty, () or (K,)."""
    import tensorflow as tf

    return tf.reshape(weight, tf.shape(penalty))


OBJECTIVES: dict[str, type] = {objective.name: objective
                               for objective in (BetaVAE, AggregateMMD, BetaTCVAE)}


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
