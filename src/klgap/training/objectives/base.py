"""What every objective shares: the interface the training core uses, non-negative weights, and
the helpers that apply a one-model penalty to K stacked models."""

import math
from typing import Callable, ClassVar, Protocol

class Objective(Protocol):
    """The interface the training core uses (``get`` makes one)."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]  # weight name -> meaning (its --help text)
    min_batch_size: ClassVar[int]  # smallest batch the loss is defined for
    label: ClassVar[str]  # LaTeX name in tables and legends
    weight_symbol: ClassVar[str]  # LaTeX symbol of the weight, e.g. r"\beta"
    style: ClassVar[tuple[int, str]]  # (index into the figures' categorical palette, marker)
    tables: ClassVar[tuple[str, ...]]  # the tables of ``TABLES`` that list it
    prior: ClassVar[str]  # the model's prior (``klgap.models.vae.PRIORS``)
    needs_labels: ClassVar[bool]  # terms need the examples' labels
    stackable: ClassVar[bool]  # K models can be trained stacked (``klgap.training.batched``)

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns one message per invalid weight (empty if all are valid)."""

    def terms(self, vae, x, noise, labels=None):
        """``klgap.models.vae.Terms``: per-example (B,) (or (K, B)) distortion, rate, z, loc, scale.

        labels, the examples' (B,) classes, are given only to objectives that need them.
        """

    def loss(self, terms, weights, step_seed):
        """The loss of each model, averaged over its batch: () or (K,).

        step_seed is the step's (2,) (or (K, 2)) int64 seed, for the objective's own draws.
        """


class WeightedObjective:
    """What the objectives share: non-negative weights and the training set's size."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]
    min_batch_size: ClassVar[int] = 1
    prior: ClassVar[str] = "standard"
    needs_labels: ClassVar[bool] = False
    stackable: ClassVar[bool] = True

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

    def terms(self, vae, x, noise, labels=None):
        """Distortion -log p(x|z) at z = mu + sigma * noise, the rate, z, loc, scale.

        The rate is the model's (``VAE.terms``): KL(q(z|x) || N(0, I)) in closed form for the
        standard prior. labels are not used.
        """
        return vae.terms(x, noise)


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
    """A weight (scalar, or (K, 1) column for stacked models) shaped like the penalty: () or (K,)
    (for a (K, 1) column)."""
    import tensorflow as tf

    return tf.reshape(weight, tf.shape(penalty))
