"""Which encoder and decoder a run uses: the one place that builds a model from a run's config.

Training (``klgap.training.train``), evaluation (``klgap.evaluation.evaluate``) and the batched
path (``klgap.training.batched``) call ``build_model``; a network is a name in ``NETWORKS`` (the
schema's ``network`` key) mapped to a builder. A new network is a builder here plus its name in
the schema's enum (docs/extending.md). TensorFlow is imported by the builders only.
"""

from typing import Callable, Mapping

from klgap.errors import UserError

DEFAULT_NETWORK = "mlp"


def build_mlp(data_shape: tuple[int, ...], latent_dim: int, hidden: list[int], seed: int):
    """The MLP encoder and decoder of ``klgap.models.vae.VAE.build`` on flattened data.

    Args:
      data_shape: the shape of one example, (P,) for flattened images.
      latent_dim: D.
      hidden: hidden layer widths of the encoder; the decoder mirrors them.
      seed: seed of the weight initialisation.

    Returns:
      A ``klgap.models.vae.VAE``.
    """
    from klgap.models import vae

    (data_dim,) = data_shape
    return vae.VAE.build(data_dim, latent_dim, hidden, seed)


# network name -> builder(data_shape, latent_dim, hidden, seed) -> VAE
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


def build_model(run_config, data_shape: tuple[int, ...], seed: int | None = None):
    """Builds the VAE that a run's configuration names, with fresh weights.

    Args:
      run_config: a ``RunConfig``, or the ``config`` dict of a run's ``run.json``.
      data_shape: the shape of one example, e.g. (784,).
      seed: the initialisation's seed (default: the run's seed).

    Returns:
      A ``klgap.models.vae.VAE``.

    Raises:
      UserError: an unknown network.
    """
    builder = NETWORKS[network_of(run_config)]
    seed = setting(run_config, "seed") if seed is None else seed
    return builder(tuple(data_shape), setting(run_config, "latent_dim"),
                   list(setting(run_config, "hidden")), seed)
