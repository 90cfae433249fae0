"""How much of the prior the aggregate posterior leaves empty: KL(p || q_N) and the fraction of
prior samples in its holes (Rosca et al. 2018)."""

from __future__ import annotations

import math

import numpy as np

from klgap.errors import UserError
from klgap.estimators.decomposition import log_prior_at, standard_normal_sampler
from klgap.estimators.mixture_numerics import (PRIOR_STREAM, DiagonalGaussianMixture,
                                               as_float_matrix, check_int, check_posteriors,
                                               check_threads, log_standard_normal,
                                               standard_error, worker_pool)

# A prior sample lies in a "hole" of the aggregate posterior where q(z) < HOLE_RATIO * p(z).
HOLE_RATIO = 0.01


def prior_holes(mu, sigma, *, num_samples: int = 10_000, seed: int = 0,
                ratio: float = HOLE_RATIO, num_threads: int | None = None, log_prior=None,
                sample_prior=None) -> dict:
    """How much of the prior the aggregate posterior leaves empty.

    With z_i ~ p (N(0, I), or the given prior) and q_N(z) = (1/N) sum_n q(z|x_n):

        prior_kl      = mean_i [log p(z_i) - log q_N(z_i)]
        hole_fraction = mean_i [q_N(z_i) / p(z_i) < ratio]

    ``prior_kl`` estimates KL(p || q_N), what sampling from the prior costs a model whose codes
    follow q_N (Rosca et al. 2018's "holes"). For posteriors drawn from a population with
    aggregate posterior q, E log q_N(z) <= log q(z) at every z (Jensen), so its expectation is at
    least the population's KL(p || q): an upper bound. For the same reason ``hole_fraction``
    leans high: an upper estimate of the population's fraction, exact as N grows.

    Args:
      mu: posterior means, (N, D) (e.g. of the training split).
      sigma: posterior standard deviations, (N, D), > 0.
      num_samples: prior samples M.
      seed: seed of the prior samples.
      ratio: a prior sample is in a hole where q_N(z) < ratio * p(z).
      num_threads: worker threads; None: the CPUs available to this process.
      log_prior: log p(z), a callable from (M, D) float64 to (M,); None: N(0, I). Give it
        with ``sample_prior``.
      sample_prior: draws from p, a callable (num_samples, seed) -> (M, D), seed a list of
        ints (here [seed, PRIOR_STREAM]); None: N(0, I) draws from
        ``numpy.random.default_rng(seed)`` (``standard_normal_sampler``).

    Returns:
      A dict of floats: ``prior_kl`` (nats) and ``prior_kl_se`` (its Monte Carlo error: the
      samples are independent), ``hole_fraction`` and ``hole_fraction_se`` (binomial),
      ``hole_ratio`` and ``log_n``.

    Raises:
      UserError: for bad posteriors, num_samples < 2, a negative seed, a ratio outside (0, 1],
        or one of log_prior and sample_prior without the other.
    """
    mu, sigma = check_posteriors(mu, sigma)
    if (log_prior is None) != (sample_prior is None):
        raise UserError("prior_holes needs log_prior and sample_prior together (or neither, "
                        "for N(0, I)); pass both.")
    num_samples = check_int("num_samples", num_samples, 2, 10 ** 9, "pass at least 2 samples")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    if not (isinstance(ratio, (int, float, np.floating)) and 0 < ratio <= 1):
        raise UserError(f"ratio must be in (0, 1], got {ratio!r}.")
    num_threads = check_threads(num_threads)
    if sample_prior is None:
        sample_prior = standard_normal_sampler(mu.shape[1])
    z = as_float_matrix("prior samples", sample_prior(num_samples, [seed, PRIOR_STREAM]))
    if z.shape != (num_samples, mu.shape[1]):
        raise UserError(f"sample_prior returned shape {z.shape}, not ({num_samples}, "
                        f"{mu.shape[1]}); it must draw (num_samples, D) codes.")
    mixture = DiagonalGaussianMixture(mu, sigma, np.zeros(len(mu), dtype=np.int64), 1)
    with worker_pool(num_threads) as pool_map:
        log_q = mixture.log_class_sums_anywhere(z, pool_map)[:, 0] - math.log(len(mu))  # (M,)
    log_p = (log_standard_normal(z).sum(axis=1) if log_prior is None
             else log_prior_at(log_prior, z))  # (M,)
    log_ratio = log_q - log_p  # (M,) log q_N(z) / p(z)
    in_hole = log_ratio < math.log(ratio)  # (M,)
    fraction = float(np.mean(in_hole))
    return {"prior_kl": float(-np.mean(log_ratio)), "prior_kl_se": standard_error(log_ratio),
            "hole_fraction": fraction,
            "hole_fraction_se": math.sqrt(fraction * (1.0 - fraction) / num_samples),
            "hole_ratio": float(ratio), "log_n": math.log(len(mu))}
