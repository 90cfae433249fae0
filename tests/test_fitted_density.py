"""Tests of fitted_density_kl, the N-free lower bound on KL(q(z) || p), and of the ceiling flag.

References: Gaussian populations (closed-form KL), a two-cluster population (Monte Carlo with the
exact population density), collapsed posteriors (KL = 0), and heldout_kl_decomposition, which the
unwidened mixture must reproduce when the validation rules are bypassed.
"""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import special, stats

from klgap.errors import UserError
from klgap.estimators import (
    CEILING_MARGIN,
    CeilingWarning,
    fitted_density,
    fitted_density_kl,
    heldout_kl_decomposition,
    kl_decomposition,
    mixture_numerics,
)

MARGIN = 3.0  # standard errors
FAST = ("mixture", "gmm")  # the families without TensorFlow


def gaussian_kl(mean, covariance):
    """KL(N(mean, covariance) || N(0, I)) in closed form."""
    dim = len(mean)
    return 0.5 * (np.trace(covariance) + mean @ mean - dim - np.linalg.slogdet(covariance)[1])


def sharp_gaussian_population(seed, num_fit=6000, num_eval=3000, sigma=1e-3):
    """Posteriors mu ~ N(m, S) (correlated S, shifted m) with sigma = 1e-3 in 3 dimensions.

    Returns:
      (mu_fit, sigma_fit, mu_eval, sigma_eval) and KL(N(m, S + sigma^2 I) || N(0, I)).
    """
    rng = np.random.default_rng(seed)
    mean = np.array([0.8, -0.5, 0.3])
    factor = np.array([[0.9, 0.0, 0.0], [0.5, 0.6, 0.0], [-0.3, 0.2, 0.4]])
    covariance = factor @ factor.T  # correlations up to ~0.8
    mu = rng.multivariate_normal(mean, covariance, num_fit + num_eval)  # (N, 3)
    sigmas = np.full(mu.shape, sigma)
    truth = gaussian_kl(mean, covariance + sigma ** 2 * np.eye(3))
    return mu[:num_fit], sigmas[:num_fit], mu[num_fit:], sigmas[num_fit:], truth


def test_sharp_gaussian_population_where_the_unwidened_mixture_is_vacuous():
    mu_fit, sigma_fit, mu_eval, sigma_eval, truth = sharp_gaussian_population(1)
    heldout = heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=2)
    assert heldout["aggregate_kl_lower"] < truth - 100  # vacuous: thousands of nats below
    result = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=2, families=FAST)
    assert result["family"] in FAST
    assert abs(result["aggregate_kl_lower"] - truth) < 0.3
    assert result["aggregate_kl_lower"] <= truth + MARGIN * result["aggregate_kl_lower_se"]
    for family in FAST:  # each family on its own is a bound, and a close one here
        value = result[f"{family}_aggregate_kl_lower"]
        se = result[f"{family}_aggregate_kl_lower_se"]
        assert value <= truth + MARGIN * se, family
        assert abs(value - truth) < 0.3, family
    assert result["mixture_bandwidth"] > 0  # widening was chosen
    assert result["gmm_components"] <= 2  # a Gaussian population needs one component


def test_flow_bounds_the_sharp_gaussian_population_and_is_deterministic():
    mu_fit, sigma_fit, mu_eval, sigma_eval, truth = sharp_gaussian_population(3, num_fit=4000,
                                                                             num_eval=2000)
    runs = [fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=4, families=("flow",),
                              flow_max_epochs=12) for _ in range(2)]
    result = runs[0]
    assert runs[1] == result  # a function of the seed
    assert result["flow_epochs"] >= 1
    value, se = result["flow_aggregate_kl_lower"], result["flow_aggregate_kl_lower_se"]
    assert value <= truth + MARGIN * se
    assert abs(value - truth) < 0.3
    assert result["flow_validation_log_likelihood"] > result["prior_validation_log_likelihood"]
    assert result["family"] == "flow"


def two_cluster_log_density(z, centres, variance):
    """log of the balanced mixture of N(centre_k, variance I), (M,)."""
    per_cluster = np.stack([stats.multivariate_normal(c, variance * np.eye(len(c))).logpdf(z)
                            for c in centres], axis=1)  # (M, 2)
    return special.logsumexp(per_cluster, axis=1) - math.log(len(centres))


def test_two_cluster_population_against_monte_carlo_with_the_exact_density():
    rng = np.random.default_rng(5)
    centres = np.array([[1.5, 0.5], [-1.0, -1.0]])
    spread, sigma = 0.3, 0.2  # mu ~ N(centre, spread^2 I); q(z|x) = N(mu, sigma^2 I)
    num_fit, num_eval = 5000, 3000
    cluster = rng.integers(0, 2, num_fit + num_eval)
    mu = centres[cluster] + spread * rng.standard_normal((num_fit + num_eval, 2))
    sigmas = np.full(mu.shape, sigma)
    # The population's aggregate posterior is the two clusters convolved with the posterior noise.
    variance = spread ** 2 + sigma ** 2
    reference_rng = np.random.default_rng(6)
    samples = (centres[reference_rng.integers(0, 2, 200_000)]
               + math.sqrt(variance) * reference_rng.standard_normal((200_000, 2)))
    log_ratio = (two_cluster_log_density(samples, centres, variance)
                 - stats.norm.logpdf(samples).sum(axis=1))
    reference, reference_se = np.mean(log_ratio), np.std(log_ratio) / math.sqrt(len(log_ratio))
    result = fitted_density_kl(mu[:num_fit], sigmas[:num_fit], mu[num_fit:], sigmas[num_fit:],
                               seed=7, families=FAST)
    se = math.hypot(result["aggregate_kl_lower_se"], reference_se)
    assert result["aggregate_kl_lower"] <= reference + MARGIN * se
    assert abs(result["aggregate_kl_lower"] - reference) < 0.1
    assert result["gmm_components"] >= 2


def test_the_component_search_stops_past_the_peak_and_keeps_the_peak_model():
    # Four separated clusters in 3 dimensions: the validation likelihood rises to about four
    # components and falls beyond.
    rng = np.random.default_rng(31)
    centres = 3.0 * rng.standard_normal((4, 3))
    mu = centres[rng.integers(0, 4, 4000)] + 0.4 * rng.standard_normal((4000, 3))
    sigma = np.full(mu.shape, 0.1)
    result = fitted_density_kl(mu[:3000], sigma[:3000], mu[3000:], sigma[3000:], seed=12,
                               families=("gmm",))
    curve, best = result["gmm_validation_curve"], result["gmm_components"]
    tried = list(curve)
    after = tried[tried.index(best) + 1:]
    assert len(after) == fitted_density.GMM_PATIENCE  # the search stops that many past the peak
    assert all(curve[k] < curve[best] for k in after)
    assert tried == list(fitted_density.GMM_COMPONENTS[:len(tried)])
    # A count's fit does not depend on which others were tried: searching it alone gives the
    # same density, so stopping sooner changes nothing while the curve has one peak.
    alone = fitted_density_kl(mu[:3000], sigma[:3000], mu[3000:], sigma[3000:], seed=12,
                              families=("gmm",), gmm_components=(best,))
    assert alone["gmm_aggregate_kl_lower"] == result["gmm_aggregate_kl_lower"]
    assert alone["gmm_validation_log_likelihood"] == result["gmm_validation_log_likelihood"]


def test_collapsed_posteriors_give_a_bound_at_zero():
    rng = np.random.default_rng(8)
    mu_fit, mu_eval = np.zeros((3000, 3)), np.zeros((2000, 3))
    result = fitted_density_kl(mu_fit, np.ones_like(mu_fit), mu_eval, np.ones_like(mu_eval),
                               seed=int(rng.integers(1000)), families=FAST)
    assert result["rate"] == 0.0
    assert result["aggregate_kl_lower"] <= MARGIN * result["aggregate_kl_lower_se"]
    for family in FAST:
        value = result[f"{family}_aggregate_kl_lower"]
        se = result[f"{family}_aggregate_kl_lower_se"]
        assert value <= MARGIN * se + 1e-12, family
        assert abs(value) < 0.02, family
    # The unwidened mixture of N(0, I) posteriors is the prior itself (its exponentials float32).
    assert abs(result["mixture_aggregate_kl_lower"]) < mixture_numerics.SINGLE_PRECISION_ERROR


@pytest.mark.parametrize("sigma_scale", [1.0, 1e-3])
def test_bandwidth_zero_without_validation_reproduces_heldout(sigma_scale):
    rng = np.random.default_rng(9)
    mu_fit, mu_eval = rng.normal(0, 1, (400, 3)), rng.normal(0, 1, (300, 3))
    sigma_fit = sigma_scale * rng.uniform(0.1, 0.8, (400, 3))
    sigma_eval = sigma_scale * rng.uniform(0.1, 0.8, (300, 3))
    heldout = heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=10)
    result = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=10,
                               families=("mixture",), bandwidths=(0.0,), control_variate=1.0)
    assert result["mixture_bandwidth"] == 0.0
    # The held-out bound's table runs in float64, the fitted mixture's exponentials in float32.
    assert result["mixture_aggregate_kl_lower"] == pytest.approx(
        heldout["aggregate_kl_lower"], rel=0, abs=mixture_numerics.SINGLE_PRECISION_ERROR)
    assert result["mixture_aggregate_kl_lower_se"] == pytest.approx(
        heldout["aggregate_kl_lower_se"], rel=1e-6)
    assert result["rate"] == heldout["rate"]


EVAL_INDEPENDENT = ("family", "mixture_bandwidth", "mixture_validation_curve",
                    "mixture_validation_log_likelihood", "mixture_control_variate",
                    "gmm_components", "gmm_validation_curve", "gmm_validation_log_likelihood",
                    "gmm_control_variate", "prior_validation_log_likelihood", "num_fit",
                    "num_validation")


def test_choices_never_depend_on_the_eval_codes():
    rng = np.random.default_rng(11)
    mu_fit = rng.normal(0.3, 0.7, (3000, 2))
    sigma_fit = rng.uniform(0.05, 0.2, (3000, 2))
    mu_eval, sigma_eval = rng.normal(0.3, 0.7, (1000, 2)), rng.uniform(0.05, 0.2, (1000, 2))
    permutation = rng.permutation(1000)
    other_mu, other_sigma = rng.normal(-2.0, 3.0, (500, 2)), rng.uniform(0.5, 1.0, (500, 2))
    runs = [fitted_density_kl(mu_fit, sigma_fit, m, s, seed=12, families=FAST)
            for m, s in ((mu_eval, sigma_eval), (mu_eval[permutation], sigma_eval[permutation]),
                         (other_mu, other_sigma))]
    for run in runs[1:]:
        for key in EVAL_INDEPENDENT:
            assert run[key] == runs[0][key], key
    # The permuted eval set is the same population: the bounds agree within their errors.
    difference = runs[1]["aggregate_kl_lower"] - runs[0]["aggregate_kl_lower"]
    assert abs(difference) < 2 * MARGIN * runs[0]["aggregate_kl_lower_se"]
    # And the same seed repeats everything.
    assert fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=12,
                             families=FAST) == runs[0]


def test_returned_terms_average_to_the_bound_and_change_nothing_else():
    rng = np.random.default_rng(31)
    mu_fit, mu_eval = rng.normal(0.2, 0.8, (1500, 2)), rng.normal(0.2, 0.8, (600, 2))
    sigma_fit, sigma_eval = np.full((1500, 2), 0.2), np.full((600, 2), 0.2)
    for families, num_eval_z in ((FAST, 1), (("gmm",), 3)):
        plain = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=32,
                                  families=families, num_eval_z=num_eval_z)
        with_terms = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=32,
                                       families=families, num_eval_z=num_eval_z,
                                       return_terms=True)
        terms = with_terms.pop("terms")
        assert with_terms == plain
        assert plain["family"] != "prior"
        assert terms.shape == (600,)
        assert np.mean(terms) == pytest.approx(plain["aggregate_kl_lower"], rel=1e-12, abs=1e-12)
        se = np.std(terms, ddof=1) / math.sqrt(600)
        assert se == pytest.approx(plain["aggregate_kl_lower_se"], rel=1e-6)
    # Collapsed posteriors: the prior is chosen (or ties), its terms are zeros.
    zeros = np.zeros((400, 2))
    prior = fitted_density_kl(zeros, np.ones_like(zeros), zeros[:50], np.ones((50, 2)), seed=33,
                              families=("gmm",), return_terms=True)
    if prior["family"] == "prior":
        np.testing.assert_array_equal(prior["terms"], np.zeros(50))
    assert np.mean(prior["terms"]) == pytest.approx(prior["aggregate_kl_lower"], abs=1e-12)


def test_control_variate_and_several_codes_keep_the_estimate_and_shrink_its_error():
    rng = np.random.default_rng(13)
    mu_fit, mu_eval = rng.normal(0, 0.8, (2000, 4)), rng.normal(0, 0.8, (2000, 4))
    sigma_fit, sigma_eval = np.full((2000, 4), 0.3), np.full((2000, 4), 0.3)
    runs = {(beta, k): fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=14,
                                         families=("gmm",), control_variate=beta, num_eval_z=k)
            for beta, k in ((None, 1), (0.0, 1), (1.0, 1), (None, 8))}
    fitted = runs[None, 1]
    assert 0.0 <= fitted["gmm_control_variate"] <= 1.0
    for run in runs.values():  # unbiased for every beta: all agree within their errors
        se = math.hypot(run["gmm_aggregate_kl_lower_se"], fitted["gmm_aggregate_kl_lower_se"])
        difference = run["gmm_aggregate_kl_lower"] - fitted["gmm_aggregate_kl_lower"]
        assert abs(difference) < 2 * MARGIN * se
    assert fitted["gmm_aggregate_kl_lower_se"] <= 1.05 * min(
        runs[0.0, 1]["gmm_aggregate_kl_lower_se"], runs[1.0, 1]["gmm_aggregate_kl_lower_se"])
    assert runs[None, 8]["gmm_aggregate_kl_lower_se"] < fitted["gmm_aggregate_kl_lower_se"]
    assert runs[None, 8]["num_eval_z"] == 8


def test_one_latent_dimension_skips_the_flow_with_a_reason():
    rng = np.random.default_rng(15)
    mu_fit, mu_eval = rng.normal(1.0, 0.5, (1000, 1)), rng.normal(1.0, 0.5, (500, 1))
    sigma_fit, sigma_eval = np.full((1000, 1), 0.1), np.full((500, 1), 0.1)
    result = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=16)
    assert "D >= 2" in result["flow_skipped"]
    assert math.isnan(result["flow_aggregate_kl_lower"])
    assert result["family"] in ("mixture", "gmm")
    truth = gaussian_kl(np.array([1.0]), np.array([[0.5 ** 2 + 0.1 ** 2]]))
    assert result["aggregate_kl_lower"] <= truth + MARGIN * result["aggregate_kl_lower_se"]
    assert abs(result["aggregate_kl_lower"] - truth) < 0.05


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-5])
def test_one_pass_mixture_density_matches_scipy_for_broad_and_sharp_components(scale):
    # Sharp components put most codes thousands of nats below the largest peak: those rows
    # take the two-pass path.
    rng = np.random.default_rng(18)
    mu, sigma = rng.normal(size=(300, 3)), scale * rng.uniform(0.1, 1.0, (300, 3))
    z = 1.5 * rng.normal(size=(200, 3))
    reference = (special.logsumexp(stats.norm.logpdf(z[:, None], mu[None], sigma[None]).sum(2),
                                   axis=1) - math.log(300))
    with mixture_numerics.worker_pool(1) as pool_map:
        values = fitted_density._log_mixture_density(mu, sigma, z, pool_map)
    np.testing.assert_allclose(values, reference, rtol=1e-12,
                               atol=mixture_numerics.SINGLE_PRECISION_ERROR)


def test_importing_the_estimators_imports_neither_tensorflow_nor_scikit_learn():
    code = ("import sys, klgap.estimators; "
            "print(sorted({'tensorflow', 'sklearn'} & set(sys.modules)))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"


GOOD = np.random.default_rng(0).normal(size=(20, 2))
ONES = np.ones((20, 2))


@pytest.mark.parametrize("kwargs, words", [
    ({"mu_fit": np.full((20, 2), np.nan)}, ["mu", "non-finite"]),
    ({"sigma_eval": -ONES}, ["sigma", "<= 0"]),
    ({"mu_eval": np.zeros((20, 3)), "sigma_eval": np.ones((20, 3))}, ["latent dimensions"]),
    ({"mu_fit": GOOD[:3], "sigma_fit": ONES[:3]}, ["fewer than 2", "validation_fraction"]),
    ({"families": ("mixture", "kde")}, ["unknown", "'kde'", "choose from"]),
    ({"families": "gmm"}, ["sequence", "('gmm',)"]),
    ({"families": ()}, ["families", "empty"]),
    ({"families": ("gmm", "gmm")}, ["twice"]),
    ({"seed": -1}, ["seed", "non-negative"]),
    ({"validation_fraction": 1.0}, ["validation_fraction", "(0, 1)"]),
    ({"num_eval_z": 0}, ["num_eval_z"]),
    ({"bandwidths": (0.1, -1.0)}, ["bandwidths", "-1.0"]),
    ({"bandwidths": 0.1}, ["bandwidths", "sequence"]),
    ({"gmm_components": (0,)}, ["gmm_components"]),
    ({"control_variate": math.nan}, ["control_variate"]),
])
def test_bad_input_raises_user_error_naming_problem_and_fix(kwargs, words):
    arguments = {"mu_fit": GOOD, "sigma_fit": ONES, "mu_eval": GOOD, "sigma_eval": ONES,
                 "families": ("gmm",)}
    arguments.update(kwargs)
    with pytest.raises(UserError) as error:
        fitted_density_kl(**arguments)
    for word in words:
        assert word in str(error.value)


# --------------------------------------------------------------------------------------------
# kl_decomposition flags estimates at the ceiling log N
# --------------------------------------------------------------------------------------------


def test_decomposition_at_the_ceiling_warns_and_names_the_fitted_bound():
    mu = 10.0 * np.arange(200, dtype=float)[:, None] * np.ones((1, 2))  # far apart
    with pytest.warns(CeilingWarning, match="fitted_density_kl") as record:
        result = kl_decomposition(mu, np.full(mu.shape, 1e-3), seed=1, marginals="none")
    assert len(record) == 1
    assert result["at_ceiling"] is True
    assert result["mutual_info"] >= result["log_n"] - CEILING_MARGIN


def test_decomposition_below_the_ceiling_does_not_warn():
    rng = np.random.default_rng(17)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CeilingWarning)
        result = kl_decomposition(rng.normal(size=(200, 2)), np.full((200, 2), 0.5), seed=1,
                                  marginals="none")
    assert result["at_ceiling"] is False
    assert result["log_n"] == math.log(200)
