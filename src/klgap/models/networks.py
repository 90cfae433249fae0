"""Which encoder, decoder and prior a run uses: the one place that builds a model from a run's
config.

Training (``klgap.training.train``), evaluation (``klgap.evaluation.evaluate``) and the batched
path (``klgap.training.batched``) call ``build_model``; a network is a name in ``NETWORKS`` (the
schema's ``network`` key) mapped to a builder. A new network is a builder here plus its name in
the schema's enum (docs/extending.md). A builder makes the VAE with prior N(0, I);
``build_model`` then gives it the prior that the run's objective names
(``klgap.training.objectives``, attribute ``prior``: ``standard`` N(0, I), ``vamp`` or
``class_conditional``; ``klgap.models.vae.with_prior``), with the VampPrior's K from the run's
``num_pseudo_inputs``; the prior's variables are part of the model's weights. TensorFlow is
imported by the builders only.
"""

from typing import Callable, Mapping

from klgap.errors import UserError

DEFAULT_NETWORK = "mlp"
STANDARD_PRIOR = "standard"
DEFAULT_NUM_PSEUDO_INPUTS = 500  # as klgap.models.vae.DEFAULT_NUM_PSEUDO_INPUTS (no TF import)


def build_mlp(data_shape: tuple[int, ...], latent_dim: int, hidden: list[int], seed: int):
    """The MLP encoder and decoder of ``klgap.models.vae.VAE.build`` on flattened data.

    Args:
      data_shape: the shape of one example, (P,) for flattened images.
      latent_dim: D.
      hidden: hidden layer widths of the encoder; the decoder mirrors them.
      seed: seed of the weight initialisation.

    Returns:
      A ``klgap.models.vae.VAE`` with prior N(0, I).
    """
    from klgap.models import vae

    (data_dim,) = data_shape
    return vae.VAE.build(data_dim, latent_dim, hidden, seed)


# network name -> builder(data_shape, latent_dim, hidden, seed) -> VAE (prior N(0, I));
# ``build_model`` then gives it the prior of the run's objective.
NETWORKS: dict[str, Callable] = {"mlp": build_mlp}


def setting(run_config, key: str, default=None):
    """One setting of a run's configuration, a ``RunConfig`` or the dict of a ``run.json``."""
    if isinstance(run_config, Mapping):
        return run_config.get(key, default)
    return getattr(run_config, key, default)


def network_of(run_config) -> str:
    """The network of a run (``mlp`` for runs recorded before the key existed).

    Raises:
      UserError: an unknown network, naming the known ones.
    """
    network = setting(run_config, "network") or DEFAULT_NETWORK
    if network not in NETWORKS:
        raise UserError(f"unknown network {network!r}; the networks are: {', '.join(NETWORKS)} "
                        "(config key network)")
    return network


def prior_of(run_config) -> str:
    """The prior of a run: the one its objective names (``standard`` for runs without one).

    Raises:
      UserError: an unknown objective.
    """
    from klgap.training import objectives

    objective = setting(run_config, "objective")
    if objective is None:
        return STANDARD_PRIOR
    objective = objectives.RENAMED.get(objective, objective)
    return objectives.get(objective).prior


def build_model(run_config, data_shape: tuple[int, ...], seed: int | None = None):
    """Builds the VAE that a run's configuration names, with fresh weights.

    Args:
      run_config: a ``RunConfig``, or the ``config`` dict of a run's ``run.json``.
      data_shape: the shape of one example, e.g. (784,).
      seed: the initialisation's seed (default: the run's seed).

    Returns:
      A ``klgap.models.vae.VAE`` with the prior of the run's objective (``prior_of``).

    Raises:
      UserError: an unknown network or objective.
    """
    builder = NETWORKS[network_of(run_config)]
    seed = setting(run_config, "seed") if seed is None else seed
    prior = prior_of(run_config)
    vae = builder(tuple(data_shape), setting(run_config, "latent_dim"),
                  list(setting(run_config, "hidden")), seed)
    if prior == STANDARD_PRIOR:
        return vae
    from klgap.models import vae as model

    return model.with_prior(vae, prior, tuple(data_shape), seed,
                            setting(run_config, "num_pseudo_inputs") or DEFAULT_NUM_PSEUDO_INPUTS)
