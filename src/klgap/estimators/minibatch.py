"""Minibatch estimators of the KL decomposition (Chen et al. 2018's MWS and MSS): log q(z_i)
from the sample's batch alone, as a model trained on minibatches sees it."""

from __future__ import annotations

import math

import numpy as np

from klgap.errors import UserError
from klgap.estimators.decomposition import known_rate, log_prior_at
from klgap.estimators.mixture_numerics import (SHUFFLE_STREAM, batches, check_int,
                                               check_posteriors, log_standard_normal,
                                               minibatch_log_q, sample_posteriors)

MINIBATCH_METHODS = ("mws", "mss")


def minibatch_kl_decomposition(mu, sigma, *, batch_size: int, method: str, seed: int = 0,
                               log_prior=None, rate=None) -> dict:
    """Minibatch estimates of the decomposition (Chen et al. 2018), averaged over batches.

    The examples are shuffled with the seed and cut into non-overlapping batches that cover the
    data (a last batch of one example joins the one before). Each example gets one z, and
    log q(z_i) (and each marginal log q(z_ij)) is estimated from the batch alone:

      "mws" (minibatch weighted sampling): logsumexp_j log q(z_i|x_j) - log(N M), which
        overestimates mutual_info by about log M (far-apart posteriors) up to log N (heavily
        overlapping ones);
      "mss" (minibatch stratified sampling): logsumexp_j [log q(z_i|x_j) + log w_ij] with
        w_ii = 1/N for the sample's own component (the diagonal) and
        w_ij = (N - 1) / (N (M - 1)) for the other M - 1 components of the batch.

    The keys are formed as in ``kl_decomposition`` (aggregate_kl = rate - mutual_info,
    total_correlation = aggregate_kl - dimwise_kl), so they differ from it only through the
    estimates of log q. With the same seed the samples z are those of ``kl_decomposition``.

    Args:
      mu: posterior means, (N, D).
      sigma: posterior standard deviations, (N, D), all > 0.
      batch_size: examples per batch M, 2 <= M <= N.
      method: "mws" or "mss".
      seed: seed of the samples and of the shuffle.
      log_prior: log p(z), a callable from (M, D) float64 to (M,); None: N(0, I). With it,
        total_correlation and dimwise_kl are NaN.
      rate: each example's KL(q(z|x_n) || p), (N,); None: the closed form for N(0, I), or
        with a ``log_prior`` the single-sample estimate at the same z.

    Returns:
      A dict of floats (nats): mutual_info, aggregate_kl, total_correlation, dimwise_kl.

    Raises:
      UserError: for bad posteriors, batch_size outside [2, N] or an unknown method.
    """
    mu, sigma = check_posteriors(mu, sigma)
    num_examples = len(mu)
    batch_size = check_int("batch_size", batch_size, 2, num_examples,
                            "choose a batch size between 2 and the number of examples")
    if method not in MINIBATCH_METHODS:
        raise UserError(f"unknown minibatch method {method!r}; use 'mws' or 'mss'.")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")

    kl_per_example = known_rate(mu, sigma, log_prior, rate)  # (N,) or None
    _, z, log_q_own_per_dim = sample_posteriors(mu, sigma, None, seed)
    if kl_per_example is None:  # the single-sample rate at the same z
        kl_per_example = log_q_own_per_dim.sum(axis=1) - log_prior_at(log_prior, z)  # (N,)
    rate = float(np.mean(kl_per_example))
    order = np.random.default_rng([seed, SHUFFLE_STREAM]).permutation(num_examples)
    info_terms = np.empty(num_examples)
    dimwise_terms = np.empty(num_examples)
    for batch in batches(order, batch_size):
        log_q_z, log_q_marginals = minibatch_log_q(z[batch], mu[batch], sigma[batch],
                                                    num_examples, method)
        info_terms[batch] = log_q_own_per_dim[batch].sum(axis=1) - log_q_z
        dimwise_terms[batch] = np.sum(log_q_marginals - log_standard_normal(z[batch]), axis=1)
    mutual_info = float(np.mean(info_terms))
    dimwise_kl = float(np.mean(dimwise_terms)) if log_prior is None else math.nan
    return {
        "mutual_info": mutual_info,
        "aggregate_kl": rate - mutual_info,
        "total_correlation": rate - mutual_info - dimwise_kl,
        "dimwise_kl": dimwise_kl,
    }
