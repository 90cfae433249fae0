"""klgap.estimators.gaussian_mixture against scikit-learn's GaussianMixture and closed forms."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from klgap.errors import UserError
from klgap.estimators import gaussian_mixture
from klgap.estimators.gaussian_mixture import fit_gaussian_mixture


def clustered_codes(seed: int, num_codes: int, num_dims: int, num_clusters: int) -> np.ndarray:
    """Standardized codes from clusters of random centres, scales and correlations."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((num_clusters, num_dims))  # (C, D)
    factors = rng.standard_normal((num_clusters, num_dims, num_dims))  # (C, D, D)
    factors *= rng.uniform(0.01, 0.6, size=(num_clusters, 1, 1))  # sharp to broad clusters
    cluster = rng.integers(num_clusters, size=num_codes)  # (N,)
    noise = rng.standard_normal((num_codes, num_dims))  # (N, D)
    codes = centres[cluster] + np.einsum("nij,nj->ni", factors[cluster], noise)
    return (codes - codes.mean(axis=0)) / codes.std(axis=0)


@pytest.mark.parametrize("seed, num_dims, num_clusters, num_components", [
    (0, 2, 3, 1), (1, 2, 3, 4), (2, 10, 4, 8), (3, 10, 6, 32), (4, 5, 2, 16), (5, 20, 3, 4)])
def test_the_fit_is_scikit_learns_to_rounding(seed, num_dims, num_clusters, num_components):
    codes = clustered_codes(seed, 3000, num_dims, num_clusters)
    points = 1.5 * np.random.default_rng([seed, 1]).standard_normal((500, num_dims))
    reference = GaussianMixture(num_components, covariance_type="full", reg_covar=1e-4,
                                max_iter=200, random_state=seed + 7).fit(codes)
    fit = fit_gaussian_mixture(codes, num_components, reg_covar=1e-4, max_iter=200,
                               random_state=seed + 7)
    assert fit.num_iterations == reference.n_iter_
    assert fit.converged == reference.converged_
    np.testing.assert_allclose(fit.weights, reference.weights_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(fit.means, reference.means_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.covariances, reference.covariances_, rtol=0, atol=1e-8)
    for x in (codes[:500], points):  # far points' log-densities run to -1e4: relative error
        np.testing.assert_allclose(fit.log_density(x), reference.score_samples(x),
                                   rtol=1e-10, atol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_unconverged_fit_stops_at_max_iter_like_scikit_learn():
    codes = clustered_codes(11, 2000, 4, 5)
    reference = GaussianMixture(16, covariance_type="full", reg_covar=1e-4, max_iter=3,
                                random_state=2).fit(codes)
    fit = fit_gaussian_mixture(codes, 16, reg_covar=1e-4, max_iter=3, random_state=2)
    assert (fit.num_iterations, fit.converged) == (3, False) == (reference.n_iter_,
                                                                 reference.converged_)
    np.testing.assert_allclose(fit.log_density(codes), reference.score_samples(codes),
                               rtol=0, atol=1e-9)


def test_one_component_is_the_regularized_gaussian_of_the_codes():
    rng = np.random.default_rng(21)
    codes = rng.standard_normal((4000, 3)) @ rng.standard_normal((3, 3)) + rng.standard_normal(3)
    fit = fit_gaussian_mixture(codes, 1, reg_covar=1e-3, max_iter=50, random_state=0)
    covariance = np.cov(codes, rowvar=False, bias=True) + 1e-3 * np.eye(3)
    np.testing.assert_allclose(fit.means[0], codes.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(fit.covariances[0], covariance, atol=1e-10)
    points = rng.standard_normal((100, 3)) * 4.0
    reference = multivariate_normal(codes.mean(axis=0), covariance).logpdf(points)
    np.testing.assert_allclose(fit.log_density(points), reference, rtol=1e-12, atol=1e-9)


def test_blocks_of_rows_give_the_unblocked_fit(monkeypatch):
    codes = clustered_codes(31, 1500, 6, 3)
    whole = fit_gaussian_mixture(codes, 4, reg_covar=1e-4, max_iter=100, random_state=3)
    monkeypatch.setattr(gaussian_mixture, "FEATURE_BLOCK_BYTES", 8 * 28 * 100)  # 100 rows
    monkeypatch.setattr(gaussian_mixture, "FEATURE_CACHE_BYTES", 0)  # computed at every step
    blocked = fit_gaussian_mixture(codes, 4, reg_covar=1e-4, max_iter=100, random_state=3)
    assert blocked.num_iterations == whole.num_iterations
    np.testing.assert_allclose(blocked.covariances, whole.covariances, rtol=0, atol=1e-10)
    np.testing.assert_allclose(blocked.log_density(codes), whole.log_density(codes),
                               rtol=0, atol=1e-10)


def test_fewer_codes_than_components_is_refused():
    with pytest.raises(UserError, match="fewer components"):
        fit_gaussian_mixture(np.zeros((3, 2)), 4, reg_covar=1e-4, max_iter=10)
