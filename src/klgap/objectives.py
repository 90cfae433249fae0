"""Training objectives: what a run minimises, as a plug-in of the training core (``engine``).

An objective has a name (a path component of its runs and the tables' ``objective`` column),
named weights (hyperparameters: path components and table columns too), the per-example terms
it logs (distortion and rate, so that every objective's history reads the same) and its loss.
The core calls ``terms`` and ``loss`` on one model's (B, .) batch or on K stacked models'
(K, B, .) batches; weights then arrive as scalars or as (K, 1) columns. A new objective is a new
class here plus its entry in ``OBJECTIVES`` and in the schema's ``objective`` enum.
"""

import math
from typing import ClassVar, Protocol

from klgap.errors import UserError


class Objective(Protocol):
    """The interface the training core uses."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]  # weight name -> meaning (its --help text)

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns one message per out-of-range weight (empty if all are valid)."""

    def terms(self, vae, x, noise):
        """Per-example ``klgap.model.Terms`` of shape (B,), or (K, B) for stacked models."""

    def loss(self, terms, weights):
        """The loss of each model, averaged over its batch: () or (K,)."""


class BetaVAE:
    """The beta-VAE (Higgins et al. 2017); beta = 1 is the VAE's negative ELBO."""

    name = "vae"
    weights = {"beta": "KL weight (>= 0)"}

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns a message unless beta is finite and >= 0."""
        beta = weights["beta"]
        return [] if math.isfinite(beta) and beta >= 0 else [f"beta must be >= 0, got {beta}"]

    def terms(self, vae, x, noise):
        """Distortion -log p(x|z) at z = mu + sigma * noise, and the analytic rate."""
        return vae.terms(x, noise)

    def loss(self, terms, weights):
        """Mean over the batch of -log p(x|z) + beta * KL(q(z|x) || p(z)).

        One reparameterised sample estimates the expectation; the KL is in closed form.

        Args:
          terms: ``Terms`` of shape (..., B).
          weights: ``{"beta": b}``, b broadcastable against (..., B).

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        return tf.reduce_mean(terms.distortion + weights["beta"] * terms.rate, axis=-1)


OBJECTIVES: dict[str, type] = {objective.name: objective for objective in (BetaVAE,)}


def get(name: str) -> Objective:
    """Returns the objective called ``name``.

    Raises:
      UserError: no such objective.
    """
    if name not in OBJECTIVES:
        raise UserError(f"unknown objective {name!r}; the objectives are: {', '.join(OBJECTIVES)}.")
    return OBJECTIVES[name]()


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
