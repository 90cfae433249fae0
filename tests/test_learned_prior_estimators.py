"""Tests of the estimators' ``log_prior`` hook (klgap.estimators.decomposition and
fitted_density) against brute-force SciPy with non-standard priors of known density: a shifted,
scaled Gaussian and a two-component Gaussian mixture."""

import math

import numpy as np
import pytest
from scipy import special, stats

from klgap.errors import UserError
from klgap import estimators
from klgap.estimators import mixture_numerics

PRIOR_MEAN, PRIOR_SCALE = np.array([0.7, -0.4]), np.array([1.5, 0.6])  # (D,) each
MIXTURE_MEANS = np.array([[-1.0, 0.5], [1.2, -0.3]])  # (2, D)
MIXTURE_SCALES = np.array([[0.8, 1.1], [0.5, 0.7]])  # (2, D)
MIXTURE_WEIGHTS = np.array([0.3, 0.7])


def shifted_log_prior(z):
    """log N(z; PRIOR_MEAN, diag PRIOR_SCALE^2), (M,) for z (M, D), by SciPy."""
    return stats.norm.logpdf(z, PRIOR_MEAN, PRIOR_SCALE).sum(axis=1)


def mixture_log_prior(z):
    """log of the two-component mixture, (M,), by SciPy, component by component."""
    per_component = np.stack([stats.multivariate_normal(m, np.diag(s ** 2)).logpdf(z)
                              for m, s in zip(MIXTURE_MEANS, MIXTURE_SCALES)], axis=1)  # (M, 2)
    return special.logsumexp(per_component + np.log(MIXTURE_WEIGHTS), axis=1)


def mixture_sampler(num_samples, seed):
    """Draws from the mixture, (M, D)."""
    rng = np.random.default_rng(seed)
    component = rng.choice(2, size=num_samples, p=MIXTURE_WEIGHTS)
    return MIXTURE_MEANS[component] + MIXTURE_SCALES[component] * rng.standard_normal(
        (num_samples, 2))


def shifted_rate(mu, sigma):
    """KL(N(mu, sigma^2) || N(PRIOR_MEAN, PRIOR_SCALE^2)) per example in closed form, (N,)."""
    ratio = sigma / PRIOR_SCALE
    return np.sum(0.5 * (ratio ** 2 + ((mu - PRIOR_MEAN) / PRIOR_SCALE) ** 2 - 1)
                  - np.log(ratio), axis=1)


def posteriors(seed, num_examples=60, num_dims=2):
    """Random diagonal-Gaussian posteriors, (N, D) each, and labels in {0, 1, 2}."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((num_examples, num_dims)),
            rng.uniform(0.2, 0.8, size=(num_examples, num_dims)),
            rng.integers(0, 3, size=num_examples))


def log_q_table(mu, sigma, z):
    """log q(z_i|x_n), (M, N), by explicit broadcasting with SciPy."""
    return stats.norm.logpdf(z[:, None, :], mu[None], sigma[None]).sum(axis=2)


@pytest.mark.parametrize("log_prior", [shifted_log_prior, mixture_log_prior])
def test_decomposition_against_learned_prior_matches_brute_force(log_prior):
    mu, sigma, labels = posteriors(seed=31)
    result = estimators.kl_decomposition(mu, sigma, labels, seed=5, log_prior=log_prior)
    index, z, _ = mixture_numerics.sample_posteriors(mu, sigma, None, 5)
    table = log_q_table(mu, sigma, z)  # (N, N)
    log_q_own = table[np.arange(len(z)), index]
    log_q_z = special.logsumexp(table, axis=1) - math.log(len(mu))
    log_p = log_prior(z)
    # Monte Carlo rate at the same samples, and the aggregate KL in its textbook form; the
    # mixture's exponentials run in float32 (mixture_numerics.SINGLE_PRECISION_ERROR).
    tolerance = mixture_numerics.SINGLE_PRECISION_ERROR
    assert result["rate"] == pytest.approx(np.mean(log_q_own - log_p), rel=1e-10)
    assert result["mutual_info"] == pytest.approx(np.mean(log_q_own - log_q_z), abs=tolerance)
    assert result["aggregate_kl"] == pytest.approx(np.mean(log_q_z - log_p), abs=tolerance)
    assert result["rate"] == pytest.approx(result["mutual_info"] + result["aggregate_kl"])
    for key in ("total_correlation", "dimwise_kl", "moment_matched_kl"):
        assert math.isnan(result[key])
    for label in range(3):
        rows = labels == label
        log_q_y = (special.logsumexp(table[:, rows], axis=1) - math.log(rows.sum()))[rows]
        assert result["class_kl"][label] == pytest.approx(np.mean(log_q_y - log_p[rows]),
                                                          abs=tolerance)
    assert np.isfinite(result["aggregate_kl_se"]) and result["aggregate_kl_se"] > 0


def test_decomposition_with_given_rate_keeps_the_identity_and_the_samples():
    mu, sigma, labels = posteriors(seed=32, num_examples=200)
    rate = shifted_rate(mu, sigma)
    result = estimators.kl_decomposition(mu, sigma, labels, seed=9, log_prior=shifted_log_prior,
                                         rate=rate)
    estimated = estimators.kl_decomposition(mu, sigma, labels, seed=9,
                                            log_prior=shifted_log_prior)
    assert result["rate"] == pytest.approx(np.mean(rate))
    assert result["aggregate_kl"] == pytest.approx(result["rate"] - result["mutual_info"])
    assert result["mutual_info"] == estimated["mutual_info"]  # the same z
    # the closed-form and the Monte Carlo rate estimate the same aggregate KL
    gap = abs(result["aggregate_kl"] - estimated["aggregate_kl"])
    assert gap < 4 * math.hypot(result["aggregate_kl_se"], estimated["aggregate_kl_se"])


def test_standard_normal_hook_reproduces_the_default():
    mu, sigma, labels = posteriors(seed=33)
    default = estimators.kl_decomposition(mu, sigma, labels, seed=2)
    hooked = estimators.kl_decomposition(
        mu, sigma, labels, seed=2, rate=estimators.gaussian_kl_to_standard_normal(
            mu, sigma).sum(axis=1), log_prior=lambda z: stats.norm.logpdf(z).sum(axis=1))
    for key in ("rate", "mutual_info", "aggregate_kl", "label_info"):
        assert hooked[key] == pytest.approx(default[key], rel=1e-12)
    assert hooked["class_kl"] == pytest.approx(default["class_kl"], rel=1e-12)


def test_heldout_against_learned_prior_matches_brute_force():
    mu_fit, sigma_fit, labels_fit = posteriors(seed=34, num_examples=80)
    mu_eval, sigma_eval, labels_eval = posteriors(seed=35, num_examples=50)
    result = estimators.heldout_kl_decomposition(
        mu_fit, sigma_fit, mu_eval, sigma_eval, labels_fit, labels_eval, seed=4,
        log_prior=mixture_log_prior)
    _, z, _ = mixture_numerics.sample_posteriors(mu_eval, sigma_eval, None, 4)
    log_q_fit = special.logsumexp(log_q_table(mu_fit, sigma_fit, z), axis=1) - math.log(80)
    log_q_own = log_q_table(mu_eval, sigma_eval, z)[np.arange(50), np.arange(50)]
    log_p = mixture_log_prior(z)
    assert result["rate"] == pytest.approx(np.mean(log_q_own - log_p), rel=1e-10)
    assert result["aggregate_kl_lower"] == pytest.approx(np.mean(log_q_fit - log_p), rel=1e-9,
                                                         abs=1e-9)
    assert result["rate"] == pytest.approx(result["mutual_info_upper"]
                                           + result["aggregate_kl_lower"])


def test_minibatch_against_learned_prior_keeps_the_identity():
    mu, sigma, _ = posteriors(seed=36, num_examples=90)
    rate = shifted_rate(mu, sigma)
    result = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=30, method="mss", seed=3,
                                                   log_prior=shifted_log_prior, rate=rate)
    standard = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=30, method="mss",
                                                     seed=3)
    assert result["mutual_info"] == standard["mutual_info"]  # log q(z) does not involve p
    assert result["aggregate_kl"] == pytest.approx(np.mean(rate) - result["mutual_info"])
    assert math.isnan(result["dimwise_kl"]) and math.isnan(result["total_correlation"])
    estimated = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=30, method="mss",
                                                      seed=3, log_prior=shifted_log_prior)
    _, z, log_q_own = mixture_numerics.sample_posteriors(mu, sigma, None, 3)
    monte_carlo_rate = np.mean(log_q_own.sum(axis=1) - shifted_log_prior(z))
    assert estimated["aggregate_kl"] == pytest.approx(monte_carlo_rate - result["mutual_info"])


def test_prior_holes_with_a_learned_prior_match_brute_force():
    mu, sigma, _ = posteriors(seed=37, num_examples=70)
    result = estimators.prior_holes(mu, sigma, num_samples=500, seed=8,
                                    log_prior=mixture_log_prior, sample_prior=mixture_sampler)
    z = mixture_sampler(500, [8, mixture_numerics.PRIOR_STREAM])
    log_q = special.logsumexp(log_q_table(mu, sigma, z), axis=1) - math.log(70)
    log_ratio = log_q - mixture_log_prior(z)
    assert result["prior_kl"] == pytest.approx(-np.mean(log_ratio), rel=1e-10)
    assert result["hole_fraction"] == np.mean(log_ratio < math.log(estimators.HOLE_RATIO))
    default = estimators.prior_holes(mu, sigma, num_samples=500, seed=8)
    explicit = estimators.prior_holes(
        mu, sigma, num_samples=500, seed=8, sample_prior=estimators.standard_normal_sampler(2),
        log_prior=lambda z: stats.norm.logpdf(z).sum(axis=1))
    assert explicit["prior_kl"] == pytest.approx(default["prior_kl"], rel=1e-12)


def test_bad_hooks_are_user_errors():
    mu, sigma, _ = posteriors(seed=38, num_examples=20)
    with pytest.raises(UserError, match="log_prior returned shape"):
        estimators.kl_decomposition(mu, sigma, log_prior=lambda z: np.zeros((len(z), 2)))
    with pytest.raises(UserError, match="rate must be 20"):
        estimators.kl_decomposition(mu, sigma, log_prior=shifted_log_prior, rate=np.zeros(3))
    with pytest.raises(UserError, match="together"):
        estimators.prior_holes(mu, sigma, num_samples=10, log_prior=shifted_log_prior)
