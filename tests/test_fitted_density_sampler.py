"""The fitted density's sampler (``fitted_density_kl(return_density=True)``) draws from its density.

A known 2-D case: two clusters of posteriors. For each family the chosen density r is returned
with its sampler; the samples' mean and covariance are compared with r's, computed by quadrature
of ``log_prob`` on a grid, and each dimension's samples with r's marginal CDF (Kolmogorov-Smirnov).
"""

import numpy as np
import pytest
from scipy import stats

from klgap.estimators import fitted_density

NUM_SAMPLES = 20_000
GRID = np.linspace(-6.0, 6.0, 241)  # spacing 0.05, wide enough for the clusters below


def two_cluster_posteriors(seed: int = 0, num: int = 2000):
    """Posteriors around (-1.5, 0.5) and (1.5, -0.5), spread 0.5, sd 0.3; (N, 2) each."""
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random(num)[:, None] < 0.5, [-1.5, 0.5], [1.5, -0.5])
    return centres + 0.5 * rng.standard_normal((num, 2)), np.full((num, 2), 0.3)


def grid_moments(log_prob):
    """Mean (2,), covariance (2, 2) and marginal CDFs of r on ``GRID`` x ``GRID``."""
    z1, z2 = np.meshgrid(GRID, GRID, indexing="ij")
    points = np.column_stack([z1.ravel(), z2.ravel()])  # (G^2, 2)
    weights = np.exp(log_prob(points)).reshape(z1.shape)  # (G, G)
    weights /= weights.sum()
    mean = np.array([np.sum(weights * z1), np.sum(weights * z2)])
    centred = points - mean
    covariance = (centred * weights.ravel()[:, None]).T @ centred
    cdfs = [np.cumsum(weights.sum(axis=1)), np.cumsum(weights.sum(axis=0))]
    return mean, covariance, cdfs


@pytest.mark.parametrize("family", ["mixture", "gmm",
                                    pytest.param("flow", marks=pytest.mark.slow)])
def test_samples_have_the_density_moments_and_marginals(family):
    mu, sigma = two_cluster_posteriors()
    result = fitted_density.fitted_density_kl(mu, sigma, mu[:500], sigma[:500], seed=3,
                                              families=(family,), num_threads=1,
                                              flow_max_epochs=5, return_density=True)
    density = result["density"]
    assert density.family == result["family"] == family  # the clusters beat N(0, I)
    samples = density.sample(NUM_SAMPLES, [7, 1])  # (M, 2)
    assert samples.shape == (NUM_SAMPLES, 2)
    np.testing.assert_array_equal(samples, density.sample(NUM_SAMPLES, [7, 1]))  # seeded
    mean, covariance, cdfs = grid_moments(density.log_prob)
    # sample moments within five standard errors of the density's
    mean_se = np.sqrt(np.diag(covariance) / NUM_SAMPLES)
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - mean), 5 * mean_se)
    sample_cov = np.cov(samples, rowvar=False)
    cov_se = np.sqrt((covariance ** 2 + np.outer(np.diag(covariance), np.diag(covariance)))
                     / NUM_SAMPLES)  # Gaussian approximation of the covariance's error
    np.testing.assert_array_less(np.abs(sample_cov - covariance), 5 * cov_se + 0.01)
    for dim in range(2):  # KS against r's marginal (grid CDF, interpolated)
        cdf = lambda x, c=cdfs[dim]: np.interp(x, GRID + 0.025, c)  # noqa: E731 (cell edges)
        assert stats.kstest(samples[:, dim], cdf).pvalue > 1e-3


def test_the_prior_family_samples_the_standard_normal():
    mu = np.random.default_rng(1).standard_normal((400, 3)) * 1e-3  # collapsed: r = p wins
    result = fitted_density.fitted_density_kl(mu, np.ones_like(mu), mu, np.ones_like(mu),
                                              seed=0, families=("gmm",), num_threads=1,
                                              return_density=True)
    density = result["density"]
    if density.family != "prior":
        pytest.skip("the gmm matched N(0, I) on validation; the prior was not chosen")
    samples = density.sample(NUM_SAMPLES, 5)
    for dim in range(3):
        assert stats.kstest(samples[:, dim], "norm").pvalue > 1e-3
    np.testing.assert_allclose(density.log_prob(np.zeros((1, 3))), -1.5 * np.log(2 * np.pi))
