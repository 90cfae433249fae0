"""Estimators of the KL decomposition of a diagonal-Gaussian encoder against its prior.

The prior p is N(0, I) unless a ``log_prior`` is given (every estimator takes one: a callable
mapping codes z, (M, D) float64, to log p(z), (M,); ``holes.prior_holes`` also a
``sample_prior``),
e.g. a model's learned prior (``klgap.models.vae``). With a learned prior the per-example rate
KL(q(z|x_n) || p) may have no closed form (the VampPrior's): pass it as ``rate`` (N,) where it
is known or estimated elsewhere, or leave it out and the estimators use the single-sample Monte
Carlo rate log q(z_i|x_i) - log p(z_i) at their own samples z_i. Either way the identities below
hold by construction on the same samples (aggregate_kl = rate - mutual_info). Dimension-wise KL
and total correlation are defined against a factorised prior, so with a ``log_prior`` they are
NaN, and so is ``moment_matched_kl`` (a bound for N(0, I) only).

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

The numerics (the tiled N x M table, input checks, sampling and threads) are in
``klgap.estimators.mixture_numerics``, the adaptive grid of the per-dimension marginals in
``klgap.estimators.marginals``; the minibatch estimators in ``klgap.estimators.minibatch``, the
prior's holes in ``klgap.estimators.holes``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import special

from klgap.errors import UserError
from klgap.estimators.mixture_numerics import minibatch_log_weights  # noqa: F401 (public API)
from klgap.estimators.mixture_numerics import (
    DiagonalGaussianMixture, as_float_matrix, check_int, check_labels, check_posteriors,
    check_threads, monte_carlo_se, redraw_posteriors, sample_posteriors, sample_terms,
    standard_error, worker_pool)

# A latent unit is active if its posterior mean varies across examples by more than this
# (variance; Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 0.01
# kl_decomposition's estimate is "at the ceiling" when mutual_info >= log N - CEILING_MARGIN
# (nats): I_q <= log N, so the aggregate KL = rate - mutual_info then measures N, not the model.
CEILING_MARGIN = 0.1


class CeilingWarning(UserWarning):
    """The in-sample mutual information is at its ceiling log N; the aggregate KL measures N."""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def kl_decomposition(mu, sigma, labels=None, *, num_z: int | None = None, seed: int = 0,
                     marginals: str = "auto", num_threads: int | None = None,
                     log_prior=None, rate=None) -> dict:
    """Decomposes the rate of a diagonal-Gaussian encoder into information and aggregate KL.

    Args:
      mu: posterior means, (N, D).
      sigma: posterior standard deviations, (N, D), all > 0.
      labels: optional integer class labels, (N,).
      num_z: number of examples that get a sample z (a seeded subsample, without replacement);
        None (default): every example gets one.
      seed: seed of the samples (and of the subsample).
      marginals: how the per-dimension marginals log q(z_ij) are evaluated: "grid" (verified
        interpolation, see the module docstring; "exact" in a dimension whose narrowest
        posterior is too sharp for it, ``marginals.grid_resolves``), "exact" (every
        sample against every component) or "auto" ("exact" for small problems, else "grid");
        "none" skips them, and with them total_correlation and dimwise_kl (most of the cost when
        only the information and the aggregate KL are wanted).
      num_threads: worker threads; None: the CPUs available to this process.
      log_prior: log p(z), a callable from codes (M, D) float64 to (M,); None: N(0, I). With
        it, total_correlation, dimwise_kl (and their _se) and moment_matched_kl are NaN.
      rate: each example's KL(q(z|x_n) || p), (N,); None: the closed form for N(0, I), or,
        with a ``log_prior``, the single-sample estimate log q(z_i|x_i) - log p(z_i) at the
        sampled z_i (then aggregate_kl is mean_i [log q(z_i) - log p(z_i)] exactly, and its
        standard error includes the rate's Monte Carlo error).

    Returns:
      A dict of floats in nats: rate, mutual_info, aggregate_kl, total_correlation, dimwise_kl,
      moment_matched_kl, log_n, at_ceiling (bool: mutual_info >= log_n - CEILING_MARGIN, with
      CEILING_MARGIN = 0.1 nats); with labels also label_info and class_kl
      ({label: KL(q(z|y)||p)});
      and "<key>_se", the Monte Carlo standard error of the estimate given the posteriors, for
      each estimated key (mutual_info, aggregate_kl, total_correlation, dimwise_kl, label_info;
      class_kl_se is a dict by label): measured with a second, independent draw of z for up to
      2,048 of the sampled examples, not from the variation between examples (which is not an
      error of the estimate); with num_z, the choice of the subsample is included.
      rate (unless estimated from ``log_prior``), moment_matched_kl and log_n are closed
      forms. A class with fewer than two samples
      (possible only with num_z) has a NaN standard error; one with none has NaN class_kl.

    Raises:
      UserError: for non-finite or mis-shaped inputs, sigma <= 0, labels of the wrong length or
        type, num_z outside [2, N], a negative seed, or an unknown ``marginals``.

    Warns:
      CeilingWarning: when ``at_ceiling``: the aggregate KL is then rate - log N, a statement
        about N; ``fitted_density_kl`` gives a lower bound that does not depend on N.
    """
    mu, sigma = check_posteriors(mu, sigma)
    num_examples = len(mu)
    if labels is not None:
        labels = check_labels(labels, num_examples)
    if num_z is not None:
        num_z = check_int("num_z", num_z, 2, num_examples, "pass None to give every example a z")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    if marginals not in ("auto", "grid", "exact", "none"):
        raise UserError(f"marginals must be 'auto', 'grid', 'exact' or 'none', got {marginals!r}.")
    num_threads = check_threads(num_threads)
    kl_per_example = known_rate(mu, sigma, log_prior, rate)  # (N,), None: estimated below
    keep_dimwise_keys = marginals != "none"
    if log_prior is not None:
        marginals = "none"  # no dimension-wise terms against a prior that need not factorise
    class_values, class_of_example = (np.unique(labels, return_inverse=True) if labels is not None
                                      else (np.zeros(1, dtype=np.int64),
                                            np.zeros(num_examples, dtype=np.int64)))
    class_counts = np.bincount(class_of_example, minlength=len(class_values))  # (C,)
    mixture = DiagonalGaussianMixture(mu, sigma, class_of_example, len(class_values))
    sample_index, z, log_q_own_per_dim = sample_posteriors(mu, sigma, num_z, seed)
    # A second, independent draw for a subset of the same examples measures the Monte Carlo
    # variance of each example's terms (the first draw alone cannot tell it from the variation
    # between examples, which is no error of the estimate given the posteriors).
    repeat, z_again, log_q_own_again = redraw_posteriors(mu, sigma, sample_index, seed)
    use_grid = (None if marginals == "none"
                else marginals == "grid" or (marginals == "auto" and len(z) > 4096))
    with worker_pool(num_threads) as pool_map:
        terms = sample_terms(mixture, z, log_q_own_per_dim, mu, sigma, class_counts,
                              class_of_example[sample_index], use_grid, pool_map)
        terms_again = sample_terms(mixture, z_again, log_q_own_again, mu, sigma, class_counts,
                                    class_of_example[sample_index[repeat]], use_grid, pool_map)

    sample_class = class_of_example[sample_index]  # (M,)
    if kl_per_example is None:  # the single-sample rate at the same z (and at the second draw)
        rate_of_sample = (log_q_own_per_dim.sum(axis=1)
                          - log_prior_at(log_prior, z))  # (M,)
        rate_again = (log_q_own_again.sum(axis=1)
                      - log_prior_at(log_prior, z_again))  # (R,)
        rate = float(np.mean(rate_of_sample))
        class_rate = (np.bincount(sample_class, weights=rate_of_sample,
                                  minlength=len(class_values))
                      / np.maximum(np.bincount(sample_class, minlength=len(class_values)), 1))
    else:
        rate_of_sample = kl_per_example[sample_index]  # (M,)
        rate_again = rate_of_sample[repeat]
        rate = float(np.mean(kl_per_example))
        class_rate = np.bincount(class_of_example, weights=kl_per_example) / class_counts  # (C,)
    # aggregate_kl's terms, rate_i - info_i (the info's Monte Carlo error alone for a known rate)
    terms["aggregate"] = rate_of_sample - terms["info"]
    terms_again["aggregate"] = rate_again - terms_again["info"]
    terms["within_class_kl"] = rate_of_sample - terms["within_class"]
    terms_again["within_class_kl"] = rate_again - terms_again["within_class"]

    def standard_error(name: str, in_class: int | None = None) -> float:
        """The Monte Carlo standard error of the mean of ``terms[name]`` (within one class)."""
        if in_class is None:
            mask, population = np.ones(len(z), dtype=bool), num_examples
        else:
            mask, population = sample_class == in_class, int(class_counts[in_class])
        return monte_carlo_se(terms[name][mask], terms[name][repeat][mask[repeat]],
                               terms_again[name][mask[repeat]], population)

    mutual_info = float(np.mean(terms["info"]))
    dimwise_kl = float(np.mean(terms["dimwise"]))
    aggregate_kl = rate - mutual_info
    result = {
        "rate": rate,
        "mutual_info": mutual_info,
        "mutual_info_se": standard_error("info"),
        "aggregate_kl": aggregate_kl,
        "aggregate_kl_se": standard_error("info" if kl_per_example is not None else "aggregate"),
        "total_correlation": aggregate_kl - dimwise_kl,
        "total_correlation_se": standard_error("info_and_dimwise"),
        "dimwise_kl": dimwise_kl,
        "dimwise_kl_se": standard_error("dimwise"),
        "moment_matched_kl": moment_matched_kl(mu, sigma) if log_prior is None else math.nan,
        "log_n": math.log(num_examples),
        "at_ceiling": mutual_info >= math.log(num_examples) - CEILING_MARGIN,
    }
    if result["at_ceiling"]:
        warnings.warn(
            f"mutual_info = {mutual_info:.3f} nats is within CEILING_MARGIN = {CEILING_MARGIN} of "
            f"its ceiling log N = {math.log(num_examples):.3f} (N = {num_examples}), so "
            f"aggregate_kl = rate - mutual_info measures N, not the model; for a bound that does "
            f"not depend on N use klgap.estimators.fitted_density_kl(mu_fit, sigma_fit, mu_eval, "
            f"sigma_eval) with the training split's posteriors as the fit set.",
            CeilingWarning, stacklevel=2)
    if log_prior is not None and keep_dimwise_keys:
        result.update(total_correlation=math.nan, total_correlation_se=math.nan,
                      dimwise_kl=math.nan, dimwise_kl_se=math.nan)
    elif marginals == "none" or log_prior is not None:
        for key in ("total_correlation", "total_correlation_se", "dimwise_kl", "dimwise_kl_se"):
            del result[key]
    if labels is None:
        return result

    result["label_info"] = float(np.mean(terms["label"]))
    result["label_info_se"] = standard_error("label")
    result["class_kl"], result["class_kl_se"] = {}, {}
    for k, value in enumerate(class_values):
        in_class = sample_class == k
        within = terms["within_class"][in_class]
        mean = float(np.mean(within)) if len(within) else math.nan
        result["class_kl"][int(value)] = float(class_rate[k]) - mean
        result["class_kl_se"][int(value)] = standard_error(
            "within_class" if kl_per_example is not None else "within_class_kl", k)
    return result


def heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, labels_fit=None,
                             labels_eval=None, *, seed: int = 0,
                             num_threads: int | None = None, log_prior=None,
                             rate=None) -> dict:
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
      log_prior: log p(z), a callable from codes (M, D) float64 to (M,); None: N(0, I) (the
        bounds hold for any fixed prior).
      rate: each eval example's KL(q(z|x_i) || p), (N_eval,); None: the closed form for
        N(0, I), or with a ``log_prior`` the single-sample estimate at the eval samples.

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
    mu_fit, sigma_fit = check_posteriors(mu_fit, sigma_fit)
    mu_eval, sigma_eval = check_posteriors(mu_eval, sigma_eval)
    if mu_fit.shape[1] != mu_eval.shape[1]:
        raise UserError(f"the fit posteriors have {mu_fit.shape[1]} latent dimensions and the "
                        f"eval posteriors {mu_eval.shape[1]}; pass posteriors of one encoder.")
    if (labels_fit is None) != (labels_eval is None):
        raise UserError("labels were given for one set only; pass labels_fit and labels_eval "
                        "together, or neither.")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    num_threads = check_threads(num_threads)
    with_labels = labels_fit is not None
    if with_labels:
        labels_fit = check_labels(labels_fit, len(mu_fit))
        labels_eval = check_labels(labels_eval, len(mu_eval))
        class_values = np.union1d(labels_fit, labels_eval)  # (C,)
    else:
        class_values = np.zeros(1, dtype=np.int64)
        labels_fit = np.zeros(len(mu_fit), dtype=np.int64)
        labels_eval = np.zeros(len(mu_eval), dtype=np.int64)
    class_of_fit = np.searchsorted(class_values, labels_fit)  # (N_fit,)
    class_of_eval = np.searchsorted(class_values, labels_eval)  # (N_eval,)

    kl_per_example = known_rate(mu_eval, sigma_eval, log_prior, rate)  # (N_eval,) or None
    _, z, log_q_own_per_dim = sample_posteriors(mu_eval, sigma_eval, None, seed)
    log_q_own = log_q_own_per_dim.sum(axis=1)  # (M,) log q(z_i|x_i^eval), M = N_eval
    if kl_per_example is None:  # the single-sample rate at the same z
        kl_per_example = log_q_own - log_prior_at(log_prior, z)  # (M,)
    rate = float(np.mean(kl_per_example))
    mixture = DiagonalGaussianMixture(mu_fit, sigma_fit, class_of_fit, len(class_values))
    with worker_pool(num_threads) as pool_map:
        log_class_sums = mixture.log_class_sums_anywhere(z, pool_map)  # (M, C)
    fit_counts = np.bincount(class_of_fit, minlength=len(class_values))  # (C,)
    log_q_fit = special.logsumexp(log_class_sums, axis=1) - math.log(len(mu_fit))  # (M,)
    info_terms = log_q_own - log_q_fit  # (M,)
    result = {
        "rate": rate,
        "aggregate_kl_lower": rate - float(np.mean(info_terms)),
        "aggregate_kl_lower_se": standard_error(kl_per_example - info_terms),
        "mutual_info_upper": float(np.mean(info_terms)),
        "mutual_info_upper_se": standard_error(info_terms),
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
    result["label_info_lower_se"] = standard_error(log_classifier)
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
        result["class_kl_lower_se"][int(value)] = standard_error(kl_per_example[in_class]
                                                                  - terms)
    return result


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


def standard_normal_sampler(latent_dim: int):
    """The sampler of p = N(0, I) in ``latent_dim`` dimensions, as ``prior_holes`` takes it.

    Returns:
      A callable (num_samples, seed) -> (M, D) float64 drawing
      ``numpy.random.default_rng(seed).standard_normal((num_samples, latent_dim))``.
    """
    def sample(num_samples: int, seed) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((num_samples, latent_dim))

    return sample


def log_prior_at(log_prior, z: np.ndarray) -> np.ndarray:
    """log p(z) from a ``log_prior`` callable, checked: (M,) float64 for z (M, D).

    Raises:
      UserError: the callable's value is not one finite number per code.
    """
    values = np.asarray(log_prior(z), dtype=np.float64)
    if values.shape != (len(z),):
        raise UserError(f"log_prior returned shape {values.shape} for {len(z)} codes; it must "
                        "map codes (M, D) to log p(z) of shape (M,).")
    if not np.all(np.isfinite(values)):
        raise UserError("log_prior returned non-finite values; it must give finite log p(z) at "
                        "every code (use a prior with full support).")
    return values


def known_rate(mu: np.ndarray, sigma: np.ndarray, log_prior, rate) -> np.ndarray | None:
    """Each example's KL(q(z|x_n) || p), (N,), where it is known without sampling.

    Args:
      mu, sigma: the posteriors, (N, D) each (checked).
      log_prior: the prior's log density, or None for N(0, I).
      rate: the per-example rate, (N,), or None.

    Returns:
      ``rate`` (checked), else the closed form for N(0, I); None for a ``log_prior`` without a
      rate (the caller estimates it at its samples).

    Raises:
      UserError: a rate of the wrong shape or not finite.
    """
    if rate is not None:
        rate = np.asarray(rate, dtype=np.float64)
        if rate.shape != (len(mu),) or not np.all(np.isfinite(rate)):
            raise UserError(f"rate must be {len(mu)} finite per-example values (one per "
                            f"posterior), got shape {rate.shape}; pass KL(q(z|x_n) || p) per "
                            "example, or None.")
        return rate
    if log_prior is None:
        return gaussian_kl_to_standard_normal(mu, sigma).sum(axis=1)
    return None


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
