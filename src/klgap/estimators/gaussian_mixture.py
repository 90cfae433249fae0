"""A full-covariance Gaussian mixture fitted by EM, all components in one matrix product per step.

``fit_gaussian_mixture`` runs the algorithm of scikit-learn's
``GaussianMixture(covariance_type="full", init_params="kmeans", n_init=1)`` step for step: the
first responsibilities are the labels of scikit-learn's k-means with the same random state, then
E- and M-steps until the mean log-likelihood changes by less than ``tol``. It differs in how a step
is computed. scikit-learn loops over the K components with a (N, D) x (D, D) product each; here
every log-density of a step is one product of the codes' second-order features
phi(x) = [x_i x_j for i <= j, x, 1], (N, F) with F = D (D + 1) / 2 + D + 1, with an (F, K) matrix of
the components' natural parameters, and the M-step's sufficient statistics are the product of the
responsibilities' transpose with the same features. The expanded quadratic form loses digits to
cancellation far from a component (covariances are at least ``reg_covar``), which float64
affords: the fit agrees with scikit-learn's to rounding, log-densities far out to a relative
1e-10 (``tests/test_gaussian_mixture.py``).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from klgap.errors import UserError

# The features of all codes are kept while they fit FEATURE_CACHE_BYTES, else computed again at
# every step; either way in blocks of rows below FEATURE_BLOCK_BYTES.
FEATURE_CACHE_BYTES = 256 * 2 ** 20
FEATURE_BLOCK_BYTES = 64 * 2 ** 20


@dataclass(frozen=True)
class GaussianMixtureFit:
    """A fitted mixture and how its EM ended.

    Attributes:
      weights: (K,) mixing weights, summing to 1.
      means: (K, D) component means.
      covariances: (K, D, D) component covariances (``reg_covar`` on their diagonals included).
      num_iterations: EM iterations run.
      converged: whether the mean log-likelihood changed by less than ``tol`` before
        ``max_iter`` iterations.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    num_iterations: int
    converged: bool

    def log_density(self, x) -> np.ndarray:
        """log sum_k w_k N(x; mu_k, Sigma_k) at (M, D) points; returns (M,)."""
        natural = _natural_parameters(self.weights, self.means, self.covariances)  # (F, K)
        x = np.asarray(x, np.float64)  # (M, D)
        return np.concatenate([logsumexp(_features(x[rows]) @ natural, axis=1)
                               for rows in _row_blocks(*x.shape)])


def fit_gaussian_mixture(codes, num_components: int, *, reg_covar: float, max_iter: int,
                         tol: float = 1e-3, random_state: int = 0) -> GaussianMixtureFit:
    """Fits a full-covariance Gaussian mixture by EM from a k-means start.

    Args:
      codes: (N, D) float64 points, N >= num_components.
      num_components: K.
      reg_covar: added to every covariance's diagonal.
      max_iter: EM iterations at most.
      tol: convergence threshold on the change of the mean log-likelihood.
      random_state: seed of the k-means start (as scikit-learn's ``random_state``).

    Returns:
      The ``GaussianMixtureFit``.

    Raises:
      UserError: fewer codes than components, or a covariance that is not positive definite.
    """
    from sklearn.cluster import KMeans

    codes = np.asarray(codes, np.float64)  # (N, D)
    num_codes = len(codes)
    if num_codes < num_components:
        raise UserError(f"{num_codes} codes cannot fit {num_components} Gaussian-mixture "
                        "components; use fewer components.")
    labels = KMeans(n_clusters=num_components, n_init=1,
                    random_state=np.random.RandomState(random_state)).fit(codes).labels_
    resp = np.zeros((num_codes, num_components))  # (N, K)
    resp[np.arange(num_codes), labels] = 1.0
    blocks = _feature_blocks(codes)
    weights, means, covariances = _m_step(codes.shape[1], resp, reg_covar, blocks())
    weights = weights / num_codes
    lower_bound, converged, iteration = -math.inf, False, 0
    for iteration in range(1, max_iter + 1):
        previous = lower_bound
        natural = _natural_parameters(weights, means, covariances)  # (F, K)
        resp, lower_bound = _e_step(natural, blocks())
        weights, means, covariances = _m_step(codes.shape[1], resp, reg_covar, blocks())
        weights = weights / weights.sum()
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return GaussianMixtureFit(weights, means, covariances, iteration, converged)


def _e_step(natural, blocks):
    """Responsibilities (N, K) and the mean log-likelihood, from the codes' feature blocks."""
    weighted = np.concatenate([features @ natural for _, features in blocks])  # (N, K)
    peak = weighted.max(axis=1, keepdims=True)  # (N, 1)
    with np.errstate(under="ignore"):
        resp = np.exp(weighted - peak, out=weighted)  # (N, K), unnormalized
    totals = resp.sum(axis=1, keepdims=True)  # (N, 1)
    resp /= totals
    return resp, float(np.mean(peak[:, 0] + np.log(totals[:, 0])))


def _m_step(num_dims: int, resp, reg_covar: float, blocks):
    """Weights (unnormalized: the responsibilities' sums plus scikit-learn's 10 eps), means and
    covariances, from the responsibilities (N, K) and the codes' feature blocks."""
    stats = sum(resp[rows].T @ features for rows, features in blocks)  # (K, F)
    upper = np.triu_indices(num_dims)
    num_upper = len(upper[0])
    totals = stats[:, -1]  # (K,) sum_n r_nk
    counts = totals + 10 * np.finfo(np.float64).eps  # (K,)
    sums = stats[:, num_upper:-1]  # (K, D) sum_n r_nk x_n
    means = sums / counts[:, None]  # (K, D)
    second = np.zeros((len(stats), num_dims, num_dims))  # (K, D, D) sum_n r_nk x_n x_n^T
    second[:, upper[0], upper[1]] = stats[:, :num_upper]
    second[:, upper[1], upper[0]] = stats[:, :num_upper]
    # sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T, expanded
    scatter = (second - np.einsum("ki,kj->kij", means, sums) - np.einsum("ki,kj->kij", sums, means)
               + totals[:, None, None] * np.einsum("ki,kj->kij", means, means))
    covariances = scatter / counts[:, None, None] + reg_covar * np.eye(num_dims)
    return counts, means, covariances


def _natural_parameters(weights, means, covariances) -> np.ndarray:
    """(F, K): columns w such that phi(x) . w = log w_k + log N(x; mu_k, Sigma_k)."""
    num_dims = means.shape[1]
    try:
        chol = np.linalg.cholesky(covariances)  # (K, D, D), lower
    except np.linalg.LinAlgError:
        raise UserError("a Gaussian-mixture covariance is not positive definite (collapsed "
                        "codes); use fewer components or a larger reg_covar.") from None
    chol_inv = np.linalg.inv(chol)  # (K, D, D)
    precisions = np.swapaxes(chol_inv, 1, 2) @ chol_inv  # (K, D, D)
    linear = np.einsum("kij,kj->ki", precisions, means)  # (K, D)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)  # (K,)
    constant = (np.log(weights) - 0.5 * (num_dims * math.log(2 * math.pi) + log_det
                                         + np.sum(linear * means, axis=1)))  # (K,)
    upper = np.triu_indices(num_dims)
    # x^T P x = sum_i P_ii x_i^2 + 2 sum_{i<j} P_ij x_i x_j
    quadratic = np.where(upper[0] == upper[1], -0.5, -1.0) * precisions[:, upper[0], upper[1]]
    return np.concatenate([quadratic, linear, constant[:, None]], axis=1).T


def _features(x) -> np.ndarray:
    """phi(x) = [x_i x_j for i <= j, x, 1], (M, F), of (M, D) points."""
    upper = np.triu_indices(x.shape[1])
    return np.concatenate([x[:, upper[0]] * x[:, upper[1]], x, np.ones((len(x), 1))], axis=1)


def num_features(num_dims: int) -> int:
    """F, the length of phi(x) for D = num_dims."""
    return num_dims * (num_dims + 1) // 2 + num_dims + 1


def _row_blocks(num_rows: int, num_dims: int) -> list:
    """Slices of rows whose features fit FEATURE_BLOCK_BYTES."""
    rows = max(1, FEATURE_BLOCK_BYTES // (8 * num_features(num_dims)))
    return [slice(start, start + rows) for start in range(0, num_rows, rows)]


def _feature_blocks(codes):
    """A function giving [(row slice, features of those codes)]: the blocks are computed once
    when all fit FEATURE_CACHE_BYTES, else at every call."""
    slices = _row_blocks(*codes.shape)
    if codes.size and len(codes) * 8 * num_features(codes.shape[1]) <= FEATURE_CACHE_BYTES:
        blocks = [(rows, _features(codes[rows])) for rows in slices]
        return lambda: blocks
    return lambda: ((rows, _features(codes[rows])) for rows in slices)
