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

Cost. The N x M table of log q(z_i|x_n) is one matrix product per tile (never an N x M x D
tensor), exponentiated and summed tile by tile, relative to each sample's own component
(log q(z_i|x_i), known in closed form), so no separate max pass is needed. The D per-dimension
marginals are one-dimensional mixtures: they are evaluated exactly at the points of an adaptive
grid (value, first and second derivative), and interpolated at the samples by quintic Hermite
interpolation on cells whose interpolation error, checked against an exact evaluation at the
cell's midpoint, is below ``MARGINAL_TOLERANCE`` nats; samples in cells that do not pass are
evaluated exactly. Each exact evaluation skips blocks of components (sorted by mean) whose density
cannot reach exp(-36)/N of the mixture's, which makes sharp posteriors cheap.
``marginals="exact"`` evaluates every sample against every component instead.

All arithmetic is float64. Work runs on ``num_threads`` threads (default: the CPUs available);
if ``threadpoolctl`` is installed, BLAS is held to one thread per worker meanwhile.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
from scipy import special

from klgap.errors import UserError

LOG_2PI = math.log(2.0 * math.pi)
MINIBATCH_METHODS = ("mws", "mss")
# A latent unit is active if its posterior mean varies across examples by more than this
# (variance; Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 0.01
# A prior sample lies in a "hole" of the aggregate posterior where q(z) < HOLE_RATIO * p(z).
HOLE_RATIO = 0.01
# Interpolated marginal log-densities are accepted when the check at a cell's midpoint is off by
# at most this many nats (the half-cells finally used are about 64 times more accurate).
MARGINAL_TOLERANCE = 1e-10
# Rows whose matrix-product log-densities may carry a rounding error above this many nats (a
# worst-case bound; typical errors are far smaller) are recomputed in the explicit (z - mu)^2 form.
CANCELLATION_TOLERANCE = 1e-7
_ROW_TILE = 128  # samples per tile of the N x M table
_COLUMN_TILE = 2048  # components per tile
_BASE_GRID_CELLS = 32
_MAX_GRID_LEVELS = 40  # refinements of the base grid before the remaining points go exact
# Random streams derived from the user's seed.
_SAMPLE_STREAM, _SHUFFLE_STREAM, _REPEAT_STREAM, _PRIOR_STREAM = 1, 2, 3, 4
# Examples whose terms are drawn twice to measure the Monte Carlo error (relative error of the
# standard error about 1/sqrt(2 * 2048) = 1.6%).
_REPEAT_SAMPLES = 2048
# exp() of arguments below about -708 gives subnormals and takes a slow path (5-10x slower);
# log-densities are clipped here first. exp(-700) ~ 1e-304 is negligible against the terms
# that matter (the largest term of every sum is about 1).
_EXP_FLOOR = -700.0


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
      and "<key>_se", the Monte Carlo standard error of the estimate given the posteriors, for
      each estimated key (mutual_info, aggregate_kl, total_correlation, dimwise_kl, label_info;
      class_kl_se is a dict by label): measured with a second, independent draw of z for up to
      2,048 of the sampled examples, not from the variation between examples (which is not an
      error of the estimate); with num_z, the choice of the subsample is included.
      rate, moment_matched_kl and log_n are closed forms. A class with fewer than two samples
      (possible only with num_z) has a NaN standard error; one with none has NaN class_kl.

    Raises:
      UserError: for non-finite or mis-shaped inputs, sigma <= 0, labels of the wrong length or
        type, num_z outside [2, N], a negative seed, or an unknown ``marginals``.
    """
    mu, sigma = _check_posteriors(mu, sigma)
    num_examples = len(mu)
    if labels is not None:
        labels = _check_labels(labels, num_examples)
    if num_z is not None:
        num_z = _check_int("num_z", num_z, 2, num_examples, "pass None to give every example a z")
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    if marginals not in ("auto", "grid", "exact"):
        raise UserError(f"marginals must be 'auto', 'grid' or 'exact', got {marginals!r}.")
    num_threads = _check_threads(num_threads)

    kl_per_example = gaussian_kl_to_standard_normal(mu, sigma).sum(axis=1)  # (N,)
    rate = float(np.mean(kl_per_example))
    class_values, class_of_example = (np.unique(labels, return_inverse=True) if labels is not None
                                      else (np.zeros(1, dtype=np.int64),
                                            np.zeros(num_examples, dtype=np.int64)))
    class_counts = np.bincount(class_of_example, minlength=len(class_values))  # (C,)
    mixture = _DiagonalGaussianMixture(mu, sigma, class_of_example, len(class_values))
    sample_index, z, log_q_own_per_dim = _sample_posteriors(mu, sigma, num_z, seed)
    # A second, independent draw for a subset of the same examples measures the Monte Carlo
    # variance of each example's terms (the first draw alone cannot tell it from the variation
    # between examples, which is no error of the estimate given the posteriors).
    repeat, z_again, log_q_own_again = _redraw_posteriors(mu, sigma, sample_index, seed)
    use_grid = marginals == "grid" or (marginals == "auto" and len(z) > 4096)
    with _worker_pool(num_threads) as pool_map:
        terms = _sample_terms(mixture, z, log_q_own_per_dim, mu, sigma, class_counts,
                              class_of_example[sample_index], use_grid, pool_map)
        terms_again = _sample_terms(mixture, z_again, log_q_own_again, mu, sigma, class_counts,
                                    class_of_example[sample_index[repeat]], use_grid, pool_map)

    sample_class = class_of_example[sample_index]  # (M,)

    def standard_error(name: str, in_class: int | None = None) -> float:
        """The Monte Carlo standard error of the mean of ``terms[name]`` (within one class)."""
        if in_class is None:
            mask, population = np.ones(len(z), dtype=bool), num_examples
        else:
            mask, population = sample_class == in_class, int(class_counts[in_class])
        return _monte_carlo_se(terms[name][mask], terms[name][repeat][mask[repeat]],
                               terms_again[name][mask[repeat]], population)

    mutual_info = float(np.mean(terms["info"]))
    dimwise_kl = float(np.mean(terms["dimwise"]))
    aggregate_kl = rate - mutual_info
    result = {
        "rate": rate,
        "mutual_info": mutual_info,
        "mutual_info_se": standard_error("info"),
        "aggregate_kl": aggregate_kl,
        "aggregate_kl_se": standard_error("info"),
        "total_correlation": aggregate_kl - dimwise_kl,
        "total_correlation_se": standard_error("info_and_dimwise"),
        "dimwise_kl": dimwise_kl,
        "dimwise_kl_se": standard_error("dimwise"),
        "moment_matched_kl": moment_matched_kl(mu, sigma),
        "log_n": math.log(num_examples),
    }
    if labels is None:
        return result

    result["label_info"] = float(np.mean(terms["label"]))
    result["label_info_se"] = standard_error("label")
    class_rate = np.bincount(class_of_example, weights=kl_per_example) / class_counts  # (C,)
    result["class_kl"], result["class_kl_se"] = {}, {}
    for k, value in enumerate(class_values):
        in_class = sample_class == k
        within = terms["within_class"][in_class]
        mean = float(np.mean(within)) if len(within) else math.nan
        result["class_kl"][int(value)] = float(class_rate[k]) - mean
        result["class_kl_se"][int(value)] = standard_error("within_class", k)
    return result


def heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, labels_fit=None,
                             labels_eval=None, *, seed: int = 0,
                             num_threads: int | None = None) -> dict:
    """Brackets the population's aggregate KL with a mixture fitted on other examples.

    The density of the aggregate posterior is the mixture of the fit posteriors,
    q_fit(z) = (1/N_fit) sum_n q(z|x_n^fit), evaluated at one z_i ~ q(z|x_i^eval) per eval
    example. For fit and eval sets drawn from one population with aggregate posterior q(z),
    E_fit q_fit(z) = q(z), so by Jensen E log q_fit(z) <= log q(z) at every z, and

        aggregate_kl_lower = rate - mean_i [log q(z_i|x_i^eval) - log q_fit(z_i)]

    has an expectation (the mean of log q_fit(z) - log p(z) under q) at most KL(q(z) || p): a
    lower bound, in expectation, on the population's aggregate KL; ``mutual_info_upper`` =
    rate - aggregate_kl_lower is then an upper bound on the population's I(x; z), since the
    rate (of the eval set, closed form) is unbiased for the population's. The in-sample values
    of ``kl_decomposition`` bound the same two quantities from the other side (E KL(q_N || p) >=
    KL(q || p) by convexity). With the fit set equal to the eval set, every key equals
    ``kl_decomposition``'s with the same seed.

    With labels: ``class_kl_lower[y]``, the same bound for KL(q(z|y) || p) with the fit examples
    of class y as the mixture; ``label_info_lower``, Barber and Agakov's lower bound on I(y; z),
    H(y) + mean_i log r(y_i|z_i), with the classifier r(y|z) = pi_y q_fit(z|y) / q_fit(z) of the
    fit mixtures (pi_y the fit set's class frequencies, H(y) the eval labels' entropy); and
    ``label_info_upper`` = min(mutual_info_upper, H(y)), as I(y; z) <= I(x; z) and <= H(y).

    Args:
      mu_fit, sigma_fit: the fit posteriors (e.g. of the training split), (N_fit, D).
      mu_eval, sigma_eval: the eval posteriors (e.g. of the test split), (N_eval, D).
      labels_fit, labels_eval: integer class labels of both sets, (N_fit,) and (N_eval,), or
        both None.
      seed: seed of the eval samples (the draws of ``kl_decomposition`` with this seed).
      num_threads: worker threads; None: the CPUs available to this process.

    Returns:
      A dict of floats in nats: ``rate`` (of the eval set), ``aggregate_kl_lower``,
      ``mutual_info_upper``, ``log_n_fit``, ``log_n_eval``; with labels ``class_kl_lower``
      ({label: value}, NaN for a class absent from either set), ``label_info_lower``,
      ``label_info_upper`` and ``label_entropy``. Each estimated key has ``<key>_se``: the
      standard error of the mean of its per-example terms over the eval examples, which are
      independent draws of the population, so it covers the eval set's sampling (the rate's
      included) and the Monte Carlo draw of z together, given the fit set;
      ``class_kl_lower_se`` is a dict by label.

    Raises:
      UserError: for non-finite or mis-shaped inputs, sigma <= 0, latent sizes that differ,
        labels on one side only or of the wrong length, or a negative seed.
    """
    mu_fit, sigma_fit = _check_posteriors(mu_fit, sigma_fit)
    mu_eval, sigma_eval = _check_posteriors(mu_eval, sigma_eval)
    if mu_fit.shape[1] != mu_eval.shape[1]:
        raise UserError(f"the fit posteriors have {mu_fit.shape[1]} latent dimensions and the "
                        f"eval posteriors {mu_eval.shape[1]}; pass posteriors of one encoder.")
    if (labels_fit is None) != (labels_eval is None):
        raise UserError("labels were given for one set only; pass labels_fit and labels_eval "
                        "together, or neither.")
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    num_threads = _check_threads(num_threads)
    with_labels = labels_fit is not None
    if with_labels:
        labels_fit = _check_labels(labels_fit, len(mu_fit))
        labels_eval = _check_labels(labels_eval, len(mu_eval))
        class_values = np.union1d(labels_fit, labels_eval)  # (C,)
    else:
        class_values = np.zeros(1, dtype=np.int64)
        labels_fit = np.zeros(len(mu_fit), dtype=np.int64)
        labels_eval = np.zeros(len(mu_eval), dtype=np.int64)
    class_of_fit = np.searchsorted(class_values, labels_fit)  # (N_fit,)
    class_of_eval = np.searchsorted(class_values, labels_eval)  # (N_eval,)

    kl_per_example = gaussian_kl_to_standard_normal(mu_eval, sigma_eval).sum(axis=1)  # (N_eval,)
    rate = float(np.mean(kl_per_example))
    _, z, log_q_own_per_dim = _sample_posteriors(mu_eval, sigma_eval, None, seed)
    log_q_own = log_q_own_per_dim.sum(axis=1)  # (M,) log q(z_i|x_i^eval), M = N_eval
    mixture = _DiagonalGaussianMixture(mu_fit, sigma_fit, class_of_fit, len(class_values))
    with _worker_pool(num_threads) as pool_map:
        log_class_sums = mixture.log_class_sums_anywhere(z, pool_map)  # (M, C)
    fit_counts = np.bincount(class_of_fit, minlength=len(class_values))  # (C,)
    log_q_fit = special.logsumexp(log_class_sums, axis=1) - math.log(len(mu_fit))  # (M,)
    info_terms = log_q_own - log_q_fit  # (M,)
    result = {
        "rate": rate,
        "aggregate_kl_lower": rate - float(np.mean(info_terms)),
        "aggregate_kl_lower_se": _standard_error(kl_per_example - info_terms),
        "mutual_info_upper": float(np.mean(info_terms)),
        "mutual_info_upper_se": _standard_error(info_terms),
        "log_n_fit": math.log(len(mu_fit)),
        "log_n_eval": math.log(len(mu_eval)),
    }
    if not with_labels:
        return result

    rows = np.arange(len(z))
    with np.errstate(divide="ignore"):
        log_q_fit_given_y = (log_class_sums[rows, class_of_eval]
                             - np.log(fit_counts[class_of_eval]))  # (M,) log q_fit(z_i|y_i)
        log_pi = np.log(fit_counts / len(mu_fit))  # (C,)
    eval_frequencies = np.bincount(class_of_eval, minlength=len(class_values)) / len(mu_eval)
    label_entropy = float(-np.sum(special.xlogy(eval_frequencies, eval_frequencies)))
    log_classifier = log_pi[class_of_eval] + log_q_fit_given_y - log_q_fit  # (M,) log r(y_i|z_i)
    result["label_entropy"] = label_entropy
    result["label_info_lower"] = label_entropy + float(np.mean(log_classifier))
    result["label_info_lower_se"] = _standard_error(log_classifier)
    result["label_info_upper"] = min(result["mutual_info_upper"], label_entropy)
    class_rate_sums = np.bincount(class_of_eval, weights=kl_per_example,
                                  minlength=len(class_values))  # (C,)
    within_class_terms = log_q_own - log_q_fit_given_y  # (M,)
    result["class_kl_lower"], result["class_kl_lower_se"] = {}, {}
    for k, value in enumerate(class_values):
        in_class = class_of_eval == k
        if fit_counts[k] == 0 or not in_class.any():
            result["class_kl_lower"][int(value)] = math.nan
            result["class_kl_lower_se"][int(value)] = math.nan
            continue
        terms = within_class_terms[in_class]
        class_rate = class_rate_sums[k] / in_class.sum()
        result["class_kl_lower"][int(value)] = float(class_rate - np.mean(terms))
        result["class_kl_lower_se"][int(value)] = _standard_error(kl_per_example[in_class]
                                                                  - terms)
    return result


def prior_holes(mu, sigma, *, num_samples: int = 10_000, seed: int = 0,
                ratio: float = HOLE_RATIO, num_threads: int | None = None) -> dict:
    """How much of the prior the aggregate posterior leaves empty.

    With z_i ~ p = N(0, I) and q_N(z) = (1/N) sum_n q(z|x_n):

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

    Returns:
      A dict of floats: ``prior_kl`` (nats) and ``prior_kl_se`` (its Monte Carlo error: the
      samples are independent), ``hole_fraction`` and ``hole_fraction_se`` (binomial),
      ``hole_ratio`` and ``log_n``.

    Raises:
      UserError: for bad posteriors, num_samples < 2, a negative seed or a ratio outside (0, 1].
    """
    mu, sigma = _check_posteriors(mu, sigma)
    num_samples = _check_int("num_samples", num_samples, 2, 10 ** 9, "pass at least 2 samples")
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    if not (isinstance(ratio, (int, float, np.floating)) and 0 < ratio <= 1):
        raise UserError(f"ratio must be in (0, 1], got {ratio!r}.")
    num_threads = _check_threads(num_threads)
    z = np.random.default_rng([seed, _PRIOR_STREAM]).standard_normal((num_samples, mu.shape[1]))
    mixture = _DiagonalGaussianMixture(mu, sigma, np.zeros(len(mu), dtype=np.int64), 1)
    with _worker_pool(num_threads) as pool_map:
        log_q = mixture.log_class_sums_anywhere(z, pool_map)[:, 0] - math.log(len(mu))  # (M,)
    log_ratio = log_q - _log_standard_normal(z).sum(axis=1)  # (M,) log q_N(z) / p(z)
    in_hole = log_ratio < math.log(ratio)  # (M,)
    fraction = float(np.mean(in_hole))
    return {"prior_kl": float(-np.mean(log_ratio)), "prior_kl_se": _standard_error(log_ratio),
            "hole_fraction": fraction,
            "hole_fraction_se": math.sqrt(fraction * (1.0 - fraction) / num_samples),
            "hole_ratio": float(ratio), "log_n": math.log(len(mu))}


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
    mu, sigma = _check_posteriors(mu, sigma)
    num_examples = len(mu)
    batch_size = _check_int("batch_size", batch_size, 2, num_examples,
                            "choose a batch size between 2 and the number of examples")
    if method not in MINIBATCH_METHODS:
        raise UserError(f"unknown minibatch method {method!r}; use 'mws' or 'mss'.")
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")

    rate = float(np.mean(gaussian_kl_to_standard_normal(mu, sigma).sum(axis=1)))
    _, z, log_q_own_per_dim = _sample_posteriors(mu, sigma, None, seed)
    order = np.random.default_rng([seed, _SHUFFLE_STREAM]).permutation(num_examples)
    info_terms = np.empty(num_examples)
    dimwise_terms = np.empty(num_examples)
    for batch in _batches(order, batch_size):
        log_q_z, log_q_marginals = _minibatch_log_q(z[batch], mu[batch], sigma[batch],
                                                    num_examples, method)
        info_terms[batch] = log_q_own_per_dim[batch].sum(axis=1) - log_q_z
        dimwise_terms[batch] = np.sum(log_q_marginals - _log_standard_normal(z[batch]), axis=1)
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
    mu = _as_float_matrix("mu", mu)
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


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_float_matrix(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise UserError(f"{name} must be a numeric array of shape (N, D): {error}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise UserError(f"{name} must have shape (N, D) with N, D >= 1, got shape {array.shape}; "
                        f"reshape it (one row per example).")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{name} has {int(bad.sum())} non-finite value(s) (first in row {row}); "
                        f"remove or fix those examples (NaN/inf usually means a diverged encoder).")
    return array


def _check_posteriors(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu = _as_float_matrix("mu", mu)
    sigma = _as_float_matrix("sigma", sigma)
    if mu.shape != sigma.shape:
        raise UserError(f"mu has shape {mu.shape} but sigma has shape {sigma.shape}; pass one "
                        f"standard deviation per mean.")
    if mu.shape[0] < 2:
        raise UserError(f"got {mu.shape[0]} example(s); the decomposition needs at least two.")
    if np.any(sigma <= 0):
        raise UserError(f"sigma has {int(np.sum(sigma <= 0))} value(s) <= 0 (min {sigma.min():g}); "
                        f"pass standard deviations (e.g. exp(log_sigma) or softplus), not "
                        f"log-scales or variances that can reach zero.")
    return mu, sigma


def _check_labels(labels, num_examples: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != num_examples:
        raise UserError(f"labels must have shape ({num_examples},) (one per row of mu), got "
                        f"shape {labels.shape}.")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise UserError(f"labels must be integers, got dtype {labels.dtype}; pass "
                        f"labels.astype(int) if they are integral.")
    return labels.astype(np.int64)


def _check_int(name: str, value, low: int, high: int, fix: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be an integer, got {value!r}; {fix}.")
    if not low <= value <= high:
        raise UserError(f"{name}={value} is outside [{low}, {high}]; {fix}.")
    return int(value)


def _check_threads(num_threads) -> int:
    if num_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return _check_int("num_threads", num_threads, 1, 1024, "pass a positive thread count")


# --------------------------------------------------------------------------------------------
# Sampling and helpers
# --------------------------------------------------------------------------------------------


def _sample_posteriors(mu: np.ndarray, sigma: np.ndarray, num_z: int | None, seed: int):
    """Draws z_i ~ q(z|x_i) for every example or a seeded subsample.

    Returns:
      sample_index (M,), z (M, D) and log q(z_ij|x_ij) per dimension (M, D).
    """
    # A stream of its own: default_rng(seed) alone would repeat the draws of a caller who made
    # mu with the same seed, and correlate z with mu.
    rng = np.random.default_rng([seed, _SAMPLE_STREAM])
    noise = rng.standard_normal(mu.shape)  # (N, D), drawn for all examples so seeds line up
    if num_z is None:
        sample_index = np.arange(len(mu))
    else:
        sample_index = np.sort(rng.choice(len(mu), size=num_z, replace=False))
    noise = noise[sample_index]
    z = mu[sample_index] + sigma[sample_index] * noise  # (M, D)
    log_q_own_per_dim = -0.5 * np.square(noise) - np.log(sigma[sample_index]) - 0.5 * LOG_2PI
    return sample_index, z, log_q_own_per_dim


def _log_standard_normal(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, 1) elementwise."""
    return -0.5 * np.square(z) - 0.5 * LOG_2PI


def _standard_error(terms: np.ndarray) -> float:
    if len(terms) < 2:
        return math.nan
    return float(np.std(terms, ddof=1) / math.sqrt(len(terms)))


def _redraw_posteriors(mu: np.ndarray, sigma: np.ndarray, sample_index: np.ndarray, seed: int):
    """Draws z again, independently, for up to ``_REPEAT_SAMPLES`` of the sampled examples.

    Returns:
      repeat (R,), positions within ``sample_index``; z (R, D); log q(z_ij|x_ij) (R, D).
    """
    rng = np.random.default_rng([seed, _REPEAT_STREAM])
    repeat = np.arange(len(sample_index))
    if len(repeat) > _REPEAT_SAMPLES:
        repeat = np.sort(rng.choice(len(repeat), size=_REPEAT_SAMPLES, replace=False))
    rows = sample_index[repeat]
    noise = rng.standard_normal((len(rows), mu.shape[1]))  # (R, D)
    z = mu[rows] + sigma[rows] * noise
    log_q_own_per_dim = -0.5 * np.square(noise) - np.log(sigma[rows]) - 0.5 * LOG_2PI
    return repeat, z, log_q_own_per_dim


def _sample_terms(mixture: "_DiagonalGaussianMixture", z: np.ndarray,
                  log_q_own_per_dim: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                  class_counts: np.ndarray, sample_class: np.ndarray, use_grid: bool,
                  pool_map: Callable) -> dict[str, np.ndarray]:
    """The per-sample terms whose means are the estimates of ``kl_decomposition``.

    Args:
      mixture: the N components.
      z: samples, (M, D), each from its own example's posterior.
      log_q_own_per_dim: log q(z_ij|x_ij), (M, D).
      mu, sigma: the posteriors, (N, D).
      class_counts: components per class, (C,).
      sample_class: the class of each sample's example, (M,).
      use_grid: evaluate the marginals by verified interpolation.
      pool_map: a ``map`` over worker threads.

    Returns:
      (M,) arrays: ``info`` (log q(z|x) - log q(z)), ``dimwise`` (sum_j log q(z_j) - log p(z_j)),
      ``info_and_dimwise``, ``label`` (log q(z|y) - log q(z)) and ``within_class``
      (log q(z|x) - log q(z|y)).
    """
    log_q_own = log_q_own_per_dim.sum(axis=1)  # (M,) log q(z_i|x_i)
    log_class_sums = mixture.log_class_sums(z, shift=log_q_own, pool_map=pool_map)  # (M, C)
    log_q_marginals = _log_marginals(z, mu, sigma, log_q_own_per_dim, use_grid, pool_map)  # (M, D)
    log_q_z = special.logsumexp(log_class_sums, axis=1) - math.log(len(mu))  # (M,)
    log_q_z_given_y = (log_class_sums[np.arange(len(z)), sample_class]
                       - np.log(class_counts[sample_class]))  # (M,) log q(z_i|y_i)
    info = log_q_own - log_q_z
    dimwise = np.sum(log_q_marginals - _log_standard_normal(z), axis=1)
    return {"info": info, "dimwise": dimwise, "info_and_dimwise": info + dimwise,
            "label": log_q_z_given_y - log_q_z, "within_class": log_q_own - log_q_z_given_y}


def _monte_carlo_se(terms: np.ndarray, first: np.ndarray, second: np.ndarray,
                    population: int) -> float:
    """Standard error of mean(terms) as an estimate given the posteriors.

    Each term depends on its own sample z_i only, so the terms are independent given the
    posteriors, and the estimate's variance is the mean Monte Carlo variance of one term, w,
    over the number of terms M; where the M examples are a random subsample of ``population``,
    the choice adds (1 - M / population) times the variance between the examples' expected
    terms, b.

    Args:
      terms: the M terms of the estimate (one draw each).
      first, second: two independent draws of the terms of a subset of the same examples.
      population: the number of examples the M were drawn from (M: all of them).

    Returns:
      sqrt((w + (1 - M / population) b) / M), with w = mean (first - second)^2 / 2 and
      b = max(Var(terms) - w, 0); NaN for fewer than two terms or repeats.
    """
    if len(terms) < 2 or len(first) < 2:
        return math.nan
    within = float(np.mean(np.square(first - second))) / 2.0
    between = max(float(np.var(terms, ddof=1)) - within, 0.0)
    unsampled = max(1.0 - len(terms) / population, 0.0)
    return math.sqrt((within + unsampled * between) / len(terms))


@contextlib.contextmanager
def _worker_pool(num_threads: int) -> Iterator[Callable]:
    """Yields a ``map(function, items) -> list`` running on ``num_threads`` threads.

    NumPy releases the GIL in its array loops, so threads share the cores; BLAS is held to one
    thread per worker (if threadpoolctl is installed) so that workers do not oversubscribe.
    """
    try:
        from threadpoolctl import threadpool_limits
        blas_limit = threadpool_limits(limits=1, user_api="blas") if num_threads > 1 else None
    except ImportError:
        blas_limit = None
    try:
        if num_threads == 1:
            yield lambda function, items: [function(item) for item in items]
        else:
            with ThreadPoolExecutor(num_threads) as executor:
                yield lambda function, items: list(executor.map(function, items))
    finally:
        if blas_limit is not None:
            blas_limit.restore_original_limits()


# --------------------------------------------------------------------------------------------
# The full mixture: log sum_n q(z_i|x_n), by class
# --------------------------------------------------------------------------------------------


class _DiagonalGaussianMixture:
    """The N components q(z|x_n) in matrix-product form, grouped into contiguous classes.

    log q(z|x_n) = sum_d [-a_nd z_d^2 + b_nd z_d] + c_n with a = 1/(2 s^2), b = mu/s^2 and
    c_n = -sum_d [mu_nd^2/(2 s_nd^2) + log s_nd + log(2 pi)/2], after centering z and mu on the
    mean of mu (which keeps the terms, hence their rounding errors, small).
    """

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, class_of_example: np.ndarray,
                 num_classes: int):
        order = np.argsort(class_of_example, kind="stable")
        self.mu, self.sigma = mu[order], sigma[order]  # (N, D), sorted by class
        counts = np.bincount(class_of_example, minlength=num_classes)
        self.class_bounds = np.concatenate([[0], np.cumsum(counts)])  # (C + 1,)
        self.center = self.mu.mean(axis=0)  # (D,)
        centered_mu = self.mu - self.center
        inv_var = 1.0 / np.square(self.sigma)
        quadratic = 0.5 * inv_var  # (N, D) a
        linear = centered_mu * inv_var  # (N, D) b
        constant = -np.sum(0.5 * np.square(centered_mu) * inv_var + np.log(self.sigma)
                           + 0.5 * LOG_2PI, axis=1)  # (N,) c
        # Rows [a; b; c; 1] against sample features [-z^2, z, 1, -shift]: (2D + 2, N).
        self.weights = np.ascontiguousarray(np.concatenate(
            [quadratic.T, linear.T, constant[None], np.ones((1, len(mu)))]))
        self.max_abs_weights = np.abs(self.weights).max(axis=1)  # (2D + 2,)

    def log_class_sums(self, z: np.ndarray, shift: np.ndarray, pool_map: Callable) -> np.ndarray:
        """log sum_{n in class k} q(z_i|x_n) for every sample i and class k.

        Args:
          z: samples, (M, D).
          shift: a reference log-density per sample, (M,), close to the largest component
            (the sample's own component); the sums are taken relative to it so one pass of exp
            suffices. Rows where that could overflow are redone with a proper maximum.
          pool_map: a ``map`` over worker threads.

        Returns:
          (M, C) log-sums (-inf for a class with no component near z_i).
        """
        centered_z = z - self.center
        features = np.concatenate(
            [-np.square(centered_z), centered_z, np.ones((len(z), 1)), -shift[:, None]],
            axis=1)  # (M, 2D + 2)
        # Rounding error of the matrix product: about eps * (number of terms) * sum |terms|.
        magnitude = np.abs(features) @ self.max_abs_weights  # (M,)
        unsafe = magnitude * features.shape[1] * np.finfo(np.float64).eps > CANCELLATION_TOLERANCE
        row_starts = range(0, len(z), _ROW_TILE)

        def tile_rows(start: int) -> np.ndarray:
            rows = features[start:start + _ROW_TILE]
            sums = np.zeros((len(rows), len(self.class_bounds) - 1))  # (R, C)
            buffer = np.empty((len(rows), _COLUMN_TILE))
            for column in range(0, len(self.mu), _COLUMN_TILE):
                stop = min(column + _COLUMN_TILE, len(self.mu))
                table = buffer[:, :stop - column]  # (R, T) log q(z_i|x_n) - shift_i
                np.matmul(rows, self.weights[:, column:stop], out=table)
                np.maximum(table, _EXP_FLOOR, out=table)
                np.exp(table, out=table)
                first_class = np.searchsorted(self.class_bounds, column, side="right") - 1
                last_class = np.searchsorted(self.class_bounds, stop, side="left") - 1
                for k in range(first_class, last_class + 1):  # the classes within the tile
                    lo = max(self.class_bounds[k], column) - column
                    hi = min(self.class_bounds[k + 1], stop) - column
                    if hi > lo:
                        sums[:, k] += table[:, lo:hi].sum(axis=1)
            return sums

        with np.errstate(over="ignore", divide="ignore"):
            sums = np.concatenate(pool_map(tile_rows, row_starts))  # (M, C)
            log_sums = np.log(sums) + shift[:, None]
        redo = unsafe | ~np.all(np.isfinite(sums), axis=1) | ~np.any(sums > 0, axis=1)
        if redo.any():
            log_sums[redo] = self.log_class_sums_explicit(z[redo], pool_map)
        return log_sums

    def max_log_density(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """max_n log q(z_i|x_n) for every sample, (M,), from the same tiled matrix products."""
        centered_z = z - self.center
        features = np.concatenate([-np.square(centered_z), centered_z, np.ones((len(z), 1)),
                                   np.zeros((len(z), 1))], axis=1)  # (M, 2D + 2)

        def tile_rows(start: int) -> np.ndarray:
            rows = features[start:start + _ROW_TILE]
            largest = np.full(len(rows), -np.inf)  # (R,)
            for column in range(0, len(self.mu), _COLUMN_TILE):
                table = rows @ self.weights[:, column:column + _COLUMN_TILE]  # (R, T)
                np.maximum(largest, table.max(axis=1), out=largest)
            return largest

        return np.concatenate(pool_map(tile_rows, range(0, len(z), _ROW_TILE)))

    def log_class_sums_anywhere(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """``log_class_sums`` for samples that need not come from a component of the mixture.

        The sums are taken relative to each sample's largest component (a first pass), so the
        total can neither overflow nor underflow; a class whose own largest component lies more
        than ``-_EXP_FLOOR`` nats below is recomputed in the explicit form.

        Returns:
          (M, C) log-sums.
        """
        shift = self.max_log_density(z, pool_map)  # (M,)
        log_sums = self.log_class_sums(z, shift=shift, pool_map=pool_map)
        counts = np.diff(self.class_bounds)  # (C,)
        with np.errstate(divide="ignore"):
            floor = shift[:, None] + _EXP_FLOOR + np.log(counts)[None, :] + 1.0  # (M, C)
        clipped = np.any((log_sums <= floor) & (counts > 0)[None, :], axis=1)
        if clipped.any():
            log_sums[clipped] = self.log_class_sums_explicit(z[clipped], pool_map)
        return log_sums

    def log_class_sums_explicit(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """The slow, safe path: explicit (z - mu)^2 and a max-shifted logsumexp per class."""

        def tile_rows(start: int) -> np.ndarray:
            rows = z[start:start + _ROW_TILE]  # (R, D)
            log_density = np.zeros((len(rows), len(self.mu)))  # (R, N)
            for d in range(z.shape[1]):
                standardized = (rows[:, d:d + 1] - self.mu[:, d]) / self.sigma[:, d]  # (R, N)
                log_density -= 0.5 * np.square(standardized) + np.log(self.sigma[:, d])
            log_density -= 0.5 * LOG_2PI * z.shape[1]
            return np.stack([special.logsumexp(log_density[:, lo:hi], axis=1)
                             for lo, hi in zip(self.class_bounds[:-1], self.class_bounds[1:])],
                            axis=1)  # (R, C)

        return np.concatenate(pool_map(tile_rows, range(0, len(z), _ROW_TILE)))


# --------------------------------------------------------------------------------------------
# Per-dimension marginals: one-dimensional mixtures
# --------------------------------------------------------------------------------------------


def _log_marginals(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                   log_q_own_per_dim: np.ndarray, use_grid: bool, pool_map: Callable) -> np.ndarray:
    """log q(z_ij) = log mean_n N(z_ij; mu_nj, s_nj^2) for every sample and dimension, (M, D)."""

    def one_dimension(d: int) -> np.ndarray:
        if use_grid:
            return _log_mixture_1d_grid(z[:, d], mu[:, d], sigma[:, d])
        return _log_mixture_1d_exact(z[:, d], mu[:, d], sigma[:, d], log_q_own_per_dim[:, d])

    columns = pool_map(one_dimension, range(z.shape[1]))
    return np.stack(columns, axis=1) - math.log(len(mu))


def _log_mixture_1d_exact(points: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                          shift: np.ndarray | None = None) -> np.ndarray:
    """log sum_n N(points_i; mu_n, sigma_n^2) by brute force, (M,).

    Args:
      points: (M,) evaluation points.
      mu, sigma: (N,) components.
      shift: optional (M,) reference log-densities (e.g. the sample's own component); without it
        (or where it would overflow) the row maximum is used.
    """
    inv_sigma = 1.0 / sigma
    log_norm = -np.log(sigma) - 0.5 * LOG_2PI  # (N,)
    out = np.empty(len(points))
    tile = max(1, (_ROW_TILE * _COLUMN_TILE) // len(mu))
    for start in range(0, len(points), tile):
        rows = points[start:start + tile]
        log_density = np.subtract.outer(rows, mu)  # (R, N)
        log_density *= inv_sigma
        np.square(log_density, out=log_density)
        log_density *= -0.5
        log_density += log_norm
        row_shift = log_density.max(axis=1) if shift is None else shift[start:start + tile]
        log_density -= row_shift[:, None]
        np.maximum(log_density, _EXP_FLOOR, out=log_density)
        with np.errstate(over="ignore"):
            np.exp(log_density, out=log_density)
        sums = log_density.sum(axis=1)
        bad = ~np.isfinite(sums) | (sums <= 0)
        out[start:start + tile] = np.log(np.where(bad, 1.0, sums)) + row_shift
        if bad.any():
            out[start:start + tile][bad] = _log_mixture_1d_exact(rows[bad], mu, sigma)
    return out


class _OneDimensionalMixture:
    """The mixture sum_n N(g; mu_n, s_n^2) in one dimension, evaluated with F' and F''.

    Components are sorted by mean and grouped into blocks; for a chunk of nearby points, blocks
    whose largest possible density is below exp(-36) / N of a lower bound on the mixture are
    skipped (a relative error below 3e-16), which makes sharp posteriors cheap.
    """

    _BLOCK = 256  # components per block
    _POINTS_PER_CHUNK = 8
    _LOWER_BOUND_WINDOW = 32  # components on each side of a point used for the lower bound
    _NUM_BROADEST = 16  # the broadest components also enter the lower bound

    def __init__(self, mu: np.ndarray, sigma: np.ndarray):
        order = np.argsort(mu, kind="stable")
        self.mu = mu[order]  # (N,) sorted
        self.inv_sigma = 1.0 / sigma[order]
        self.inv_var = np.square(self.inv_sigma)
        self.log_norm = -np.log(sigma[order]) - 0.5 * LOG_2PI  # (N,)
        # v = (g - mu) / (sqrt(2) s) = g * scale - offset, so that log N(g) = log_norm - v^2.
        self.scale = self.inv_sigma / math.sqrt(2.0)
        self.offset = self.mu * self.scale
        starts = np.arange(0, len(mu), self._BLOCK)
        self.block_starts = starts
        self.block_low = self.mu[starts]
        self.block_high = self.mu[np.minimum(starts + self._BLOCK, len(mu)) - 1]
        self.block_max_log_norm = np.maximum.reduceat(self.log_norm, starts)
        self.block_max_sigma = np.maximum.reduceat(sigma[order], starts)
        self.broadest = np.argsort(self.log_norm)[:self._NUM_BROADEST]
        self.prune_margin = 36.0 + math.log(len(mu))

    def _log_density(self, points: np.ndarray, index) -> np.ndarray:
        v = np.multiply.outer(points, self.scale[index]) - self.offset[index]
        return self.log_norm[index] - np.square(v)

    def _component_range(self, points: np.ndarray) -> tuple[int, int]:
        """Components [lo, hi) that matter for any of the (sorted) points."""
        nearest = np.searchsorted(self.mu, points)  # (G,)
        window = np.clip(nearest[:, None] + np.arange(-self._LOWER_BOUND_WINDOW,
                                                      self._LOWER_BOUND_WINDOW),
                         0, len(self.mu) - 1)  # (G, W)
        near = self.log_norm[window] - np.square(points[:, None] * self.scale[window]
                                                 - self.offset[window])
        lower_bound = np.maximum(near.max(axis=1),
                                 self._log_density(points, self.broadest).max(axis=1)).min()
        gap = np.maximum(np.maximum(self.block_low - points[-1], points[0] - self.block_high), 0)
        upper_bound = self.block_max_log_norm - 0.5 * np.square(gap / self.block_max_sigma)
        kept = np.flatnonzero(upper_bound >= lower_bound - self.prune_margin)
        return (int(self.block_starts[kept[0]]),
                int(min(self.block_starts[kept[-1]] + self._BLOCK, len(self.mu))))

    def log_density_with_derivatives(self, points: np.ndarray) -> np.ndarray:
        """F(g) = log sum_n N(g; mu_n, s_n^2), F'(g) and F''(g) at the points, (G, 3).

        With weights w_n proportional to N(g; mu_n, s_n^2) and l_n' = -(g - mu_n)/s_n^2:
        F' = E_w[l'] and F'' = E_w[l'^2] - F'^2 - E_w[1/s^2].
        """
        order = np.argsort(points, kind="stable")
        out = np.empty((len(points), 3))
        for start in range(0, len(points), self._POINTS_PER_CHUNK):
            chunk = order[start:start + self._POINTS_PER_CHUNK]
            rows = points[chunk]  # (G,) sorted
            lo, hi = self._component_range(rows)
            v = np.multiply.outer(rows, self.scale[lo:hi])  # (G, n)
            v -= self.offset[lo:hi]
            weights = np.square(v)
            np.subtract(self.log_norm[lo:hi], weights, out=weights)  # log-densities
            row_max = weights.max(axis=1)
            weights -= row_max[:, None]
            np.maximum(weights, _EXP_FLOOR, out=weights)
            np.exp(weights, out=weights)
            total = weights.sum(axis=1)  # (G,)
            weighted = weights * v  # l' = -sqrt(2) v / s
            slope = -math.sqrt(2.0) * (weighted @ self.inv_sigma[lo:hi]) / total
            weighted *= v  # l'^2 = 2 v^2 / s^2
            mean_square_slope = 2.0 * (weighted @ self.inv_var[lo:hi]) / total
            mean_inv_var = (weights @ self.inv_var[lo:hi]) / total
            curvature = mean_square_slope - np.square(slope) - mean_inv_var
            out[chunk] = np.stack([row_max + np.log(total), slope, curvature], axis=1)
        return out


def _quintic_hermite(left: np.ndarray, width: np.ndarray, left_values: np.ndarray,
                     right_values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Interpolates F from (F, F', F'') at both ends of each cell; all arrays per point.

    Args:
      left, width: the cell of each point, (P,).
      left_values, right_values: (P, 3) value, first and second derivative at the cell ends.
      points: (P,) where to interpolate.
    """
    t = (points - left) / width
    t2, t3 = t * t, t * t * t
    t4, t5 = t3 * t, t3 * t2
    h0 = 1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5
    h1 = t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5
    h2 = 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5)
    h3 = 0.5 * (t3 - 2.0 * t4 + t5)
    h4 = -4.0 * t3 + 7.0 * t4 - 3.0 * t5
    h5 = 1.0 - h0
    return (left_values[:, 0] * h0 + width * left_values[:, 1] * h1
            + width ** 2 * left_values[:, 2] * h2 + right_values[:, 0] * h5
            + width * right_values[:, 1] * h4 + width ** 2 * right_values[:, 2] * h3)


def _log_mixture_1d_grid(points: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                         tolerance: float = MARGINAL_TOLERANCE) -> np.ndarray:
    """log sum_n N(points_i; mu_n, sigma_n^2) by verified interpolation on an adaptive grid, (M,).

    A uniform grid over the points is refined level by level. At each level, every cell that
    holds points is checked: the quintic Hermite interpolant from its ends is compared with an
    exact evaluation at its midpoint. A cell that passes is done: its points are interpolated
    from its two halves (the midpoint is now a node). A cell that fails is split in two. When
    cells would no longer hold several points each, the remaining points are evaluated exactly.
    """
    out = np.empty(len(points))
    low, high = float(points.min()), float(points.max())
    if len(points) < 8 * _BASE_GRID_CELLS or not high > low:
        return _log_mixture_1d_exact(points, mu, sigma)
    mixture = _OneDimensionalMixture(mu, sigma)
    nodes = np.linspace(low, high, _BASE_GRID_CELLS + 1)
    node_values = mixture.log_density_with_derivatives(nodes)  # (G + 1, 3)
    cell_left_x, cell_right = nodes[:-1], nodes[1:]
    left_values, right_values = node_values[:-1], node_values[1:]
    pending = np.arange(len(points))
    for level in range(_MAX_GRID_LEVELS + 1):
        if not len(pending):
            break
        # Pending points all lie in the current (disjoint, sorted) cells.
        cell_of_point = np.searchsorted(cell_left_x, points[pending], side="right") - 1
        occupied, cell_of_point = np.unique(cell_of_point, return_inverse=True)
        if 4 * len(occupied) > len(pending) or level == _MAX_GRID_LEVELS:
            out[pending] = mixture.log_density_with_derivatives(points[pending])[:, 0]
            break
        left_x, right_x = cell_left_x[occupied], cell_right[occupied]
        left_values, right_values = left_values[occupied], right_values[occupied]
        middle = 0.5 * (left_x + right_x)
        middle_values = mixture.log_density_with_derivatives(middle)
        error = np.abs(_quintic_hermite(left_x, right_x - left_x, left_values, right_values,
                                        middle) - middle_values[:, 0])
        passed = error <= tolerance  # (C,)

        # Cells that pass: interpolate their points on the half-cell that holds each.
        done = passed[cell_of_point]
        cell = cell_of_point[done]
        x = points[pending[done]]
        in_right_half = x >= middle[cell]
        half_left = np.where(in_right_half, middle[cell], left_x[cell])
        half_right = np.where(in_right_half, right_x[cell], middle[cell])
        values_left = np.where(in_right_half[:, None], middle_values[cell], left_values[cell])
        values_right = np.where(in_right_half[:, None], right_values[cell], middle_values[cell])
        out[pending[done]] = _quintic_hermite(half_left, half_right - half_left, values_left,
                                              values_right, x)

        # Cells that fail: split in two (children stay sorted by their left edge).
        failed = ~passed
        cell_left_x = np.stack([left_x[failed], middle[failed]], axis=1).ravel()
        cell_right = np.stack([middle[failed], right_x[failed]], axis=1).ravel()
        left_values = np.stack([left_values[failed], middle_values[failed]], axis=1).reshape(-1, 3)
        right_values = np.stack([middle_values[failed], right_values[failed]],
                                axis=1).reshape(-1, 3)
        pending = pending[~done]
    return out


# --------------------------------------------------------------------------------------------
# Minibatch estimators
# --------------------------------------------------------------------------------------------


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive non-overlapping batches of ``order``; a last batch of one joins the previous."""
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def minibatch_log_weights(batch_size: int, num_examples: int, method: str) -> np.ndarray:
    """log importance weights of the batch components, (M, M); row i is sample z_i.

    Args:
      batch_size: M, the examples in the batch.
      num_examples: N, the examples in the data set.
      method: "mws" (all weights 1/(N M)) or "mss" (1/N on the diagonal, the sample's own
        component; (N - 1)/(N (M - 1)) elsewhere).
    """
    if method == "mws":
        return np.full((batch_size, batch_size), -math.log(num_examples * batch_size))
    log_weights = np.full((batch_size, batch_size), math.log(num_examples - 1)
                          - math.log(num_examples) - math.log(batch_size - 1))
    np.fill_diagonal(log_weights, -math.log(num_examples))
    return log_weights


def _minibatch_log_q(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray, num_examples: int,
                     method: str) -> tuple[np.ndarray, np.ndarray]:
    """Minibatch estimates of log q(z_i), (M,), and of log q(z_ij), (M, D), within one batch."""
    log_weights = minibatch_log_weights(len(z), num_examples, method)  # (M, M)
    log_density = np.zeros((len(z), len(z)))  # (M, M) log q(z_i|x_j)
    log_q_marginals = np.empty(z.shape)  # (M, D)
    for d in range(z.shape[1]):
        log_density_d = (-0.5 * np.square(np.subtract.outer(z[:, d], mu[:, d]) / sigma[:, d])
                         - np.log(sigma[:, d]) - 0.5 * LOG_2PI)  # (M, M)
        log_q_marginals[:, d] = special.logsumexp(log_density_d + log_weights, axis=1)
        log_density += log_density_d
    return special.logsumexp(log_density + log_weights, axis=1), log_q_marginals
