"""Tests of the held-out bracket: a mixture of fit posteriors as q(z), evaluated at eval samples.

References: a Gaussian population, mu ~ N(0, s^2 I) with fixed sigma, whose aggregate posterior
is N(0, (s^2 + sigma^2) I) in closed form; brute-force SciPy on small random inputs; and the
in-sample estimator of ``kl_decomposition``, which the held-out one must equal when the fit set is
the eval set.
"""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from klgap import estimators
from klgap.estimators import mixture_numerics
from klgap.errors import UserError

MARGIN = 4.0  # standard errors


def population(rng, num, dim, spread, sigma, offsets=None, labels=None):
    """Posteriors of a Gaussian population: mu ~ N(offset_y, spread^2 I), constant sigma."""
    mu = rng.normal(0.0, spread, (num, dim))
    if offsets is not None:
        mu[:, 0] += offsets[labels]
    return mu, np.full((num, dim), sigma)


def population_kl(dim, spread, sigma, offset=0.0):
    """KL(N(offset e_0, v I) || N(0, I)) with v = spread^2 + sigma^2."""
    v = spread ** 2 + sigma ** 2
    return 0.5 * dim * (v - 1.0 - math.log(v)) + 0.5 * offset ** 2


@pytest.mark.parametrize("dim, num, seed", [(2, 20000, 1), (10, 4000, 2)])
def test_bracket_holds_for_a_gaussian_population(dim, num, seed):
    rng = np.random.default_rng(seed)
    spread, sigma = 1.0, 0.5
    mu_fit, sigma_fit = population(rng, num, dim, spread, sigma)
    mu_eval, sigma_eval = population(rng, num, dim, spread, sigma)
    truth = population_kl(dim, spread, sigma)
    heldout = estimators.heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=3)
    in_sample = estimators.kl_decomposition(mu_eval, sigma_eval, seed=3)
    se = heldout["aggregate_kl_lower_se"]
    assert (heldout["aggregate_kl_lower"] - MARGIN * se
            <= truth <= in_sample["aggregate_kl"] + MARGIN * se)
    truth_info = 0.5 * dim * math.log(1.0 + spread ** 2 / sigma ** 2)
    assert heldout["mutual_info_upper"] + MARGIN * heldout["mutual_info_upper_se"] >= truth_info
    if dim == 2:  # dense: 20,000 components in two dimensions; the bracket is tight
        assert abs(heldout["aggregate_kl_lower"] - truth) < MARGIN * se
        assert in_sample["aggregate_kl"] - heldout["aggregate_kl_lower"] < 0.05
    else:  # sparse in ten dimensions: the bracket is wide, and the truth inside it
        assert in_sample["aggregate_kl"] - heldout["aggregate_kl_lower"] > 0.5


def test_fit_equal_to_eval_gives_the_in_sample_values():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 500)
    mu, sigma = rng.normal(0, 1, (500, 4)), rng.uniform(0.2, 0.8, (500, 4))
    heldout = estimators.heldout_kl_decomposition(mu, sigma, mu, sigma, labels, labels, seed=5)
    in_sample = estimators.kl_decomposition(mu, sigma, labels, seed=5)
    assert heldout["rate"] == in_sample["rate"]
    # The held-out table runs in float64, the in-sample one's exponentials in float32.
    tolerance = 2 * mixture_numerics.SINGLE_PRECISION_ERROR
    assert heldout["aggregate_kl_lower"] == pytest.approx(in_sample["aggregate_kl"],
                                                          abs=tolerance)
    assert heldout["mutual_info_upper"] == pytest.approx(in_sample["mutual_info"], abs=tolerance)
    for label, value in in_sample["class_kl"].items():
        assert heldout["class_kl_lower"][label] == pytest.approx(value, abs=tolerance)


def test_a_duplicated_fit_set_is_the_same_mixture():
    rng = np.random.default_rng(6)
    mu, sigma = rng.normal(0, 1, (300, 3)), rng.uniform(0.1, 0.9, (300, 3))
    doubled = estimators.heldout_kl_decomposition(np.concatenate([mu, mu]),
                                                  np.concatenate([sigma, sigma]), mu, sigma,
                                                  seed=7)
    in_sample = estimators.kl_decomposition(mu, sigma, seed=7)  # float32 exponentials
    assert doubled["aggregate_kl_lower"] == pytest.approx(
        in_sample["aggregate_kl"], abs=2 * mixture_numerics.SINGLE_PRECISION_ERROR)


def brute_force_log_mixture(z, mu, sigma):
    """log (1/N) sum_n N(z_i; mu_n, diag sigma_n^2) with SciPy, (M,)."""
    log_density = stats.norm.logpdf(z[:, None, :], mu[None], sigma[None]).sum(axis=2)  # (M, N)
    return special.logsumexp(log_density, axis=1) - math.log(len(mu))


@pytest.mark.parametrize("sharpness", [1.0, 1e-3])
def test_agrees_with_brute_force_on_random_inputs(sharpness):
    rng = np.random.default_rng(8)
    labels_fit, labels_eval = rng.integers(0, 2, 60), rng.integers(0, 2, 40)
    mu_fit, mu_eval = rng.normal(0, 1, (60, 3)), rng.normal(0, 1, (40, 3))
    sigma_fit = sharpness * rng.uniform(0.1, 1.0, (60, 3))
    sigma_eval = sharpness * rng.uniform(0.1, 1.0, (40, 3))
    seed = 9
    result = estimators.heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval,
                                                 labels_fit, labels_eval, seed=seed)
    # The eval samples, drawn as the estimator documents (its sampling stream of the seed).
    noise = np.random.default_rng([seed, mixture_numerics.SAMPLE_STREAM]).standard_normal(
        mu_eval.shape)
    z = mu_eval + sigma_eval * noise
    log_p = stats.norm.logpdf(z).sum(axis=1)
    log_q_fit = brute_force_log_mixture(z, mu_fit, sigma_fit)
    # E[log q_fit - log p] with the rate in closed form (the estimator's zero-mean correction).
    log_own = stats.norm.logpdf(z, mu_eval, sigma_eval).sum(axis=1)
    rate = np.mean(np.sum(0.5 * (sigma_eval ** 2 + mu_eval ** 2 - 1) - np.log(sigma_eval), axis=1))
    assert result["aggregate_kl_lower"] == pytest.approx(rate - np.mean(log_own - log_q_fit),
                                                         rel=1e-9, abs=1e-9)
    if sharpness == 1.0:  # the direct form agrees within its Monte Carlo error
        assert abs(np.mean(log_q_fit - log_p) - result["aggregate_kl_lower"]) < 1.0
    log_class = np.stack([brute_force_log_mixture(z, mu_fit[labels_fit == k],
                                                  sigma_fit[labels_fit == k]) for k in (0, 1)],
                         axis=1)  # (M, 2) log q_fit(z|y)
    pi = np.bincount(labels_fit) / len(labels_fit)
    rows = np.arange(len(z))
    log_r = np.log(pi[labels_eval]) + log_class[rows, labels_eval] - log_q_fit
    frequencies = np.bincount(labels_eval) / len(labels_eval)
    entropy = -np.sum(frequencies * np.log(frequencies))
    assert result["label_info_lower"] == pytest.approx(entropy + np.mean(log_r), rel=1e-9,
                                                       abs=1e-9)
    for k in (0, 1):
        own = labels_eval == k
        class_rate = np.mean(np.sum(0.5 * (sigma_eval[own] ** 2 + mu_eval[own] ** 2 - 1)
                                    - np.log(sigma_eval[own]), axis=1))
        expected = class_rate - np.mean(log_own[own] - log_class[own, k])
        assert result["class_kl_lower"][k] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_samples_far_from_their_own_class_are_evaluated_exactly():
    # Sharp posteriors: class 0 near +3, class 1 near -3 along the first axis. Eval examples
    # labelled 1 sit among the class-0 components, so their own class lies thousands of nats
    # below the largest component (beyond exp's floor) and must be summed explicitly.
    rng = np.random.default_rng(10)
    labels_fit = np.repeat([0, 1], 50)
    mu_fit = rng.normal(0, 0.3, (100, 2))
    mu_fit[:, 0] += np.where(labels_fit == 0, 3.0, -3.0)
    sigma_fit = np.full((100, 2), 0.05)
    mu_eval = rng.normal(0, 0.3, (20, 2))
    mu_eval[:, 0] += 3.0
    sigma_eval = np.full((20, 2), 0.05)
    labels_eval = np.repeat([0, 1], 10)
    result = estimators.heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval,
                                                 labels_fit, labels_eval, seed=11)
    noise = np.random.default_rng([11, mixture_numerics.SAMPLE_STREAM]).standard_normal(
        mu_eval.shape)
    z = mu_eval + sigma_eval * noise
    own = labels_eval == 1
    log_class = brute_force_log_mixture(z[own], mu_fit[labels_fit == 1], sigma_fit[labels_fit == 1])
    assert np.all(log_class < -1000)
    log_own = stats.norm.logpdf(z[own], mu_eval[own], sigma_eval[own]).sum(axis=1)
    class_rate = np.mean(np.sum(0.5 * (sigma_eval[own] ** 2 + mu_eval[own] ** 2 - 1)
                                - np.log(sigma_eval[own]), axis=1))
    assert result["class_kl_lower"][1] == pytest.approx(class_rate - np.mean(log_own - log_class),
                                                        rel=1e-9)


def test_label_information_bounds_hold_for_two_gaussian_classes():
    rng = np.random.default_rng(12)
    num, dim, spread, sigma, offset = 20000, 3, 0.6, 0.5, 1.0
    offsets = np.array([offset, -offset])
    labels_fit, labels_eval = rng.integers(0, 2, num), rng.integers(0, 2, num)
    mu_fit, sigma_fit = population(rng, num, dim, spread, sigma, offsets, labels_fit)
    mu_eval, sigma_eval = population(rng, num, dim, spread, sigma, offsets, labels_eval)
    result = estimators.heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval,
                                                 labels_fit, labels_eval, seed=13)
    # I(y; z) = I(y; z_0): along the first axis z_0 | y ~ N(+-offset, v), a balanced mixture.
    scale = math.sqrt(spread ** 2 + sigma ** 2)

    def entropy_of_y_given(z0):
        a, b = stats.norm.pdf(z0, offset, scale), stats.norm.pdf(z0, -offset, scale)
        p = a / (a + b)
        return -special.xlogy(p, p) - special.xlogy(1 - p, 1 - p)

    def marginal(z0):
        return 0.5 * (stats.norm.pdf(z0, offset, scale) + stats.norm.pdf(z0, -offset, scale))

    conditional_entropy, _ = integrate.quad(lambda z0: marginal(z0) * entropy_of_y_given(z0),
                                            -12, 12)
    truth = math.log(2) - conditional_entropy
    assert result["label_info_lower"] - MARGIN * result["label_info_lower_se"] <= truth
    assert truth <= result["label_info_upper"]
    assert abs(result["label_info_lower"] - truth) < 0.02  # dense: close to the truth
    truth_class_kl = population_kl(dim, spread, sigma, offset)
    for label in (0, 1):
        lower = result["class_kl_lower"][label] - MARGIN * result["class_kl_lower_se"][label]
        assert lower <= truth_class_kl


def test_bad_inputs_are_refused():
    mu, sigma = np.zeros((5, 2)), np.ones((5, 2))
    with pytest.raises(UserError, match="latent dimensions"):
        estimators.heldout_kl_decomposition(mu, sigma, np.zeros((5, 3)), np.ones((5, 3)))
    with pytest.raises(UserError, match="one set only"):
        estimators.heldout_kl_decomposition(mu, sigma, mu, sigma, labels_fit=np.zeros(5, int))
    with pytest.raises(UserError):
        estimators.heldout_kl_decomposition(mu, -sigma, mu, sigma)


# --------------------------------------------------------------------------------------------
# Holes: prior samples where the aggregate posterior is thin
# --------------------------------------------------------------------------------------------


def holes_truth(dim, variance, ratio):
    """KL(p || q) and P_p(q/p < ratio) for q = N(0, variance I), variance < 1, p = N(0, I)."""
    kl = 0.5 * dim * (1.0 / variance - 1.0 + math.log(variance))
    # q/p < ratio  <=>  |z|^2 > c, and |z|^2 ~ chi^2_dim under p
    c = 2.0 * (math.log(ratio) + 0.5 * dim * math.log(variance)) / (1.0 - 1.0 / variance)
    return kl, stats.chi2.sf(c, dim)


@pytest.mark.parametrize("dim, num", [(2, 20000), (10, 4000)])
def test_prior_holes_of_a_gaussian_population(dim, num):
    rng = np.random.default_rng(30 + dim)
    spread, sigma = 0.4, 0.37  # q(z) = N(0, 0.2969 I): narrower than the prior
    mu, sigma = population(rng, num, dim, spread, sigma)
    result = estimators.prior_holes(mu, sigma, num_samples=20000, seed=1)
    kl, fraction = holes_truth(dim, spread ** 2 + 0.37 ** 2, estimators.HOLE_RATIO)
    assert result["prior_kl"] + MARGIN * result["prior_kl_se"] >= kl  # an upper bound
    assert result["hole_fraction"] + MARGIN * result["hole_fraction_se"] >= fraction
    if dim == 2:  # dense: close to the truth
        assert abs(result["prior_kl"] - kl) < MARGIN * result["prior_kl_se"]
        assert abs(result["hole_fraction"] - fraction) < MARGIN * result["hole_fraction_se"]


def test_posteriors_equal_to_the_prior_leave_no_holes():
    mu, sigma = np.zeros((50, 3)), np.ones((50, 3))
    result = estimators.prior_holes(mu, sigma, num_samples=1000, seed=2)
    assert result["prior_kl"] == pytest.approx(0.0, abs=1e-12)
    assert result["hole_fraction"] == 0.0


def test_prior_holes_refuse_bad_settings():
    mu, sigma = np.zeros((5, 2)), np.ones((5, 2))
    with pytest.raises(UserError, match="ratio"):
        estimators.prior_holes(mu, sigma, ratio=2.0)
    with pytest.raises(UserError, match="num_samples"):
        estimators.prior_holes(mu, sigma, num_samples=1)
