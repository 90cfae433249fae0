"""Estimators of the KL decomposition of a diagonal-Gaussian encoder against the prior N(0, I).

For posteriors q(z|x_n) = N(mu_n, diag sigma_n^2), n = 1..N, and the aggregate posterior
q(z) = (1/N) sum_n q(z|x_n) (the exact mixture over the whole evaluation set):

    rate = E_n KL(q(z|x_n) || p)              = mutual_info + aggregate_kl
    aggregate_kl = KL(q(z) || p)              = total_correlation + dimwise_kl
    E_y KL(q(z|y) || p)                       = label_info + aggregate_kl

``kl_decomposition`` draws z_i ~ q(z|x_i) (one per example, or a seeded subsample of the examples)
and evaluates log q(z_i), the class mixtures log q(z_i|y_i) and the per-dimension marginals
log q(z_ij) over all N components. The estimates are built so that the three identities above hold
exactly on the same samples (with one z per example; with a subsample the last one holds within
Monte Carlo error):

    mutual_info       = mean_i [log q(z_i|x_i) - log q(z_i)]
    aggregate_kl      = rate - mutual_info
    dimwise_kl        = mean_i sum_j [log q(z_ij) - log p(z_ij)]
    total_correlation = aggregate_kl - dimwise_kl
    label_info        = mean_i [log q(z_i|y_i) - log q(z_i)]
    class_kl[y]       = rate_y - mean_{i: y_i = y} [log q(z_i|x_i) - log q(z_i|y)]

with rate_y the closed-form rate of class y. Each has the expectation of its textbook form
(aggregate_kl of E[log q(z) - log p(z)], total_correlation of E[log q(z) - sum_j log q(z_j)],
class_kl[y] of E_{q(z|y)}[log q(z|y) - log p(z)]), but using the closed-form rate removes the
variance of log q(z|x) - log p(z): with far-apart posteriors mutual_info is log N and aggregate_kl
is rate - log N with no Monte Carlo error. (Where the zero-mean correction rate - mean_i [log
q(z_i|x_i) - log p(z_i)] lands between total_correlation and dimwise_kl was chosen by measured
variance: on separated, population and partly inactive codes, dimwise_kl estimated directly and
total_correlation as the remainder gave the smaller summed standard errors.)

The numerics (the tiled N x M table, the adaptive grid of the per-dimension marginals, input
checks, sampling and threads) are in ``klgap.mixture_numerics``; this file is the public API.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from klgap.errors import UserError
from klgap.mixture_numerics import minibatch_log_weights  # noqa: F401 (public API)
from klgap.mixture_numerics import (
    SHUFFLE_STREAM, DiagonalGaussianMixture, as_float_matrix, batches, check_int, check_labels,
    check_posteriors, check_threads, log_marginals, log_standard_normal, minibatch_log_q,
    sample_posteriors, standard_error, worker_pool)

MINIBATCH_METHODS = ("mws", "mss")
# A latent unit is active if its posterior mean varies across examples by more than this
# (variance; Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 0.01


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def kl_decomposition(mu, sigma, labels=None, *, num_z: int | None = None, seed: int = 0,
                     marginals: str = "auto", num_threads: int | None = None) -> dict:
    """Decomposes the rate of a diagonal-Gaussian encoder into information and aggregate KL.

    Args:
      mu: posterior means, (N, D).
      sigma: posterior standard deviations, (N, D), all > 0.
      labels: optional integer class labels, (N,).
      num_z: number of examples that get a sample z (a seeded subsample, without replacement);
        None (default): every example gets one.
      seed: seed of the samples (and of the subsample).
      marginals: how the per-dimension marginals log q(z_ij) are evaluated: "grid" (verified
        interpolation, see the module docstring), "exact" (every sample against every
        component) or "auto" ("exact" for small problems, else "grid").
      num_threads: worker threads; None: the CPUs available to this process.

    Returns:
      A dict of floats in nats: rate, mutual_info, aggregate_kl, total_correlation, dimwise_kl,
      moment_matched_kl, log_n; with labels also label_info and class_kl ({label: KL(q(z|y)||p)});
      and "<key>_se", the Monte Carlo standard error, for each estimated key (mutual_info,
      aggregate_kl, total_correlation, dimwise_kl, label_info; class_kl_se is a dict by label).
      rate, moment_matched_kl and log_n are closed forms. A class with fewer than two samples
      (possible only with num_z) has a NaN standard error; one with none has NaN class_kl.

    Raises:
      UserError: for non-finite or mis-shaped inputs, sigma <= 0, labels of the wrong length or
        type, num_z outside [2, N], a negative seed, or an unknown ``marginals``.
    """
    mu, sigma = check_posteriors(mu, sigma)
    num_examples = len(mu)
    if labels is not None:
        labels = check_labels(labels, num_examples)
    if num_z is not None:
        num_z = check_int("num_z", num_z, 2, num_examples, "pass None to give every example a z")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    if marginals not in ("auto", "grid", "exact"):
        raise UserError(f"marginals must be 'auto', 'grid' or 'exact', got {marginals!r}.")
    num_threads = check_threads(num_threads)

    kl_per_example = gaussian_kl_to_standard_normal(mu, sigma).sum(axis=1)  # (N,)
    rate = float(np.mean(kl_per_example))
    sample_index, z, log_q_own_per_dim = sample_posteriors(mu, sigma, num_z, seed)
    log_q_own = log_q_own_per_dim.sum(axis=1)  # (M,) log q(z_i|x_i)

    class_values, class_of_example = (np.unique(labels, return_inverse=True) if labels is not None
                                      else (np.zeros(1, dtype=np.int64),
                                            np.zeros(num_examples, dtype=np.int64)))
    mixture = DiagonalGaussianMixture(mu, sigma, class_of_example, len(class_values))
    with worker_pool(num_threads) as pool_map:
        log_class_sums = mixture.log_class_sums(z, shift=log_q_own, pool_map=pool_map)  # (M, C)
        use_grid = marginals == "grid" or (marginals == "auto" and len(z) > 4096)
        log_q_marginals = log_marginals(z, mu, sigma, log_q_own_per_dim, use_grid,
                                         pool_map)  # (M, D)

    log_q_z = special.logsumexp(log_class_sums, axis=1) - math.log(num_examples)  # (M,)
    info_terms = log_q_own - log_q_z  # (M,) per-sample mutual information
    dimwise_terms = np.sum(log_q_marginals - log_standard_normal(z), axis=1)  # (M,)

    mutual_info = float(np.mean(info_terms))
    dimwise_kl = float(np.mean(dimwise_terms))
    aggregate_kl = rate - mutual_info
    result = {
        "rate": rate,
        "mutual_info": mutual_info,
        "mutual_info_se": standard_error(info_terms),
        "aggregate_kl": aggregate_kl,
        "aggregate_kl_se": standard_error(info_terms),
        "total_correlation": aggregate_kl - dimwise_kl,
        "total_correlation_se": standard_error(info_terms + dimwise_terms),
        "dimwise_kl": dimwise_kl,
        "dimwise_kl_se": standard_error(dimwise_terms),
        "moment_matched_kl": moment_matched_kl(mu, sigma),
        "log_n": math.log(num_examples),
    }
    if labels is None:
        return result

    sample_class = class_of_example[sample_index]  # (M,)
    class_counts = np.bincount(class_of_example, minlength=len(class_values))  # (C,)
    log_q_z_given_y = (log_class_sums[np.arange(len(z)), sample_class]
                       - np.log(class_counts[sample_class]))  # (M,) log q(z_i|y_i)
    label_terms = log_q_z_given_y - log_q_z
    result["label_info"] = float(np.mean(label_terms))
    result["label_info_se"] = standard_error(label_terms)
    class_rate = np.bincount(class_of_example, weights=kl_per_example) / class_counts  # (C,)
    within_class_info = log_q_own - log_q_z_given_y  # (M,) per-sample I(x; z | y)
    result["class_kl"], result["class_kl_se"] = {}, {}
    for k, value in enumerate(class_values):
        terms = within_class_info[sample_class == k]
        mean = float(np.mean(terms)) if len(terms) else math.nan
        result["class_kl"][int(value)] = float(class_rate[k]) - mean
        result["class_kl_se"][int(value)] = standard_error(terms)
    return result


def minibatch_kl_decomposition(mu, sigma, *, batch_size: int, method: str, seed: int = 0) -> dict:
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

    rate = float(np.mean(gaussian_kl_to_standard_normal(mu, sigma).sum(axis=1)))
    _, z, log_q_own_per_dim = sample_posteriors(mu, sigma, None, seed)
    order = np.random.default_rng([seed, SHUFFLE_STREAM]).permutation(num_examples)
    info_terms = np.empty(num_examples)
    dimwise_terms = np.empty(num_examples)
    for batch in batches(order, batch_size):
        log_q_z, log_q_marginals = minibatch_log_q(z[batch], mu[batch], sigma[batch],
                                                    num_examples, method)
        info_terms[batch] = log_q_own_per_dim[batch].sum(axis=1) - log_q_z
        dimwise_terms[batch] = np.sum(log_q_marginals - log_standard_normal(z[batch]), axis=1)
    mutual_info = float(np.mean(info_terms))
    dimwise_kl = float(np.mean(dimwise_terms))
    return {
        "mutual_info": mutual_info,
        "aggregate_kl": rate - mutual_info,
        "total_correlation": rate - mutual_info - dimwise_kl,
        "dimwise_kl": dimwise_kl,
    }


def active_units(mu, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Number of active latent units (Burda et al. 2016): Var_x(mu_u) > threshold.

    Args:
      mu: posterior means, (N, D), N >= 2.
      threshold: activity threshold on the variance across examples.

    Returns:
      The number of units u whose mean varies across examples by more than the threshold.
    """
    mu = as_float_matrix("mu", mu)
    if mu.shape[0] < 2:
        raise UserError(f"mu has {mu.shape[0]} row(s); active units need at least two examples.")
    if not (isinstance(threshold, (int, float, np.floating, np.integer))
            and math.isfinite(threshold) and threshold >= 0):
        raise UserError(f"threshold must be a finite number >= 0, got {threshold!r}.")
    return int(np.sum(np.var(mu, axis=0) > threshold))


def gaussian_kl_to_standard_normal(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(0, 1)) elementwise: (sigma^2 + mu^2 - 1)/2 - log sigma.

    Args:
      mu: means, any shape.
      sigma: standard deviations, the same shape, > 0.

    Returns:
      The KL of each coordinate, in nats (sum over the last axis for diagonal Gaussians).
    """
    return 0.5 * (np.square(sigma) + np.square(mu) - 1.0) - np.log(sigma)


def moment_matched_kl(mu: np.ndarray, sigma: np.ndarray) -> float:
    """KL(N(m, S) || N(0, I)) for the Gaussian with the moments of q(z); a lower bound on KL(q||p).

    Args:
      mu: posterior means, (N, D).
      sigma: posterior standard deviations, (N, D).

    Returns:
      (tr S + |m|^2 - D - log det S) / 2 with m = mean_n mu_n and
      S = Cov_n(mu_n) + diag(mean_n sigma_n^2) (population covariance: the moments of q(z)).
    """
    mean = mu.mean(axis=0)  # (D,)
    centered = mu - mean
    covariance = centered.T @ centered / len(mu) + np.diag(np.mean(np.square(sigma), axis=0))
    cholesky = np.linalg.cholesky(covariance)  # S is positive definite: sigma > 0
    log_det = 2.0 * np.sum(np.log(np.diag(cholesky)))
    return float(0.5 * (np.trace(covariance) + mean @ mean - mu.shape[1] - log_det))
