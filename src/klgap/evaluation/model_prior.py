"""A trained model's prior as the estimators take it: log p(z) and draws of p(z) in NumPy, the
estimators' prior options, and, for the class-conditional prior, KL(q(z|y) || p(z|y)) per class.
"""

import math
import warnings

import numpy as np

from klgap import estimators

# Codes whose log p(z) a learned prior evaluates at once (``numpy_log_prior``): the VampPrior's
# (M, K, D) table of components stays near 20 MB for K = 500, D = 10.
PRIOR_CHUNK = 1000


def numpy_log_prior(vae, labels: int | None = None):
    """The model's log p(z) as a NumPy function, (M, D) float64 -> (M,) float64.

    Args:
      vae: a ``klgap.models.vae.VAE``.
      labels: a class y: log p(z|y) of the class-conditional prior; None: the marginal p(z)
        (``VAE.prior_distribution``).
    """
    import tensorflow as tf

    def log_prior(z: np.ndarray) -> np.ndarray:
        parts = []
        for first in range(0, len(z), PRIOR_CHUNK):
            chunk = tf.constant(z[first:first + PRIOR_CHUNK], tf.float32)  # (C, D)
            label = None if labels is None else tf.fill([len(chunk)], int(labels))
            parts.append(vae.log_prior(chunk, label).numpy())
        return np.concatenate(parts).astype(np.float64)

    return log_prior


def prior_sampler(vae):
    """Draws from the model's prior, as ``estimators.prior_holes`` takes them.

    N(0, I): ``estimators.standard_normal_sampler`` (NumPy draws from the seed's stream, the
    draws of models evaluated before learned priors existed). A learned prior:
    ``VAE.prior_distribution().sample``, stateless, its TensorFlow seed derived from the seed.

    Returns:
      A callable (num_samples, seed) -> (M, D) float64, seed a list of ints.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind == vae_model.STANDARD:
        return estimators.standard_normal_sampler(vae.latent_dim)

    def sample(num_samples: int, seed) -> np.ndarray:
        import tensorflow as tf

        tf_seed = np.random.default_rng(seed).integers(0, 2 ** 31 - 1, size=2)
        codes = vae.prior_distribution().sample(num_samples, seed=tf.constant(tf_seed, tf.int32))
        return codes.numpy().astype(np.float64)  # (M, D)

    return sample


def estimator_prior(vae, rate: np.ndarray | None) -> dict:
    """The prior options of the estimators (``log_prior``, ``rate``) for a model.

    N(0, I): none (the estimators' closed forms). The VampPrior: its log density and the
    per-example rate of ``importance_weighted`` (the Monte Carlo mean over its K samples). The
    class-conditional prior: the marginal (1/C) sum_y p(z|y) (``VAE.prior_distribution``),
    whose rate has no closed form, so the estimators use the single-sample rate at their own
    z (the per-class KL against p(z|y) is ``class_prior_metrics``').

    Args:
      vae: a ``klgap.models.vae.VAE``.
      rate: ``importance_weighted``'s rate of the examples, (N,), or None.

    Returns:
      Keyword arguments for ``estimators.kl_decomposition`` and its kin.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind == vae_model.STANDARD:
        return {}
    given = (None if rate is None or vae.prior_kind != vae_model.VAMP
             else np.asarray(rate, dtype=np.float64))
    return {"log_prior": numpy_log_prior(vae), "rate": given}


def class_prior_metrics(vae, mu: np.ndarray, sigma: np.ndarray, labels: np.ndarray,
                        rate: np.ndarray, *, seed: int) -> dict:
    """Per class c, KL(q(z|y=c) || p(z|y=c)) against a learned class-conditional prior.

    ``class_prior_kl_<c>`` is the aggregate KL of ``estimators.kl_decomposition`` on the
    examples of class c alone, with p(z|c) as the prior and the closed-form rate
    KL(q(z|x) || p(z|c)): the rate of class c = I(x; z | y=c) + KL(q(z|c) || p(z|c)). The paper's
    bound for a prior shared by all classes, log(1/pi_c) (pi_c the class's share of the
    split), is ``class_prior_bound_<c>``, to set beside it.

    Args:
      vae: a ``klgap.models.vae.VAE``.
      mu, sigma: the split's posteriors, (N, D) each.
      labels: their classes, (N,).
      rate: ``importance_weighted``'s rate, (N,) (closed form against p(z|y) here).
      seed: the decomposition's seed.

    Returns:
      ``class_prior_kl_<c>``, ``class_prior_kl_se_<c>`` and ``class_prior_bound_<c>`` for each
      class (NaN for a class with fewer than two examples); empty for other priors.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind != vae_model.CLASS_CONDITIONAL:
        return {}
    record = {}
    for label in np.unique(labels).tolist():
        rows = np.flatnonzero(labels == label)  # (N_c,)
        value = error = math.nan
        if len(rows) >= 2:
            with warnings.catch_warnings():  # a class at its ceiling log N_c is recorded as is
                warnings.simplefilter("ignore", estimators.CeilingWarning)
                by_class = estimators.kl_decomposition(
                    mu[rows], sigma[rows], seed=seed, marginals="none",
                    log_prior=numpy_log_prior(vae, label),
                    rate=np.asarray(rate[rows], dtype=np.float64))
            value, error = by_class["aggregate_kl"], by_class["aggregate_kl_se"]
        record[f"class_prior_kl_{label}"] = float(value)
        record[f"class_prior_kl_se_{label}"] = float(error)
        record[f"class_prior_bound_{label}"] = math.log(len(labels) / len(rows))
    return record
