"""Tests of klgap.estimators' decompositions (in-sample, minibatch) against closed forms and an
independent brute-force SciPy reference."""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from klgap import estimators
from klgap.estimators import fitted_density, marginals, mixture_numerics
from klgap.errors import UserError


def random_posteriors(seed, num_examples=400, num_dims=3, spread=1.0, sigma_range=(0.1, 0.6)):
    """Means ~ N(0, spread^2), standard deviations uniform in sigma_range; (N, D) each."""
    rng = np.random.default_rng(seed)
    mu = spread * rng.standard_normal((num_examples, num_dims))
    sigma = rng.uniform(*sigma_range, size=(num_examples, num_dims))
    return mu, sigma


def separated_posteriors(num_examples, sigma=1e-3, spacing=1.0):
    """Means on a 2-D lattice with the given spacing, all standard deviations equal; (N, 2)."""
    side = math.ceil(math.sqrt(num_examples))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2)
    mu = spacing * (grid[:num_examples] - side / 2.0)
    return mu, np.full(mu.shape, sigma)


def brute_force_log_densities(mu, sigma, z):
    """log q(z_i|x_n) (M, N) and log N(z_ij; mu_nj, s_nj^2) (M, N, D) by explicit broadcasting."""
    per_dim = stats.norm.logpdf(z[:, None, :], loc=mu[None], scale=sigma[None])  # (M, N, D)
    return per_dim.sum(axis=2), per_dim


def brute_force_decomposition(mu, sigma, labels, sample_index, z):
    """The documented estimators, computed independently with SciPy on the given samples."""
    num_examples = len(mu)
    joint, per_dim = brute_force_log_densities(mu, sigma, z)
    log_q_z = special.logsumexp(joint, axis=1) - math.log(num_examples)  # (M,)
    log_q_marginals = special.logsumexp(per_dim, axis=1) - math.log(num_examples)  # (M, D)
    log_q_own = joint[np.arange(len(z)), sample_index]
    log_p = stats.norm.logpdf(z).sum(axis=1)
    kl = np.array([0.5 * (np.sum(s ** 2) + m @ m - len(m)) - np.sum(np.log(s))
                   for m, s in zip(mu, sigma)])
    rate = kl.mean()
    mutual_info = np.mean(log_q_own - log_q_z)
    dimwise = np.mean(np.sum(log_q_marginals - stats.norm.logpdf(z), axis=1))
    out = {
        "rate": rate, "mutual_info": mutual_info, "aggregate_kl": rate - mutual_info,
        "dimwise_kl": dimwise, "total_correlation": rate - mutual_info - dimwise,
        # textbook forms, equal in expectation
        "aggregate_kl_direct": np.mean(log_q_z - log_p),
        "total_correlation_direct": np.mean(log_q_z - log_q_marginals.sum(axis=1)),
    }
    if labels is not None:
        sample_labels = labels[sample_index]
        log_q_given_y = np.empty(len(z))
        out["class_kl"] = {}
        for y in np.unique(labels):
            members = labels == y
            log_q_y = special.logsumexp(joint[:, members], axis=1) - math.log(members.sum())
            log_q_given_y[sample_labels == y] = log_q_y[sample_labels == y]
            in_class = sample_labels == y
            out["class_kl"][int(y)] = kl[members].mean() - np.mean(
                log_q_own[in_class] - log_q_y[in_class])
            out[f"class_kl_direct_{int(y)}"] = np.mean(log_q_y[in_class] - log_p[in_class])
        out["label_info"] = np.mean(log_q_given_y - log_q_z)
    return out


# --------------------------------------------------------------------------------------------
# Closed forms and limiting cases
# --------------------------------------------------------------------------------------------


def test_posteriors_equal_to_prior_give_zero_everywhere():
    mu, sigma = np.zeros((500, 3)), np.ones((500, 3))
    labels = np.arange(500) % 4
    result = estimators.kl_decomposition(mu, sigma, labels, seed=1)
    assert result["rate"] == 0.0
    assert result["moment_matched_kl"] == pytest.approx(0.0, abs=1e-12)
    for key in ("mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl", "label_info"):
        assert abs(result[key]) < 1e-12, key
    assert max(abs(v) for v in result["class_kl"].values()) < 1e-12


def test_rate_matches_independent_closed_form_and_quadrature():
    mu, sigma = random_posteriors(seed=2, num_examples=50, num_dims=4)
    # KL of multivariate Gaussians with full covariance matrices, via slogdet and trace
    kl = []
    for m, s in zip(mu, sigma):
        covariance = np.diag(s ** 2)
        kl.append(0.5 * (np.trace(covariance) + m @ m - 4 - np.linalg.slogdet(covariance)[1]))
    result = estimators.kl_decomposition(mu, sigma, seed=0)
    assert result["rate"] == pytest.approx(np.mean(kl), rel=1e-12)
    # one coordinate by numerical integration of q log(q/p)
    m, s = mu[0, 0], sigma[0, 0]

    def integrand(z):
        return stats.norm.pdf(z, m, s) * (stats.norm.logpdf(z, m, s) - stats.norm.logpdf(z))

    by_quadrature = integrate.quad(integrand, m - 12 * s, m + 12 * s)[0]
    assert estimators.gaussian_kl_to_standard_normal(m, s) == pytest.approx(by_quadrature,
                                                                            rel=1e-8)


def test_gaussian_population_matches_analytic_information_and_kl():
    """mu_n ~ N(0, s^2 I), sigma fixed: q(z) -> N(0, (s^2 + sigma^2) I) and
    I(x; z) = D/2 log(1 + s^2/sigma^2) (a Gaussian channel)."""
    num_examples, num_dims, spread, posterior_sd = 20000, 2, 1.5, 0.5
    rng = np.random.default_rng(3)
    mu = spread * rng.standard_normal((num_examples, num_dims))
    sigma = np.full(mu.shape, posterior_sd)
    result = estimators.kl_decomposition(mu, sigma, seed=4)

    info = 0.5 * num_dims * math.log(1 + spread ** 2 / posterior_sd ** 2)
    variance = spread ** 2 + posterior_sd ** 2
    aggregate = 0.5 * num_dims * (variance - 1 - math.log(variance))
    # sampling error of the N means (finite population) plus Monte Carlo error
    assert abs(result["mutual_info"] - info) < 4 * result["mutual_info_se"] + 0.02
    assert abs(result["aggregate_kl"] - aggregate) < 4 * result["aggregate_kl_se"] + 0.02
    assert abs(result["dimwise_kl"] - aggregate) < 4 * result["dimwise_kl_se"] + 0.02
    assert abs(result["total_correlation"]) < 4 * result["total_correlation_se"] + 0.01
    assert result["moment_matched_kl"] == pytest.approx(aggregate, abs=0.02)


def test_moment_matched_kl_is_the_gaussian_closed_form():
    mu, sigma = random_posteriors(seed=5, num_examples=300, num_dims=3)
    mean = mu.mean(axis=0)
    covariance = np.cov(mu.T, bias=True) + np.diag(np.mean(sigma ** 2, axis=0))
    # KL(N(m, S) || N(0, I)) = E_N(m,S)[log N(m, S) - log N(0, I)] = -H - E log p
    entropy = stats.multivariate_normal(mean, covariance).entropy()
    cross_entropy = 0.5 * (np.trace(covariance) + mean @ mean + 3 * math.log(2 * math.pi))
    assert estimators.moment_matched_kl(mu, sigma) == pytest.approx(cross_entropy - entropy,
                                                                    rel=1e-10)


def test_separated_sharp_posteriors_carry_log_n_nats():
    mu, sigma = separated_posteriors(1000)
    result = estimators.kl_decomposition(mu, sigma, seed=6)
    assert result["mutual_info"] == pytest.approx(math.log(1000), abs=1e-6)
    assert result["mutual_info_se"] < 1e-6
    assert result["aggregate_kl"] == pytest.approx(result["rate"] - math.log(1000), abs=1e-6)


@pytest.mark.parametrize("sigma, spacing, tolerance", [
    # z^2/(2 s^2) ~ 1e10: the matrix-product form is used, within the accepted rounding error.
    (1e-3, 100.0, mixture_numerics.CANCELLATION_TOLERANCE),
    # ~1e14: its bound would exceed the tolerance, so the explicit form is used, exact.
    (1e-5, 1000.0, 1e-9),
])
def test_sharp_posteriors_far_apart_do_not_lose_precision_to_cancellation(sigma, spacing,
                                                                          tolerance):
    mu, sigma = separated_posteriors(100, sigma=sigma, spacing=spacing)
    labels = np.arange(100) % 3
    result = estimators.kl_decomposition(mu, sigma, labels, seed=32)
    assert result["mutual_info"] == pytest.approx(math.log(100), abs=tolerance)
    assert result["label_info"] == pytest.approx(
        np.mean(np.log(100 / np.bincount(labels)[labels])), abs=tolerance)


# --------------------------------------------------------------------------------------------
# Identities and bounds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("marginals", ["exact", "grid"])
def test_identities_hold_on_the_same_samples(marginals):
    mu, sigma = random_posteriors(seed=7, num_examples=1500)
    labels = np.random.default_rng(8).integers(0, 5, len(mu))
    r = estimators.kl_decomposition(mu, sigma, labels, seed=9, marginals=marginals)
    assert r["rate"] == pytest.approx(r["mutual_info"] + r["aggregate_kl"], abs=1e-12)
    assert r["aggregate_kl"] == pytest.approx(r["total_correlation"] + r["dimwise_kl"], abs=1e-12)
    class_weights = np.bincount(labels) / len(labels)
    average_class_kl = sum(w * r["class_kl"][y] for y, w in enumerate(class_weights))
    assert average_class_kl == pytest.approx(r["label_info"] + r["aggregate_kl"], abs=1e-10)


def test_class_identity_holds_within_monte_carlo_error_on_a_subsample():
    mu, sigma = random_posteriors(seed=10, num_examples=3000)
    labels = (mu[:, 0] > 0).astype(int) + 2 * (mu[:, 1] > 0.5)
    r = estimators.kl_decomposition(mu, sigma, labels, num_z=800, seed=11)
    class_weights = np.bincount(labels) / len(labels)
    average_class_kl = sum(w * r["class_kl"][y] for y, w in enumerate(class_weights))
    tolerance = 4 * math.sqrt(sum((w * r["class_kl_se"][y]) ** 2
                                  for y, w in enumerate(class_weights))
                              + r["label_info_se"] ** 2 + r["aggregate_kl_se"] ** 2)
    assert abs(average_class_kl - r["label_info"] - r["aggregate_kl"]) < tolerance
    assert r["rate"] == pytest.approx(r["mutual_info"] + r["aggregate_kl"], abs=1e-12)


SPREAD_SEEDS = 40  # the spread's relative standard error: 1 / sqrt(2 * 39) = 11%


@pytest.mark.parametrize("case, keys", [
    ("population", ["mutual_info", "dimwise_kl", "total_correlation", "label_info"]),
    # sharp, separated posteriors: the variation between examples is large, the Monte Carlo
    # error of the total correlation small (the old per-example standard error was 40x too big)
    ("separated", ["total_correlation", "dimwise_kl"]),
])
def test_standard_errors_match_the_spread_over_independent_draws(case, keys):
    rng = np.random.default_rng(21)
    if case == "population":
        mu, sigma = rng.normal(0, 1, (2000, 4)), np.full((2000, 4), 0.5)
    else:
        mu, sigma = rng.normal(0, 3, (2000, 4)), np.full((2000, 4), 0.02)
    labels = rng.integers(0, 3, 2000)
    runs = [estimators.kl_decomposition(mu, sigma, labels, seed=100 + k)
            for k in range(SPREAD_SEEDS)]
    for key in keys:
        spread = np.std([r[key] for r in runs], ddof=1)
        reported = np.mean([r[f"{key}_se"] for r in runs])
        # about 3 standard errors of the spread either way
        assert 0.7 < reported / spread < 1.4, (key, reported, spread)


def test_class_standard_errors_match_the_spread_on_a_subsample():
    mu, sigma = random_posteriors(seed=22, num_examples=3000, num_dims=4)
    labels = (mu[:, 0] > 0).astype(int)
    runs = [estimators.kl_decomposition(mu, sigma, labels, num_z=1000, seed=300 + k)
            for k in range(SPREAD_SEEDS)]
    for label in (0, 1):
        spread = np.std([r["class_kl"][label] for r in runs], ddof=1)
        reported = np.mean([r["class_kl_se"][label] for r in runs])
        assert 0.7 < reported / spread < 1.5, (label, reported, spread)


@pytest.mark.parametrize("seed", [12, 13, 14])
def test_bounds_hold_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    num_dims = int(rng.integers(1, 5))
    mu, sigma = random_posteriors(seed, num_examples=800, num_dims=num_dims,
                                  spread=float(rng.uniform(0.2, 3)), sigma_range=(0.05, 1.0))
    num_classes = int(rng.integers(2, 8))
    labels = rng.integers(0, num_classes, len(mu))
    r = estimators.kl_decomposition(mu, sigma, labels, seed=seed)
    assert r["moment_matched_kl"] <= r["aggregate_kl"] + 3 * r["aggregate_kl_se"]
    assert r["label_info"] <= math.log(num_classes)
    assert -3 * r["mutual_info_se"] <= r["mutual_info"] <= math.log(len(mu))
    assert r["dimwise_kl"] >= -3 * r["dimwise_kl_se"]


# --------------------------------------------------------------------------------------------
# Agreement with the brute-force reference
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("marginals,num_z", [("exact", None), ("grid", None), ("exact", 150)])
def test_agrees_with_brute_force_scipy_on_the_same_samples(marginals, num_z):
    mu, sigma = random_posteriors(seed=15, num_examples=600, num_dims=3, sigma_range=(0.05, 0.8))
    labels = np.random.default_rng(16).integers(0, 3, len(mu))
    result = estimators.kl_decomposition(mu, sigma, labels, num_z=num_z, seed=17,
                                         marginals=marginals)
    sample_index, z, log_q_own = mixture_numerics.sample_posteriors(mu, sigma, num_z, 17)
    for i in range(10):  # the samples' own densities, by SciPy's multivariate normal
        n = sample_index[i]
        own = stats.multivariate_normal(mu[n], np.diag(sigma[n] ** 2)).logpdf(z[i])
        assert log_q_own[i].sum() == pytest.approx(own, abs=1e-10)
    reference = brute_force_decomposition(mu, sigma, labels, sample_index, z)
    # Differences of two log-sums whose exponentials ran in float32 (mixture_numerics).
    tolerance = 2 * mixture_numerics.SINGLE_PRECISION_ERROR
    for key in ("rate", "mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl",
                "label_info"):
        assert result[key] == pytest.approx(reference[key], abs=tolerance), key
    for y, value in reference["class_kl"].items():
        assert result["class_kl"][y] == pytest.approx(value, abs=tolerance)
    # the textbook forms estimate the same quantities
    for key in ("aggregate_kl", "total_correlation"):
        se = result[f"{key}_se"] + result["dimwise_kl_se"]
        assert abs(reference[f"{key}_direct"] - result[key]) < 5 * se + 0.02, key


def test_joint_table_matches_scipy_multivariate_normal():
    mu, sigma = random_posteriors(seed=18, num_examples=40, num_dims=3)
    z = np.random.default_rng(19).standard_normal((30, 3))
    labels = np.arange(40) % 2
    mixture = mixture_numerics.DiagonalGaussianMixture(mu, sigma, labels, 2)
    shift = np.zeros(len(z))
    pool = lambda f, items: [f(i) for i in items]  # noqa: E731
    table = np.stack([stats.multivariate_normal(m, np.diag(s ** 2)).logpdf(z)
                      for m, s in zip(mu, sigma)], axis=1)  # (M, N)
    for single, tolerance in ((True, mixture_numerics.SINGLE_PRECISION_ERROR), (False, 1e-10)):
        log_sums = mixture.log_class_sums(z, shift, pool, single_precision=single)
        for k in range(2):
            np.testing.assert_allclose(log_sums[:, k],
                                       special.logsumexp(table[:, labels == k], axis=1),
                                       atol=tolerance)


@pytest.mark.parametrize("sigma_range,spread", [((0.05, 0.3), 1.0), ((0.8, 1.2), 0.1),
                                                ((1e-3, 1e-2), 1.0), ((1e-3, 2.0), 2.0)])
def test_grid_marginals_match_brute_force(sigma_range, spread):
    rng = np.random.default_rng(20)
    mu = spread * rng.standard_normal(2000)
    sigma = np.exp(rng.uniform(*np.log(sigma_range), size=2000))
    points = np.concatenate([mu + sigma * rng.standard_normal(2000), rng.uniform(-4, 4, 500)])
    reference = special.logsumexp(stats.norm.logpdf(points[:, None], mu, sigma), axis=1)
    np.testing.assert_allclose(marginals._log_mixture_1d_grid(points, mu, sigma), reference,
                               rtol=0, atol=1e-8)


def test_quintic_hermite_reproduces_quintics():
    rng = np.random.default_rng(21)
    polynomial = np.polynomial.Polynomial(rng.standard_normal(6))
    left, right = -0.7, 1.3
    ends = [np.tile([p(x) for p in (polynomial, polynomial.deriv(1), polynomial.deriv(2))],
                    (100, 1)) for x in (left, right)]
    points = rng.uniform(left, right, 100)
    interpolated = marginals._quintic_hermite(np.full(100, left), np.full(100, right - left),
                                               ends[0], ends[1], points)
    np.testing.assert_allclose(interpolated, polynomial(points), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Minibatch estimators
# --------------------------------------------------------------------------------------------


def minibatch_mutual_info(mu, sigma, batch_size, log_weights_for, seed):
    """I(x; z) from minibatch estimates of log q(z_i) with the given log-weight matrices."""
    num_examples = len(mu)
    _, z, own = mixture_numerics.sample_posteriors(mu, sigma, None, seed)
    order = np.random.default_rng(seed + 1000).permutation(num_examples)
    info = []
    for start in range(0, num_examples, batch_size):
        batch = order[start:start + batch_size]
        table, _ = brute_force_log_densities(mu[batch], sigma[batch], z[batch])  # (M, M)
        log_q_z = special.logsumexp(table + log_weights_for(len(batch), num_examples), axis=1)
        info.append(own[batch].sum(axis=1) - log_q_z)
    return float(np.mean(np.concatenate(info)))


def column_bug_log_weights(batch_size, num_examples):
    """The reference implementation's pattern (see ANCHORS.md): weights set with a flat stride of
    batch_size instead of batch_size + 1, so 1/N and the stratum weight land down the first two
    columns of every row instead of on the diagonal."""
    other = 1.0 / (batch_size - 1)
    stratum = (num_examples - batch_size + 1) / (num_examples * (batch_size - 1))
    weights = np.full((batch_size, batch_size), other)
    weights[:, 0] = 1.0 / num_examples
    weights[:, 1] = stratum
    weights[batch_size - 2, 0] = stratum
    return np.log(weights)


def test_mss_weights_sit_on_the_diagonal_and_sum_to_one():
    log_weights = estimators.minibatch_log_weights(5, 100, "mss")
    weights = np.exp(log_weights)
    np.testing.assert_allclose(np.diag(weights), 1 / 100)
    np.testing.assert_allclose(weights[~np.eye(5, dtype=bool)], 99 / (100 * 4))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(estimators.minibatch_log_weights(5, 100, "mws")), 1 / 500)


def test_mss_recovers_exact_mi_where_column_weight_bug_fails():
    num_examples, batch_size = 2000, 100
    mu, sigma = separated_posteriors(num_examples, sigma=0.01)
    exact = estimators.kl_decomposition(mu, sigma, seed=22)["mutual_info"]
    assert exact == pytest.approx(math.log(num_examples), abs=1e-6)
    mss = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=batch_size, method="mss",
                                                seed=22)
    mws = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=batch_size, method="mws",
                                                seed=22)
    buggy = minibatch_mutual_info(mu, sigma, batch_size, column_bug_log_weights, seed=22)
    correct = minibatch_mutual_info(
        mu, sigma, batch_size, lambda m, n: estimators.minibatch_log_weights(m, n, "mss"), 22)
    assert mss["mutual_info"] == pytest.approx(exact, abs=1e-6)
    assert correct == pytest.approx(exact, abs=1e-6)  # the test's harness is not the difference
    assert exact - buggy > 2.5  # about log(M - 1) instead of log N
    assert mws["mutual_info"] - exact == pytest.approx(math.log(batch_size), abs=1e-6)


def test_mss_is_close_to_exact_and_mws_overestimates_on_overlapping_population():
    mu, sigma = random_posteriors(seed=23, num_examples=2000, num_dims=2, spread=1.0,
                                  sigma_range=(0.1, 0.3))
    exact = estimators.kl_decomposition(mu, sigma, seed=24)
    mss = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=200, method="mss", seed=24)
    mss_large = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=1000, method="mss",
                                                      seed=24)
    mws = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=200, method="mws", seed=24)
    # MSS is unbiased for q(z), so only the Jensen bias of its log remains, shrinking with M
    mss_bias = mss["mutual_info"] - exact["mutual_info"]
    mss_large_bias = mss_large["mutual_info"] - exact["mutual_info"]
    assert 0 < mss_bias < 0.3
    assert abs(mss_large_bias) < 0.05 and abs(mss_large_bias) < mss_bias / 2
    # MWS divides the batch sum by N M: off by about log N here (log M when separated)
    assert mws["mutual_info"] - exact["mutual_info"] > 0.5 * math.log(2000)
    for result in (mss, mws):
        assert result["aggregate_kl"] == pytest.approx(
            result["total_correlation"] + result["dimwise_kl"], abs=1e-12)
        assert exact["rate"] == pytest.approx(result["mutual_info"] + result["aggregate_kl"],
                                              abs=1e-12)


def test_mss_with_the_whole_data_set_as_one_batch_is_the_exact_estimator():
    mu, sigma = random_posteriors(seed=25, num_examples=700)
    exact = estimators.kl_decomposition(mu, sigma, seed=26, marginals="exact")
    mss = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=700, method="mss", seed=26)
    for key in ("mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl"):
        # The exact estimator's exponentials run in float32 (mixture_numerics), MSS's in float64.
        assert mss[key] == pytest.approx(exact[key],
                                         abs=mixture_numerics.SINGLE_PRECISION_ERROR), key


def test_batches_cover_the_data_without_overlap():
    order = np.random.default_rng(27).permutation(1001)
    batches = mixture_numerics.batches(order, 100)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1001))
    assert min(len(b) for b in batches) >= 2 and len(batches) == 10  # the last one joined
    result = estimators.minibatch_kl_decomposition(*random_posteriors(28, num_examples=1001),
                                                   batch_size=100, method="mss")
    assert all(np.isfinite(v) for v in result.values())


# --------------------------------------------------------------------------------------------
# Active units, determinism, bad input
# --------------------------------------------------------------------------------------------


def test_active_units_counts_dimensions_whose_mean_varies():
    rng = np.random.default_rng(29)
    # variances 1, 0.04, 0.0025, 0
    mu = rng.standard_normal((5000, 4)) * np.array([1.0, 0.2, 0.05, 0.0])
    assert estimators.active_units(mu) == 2
    assert estimators.active_units(mu, threshold=0.001) == 3
    assert estimators.active_units(mu, threshold=2.0) == 0


def test_same_seed_same_result_other_seed_other_samples():
    mu, sigma = random_posteriors(seed=30)
    first = estimators.kl_decomposition(mu, sigma, seed=1)
    assert estimators.kl_decomposition(mu, sigma, seed=1) == first
    assert estimators.kl_decomposition(mu, sigma, seed=1, num_threads=1) == first
    other = estimators.kl_decomposition(mu, sigma, seed=2)
    assert other["mutual_info"] != first["mutual_info"]
    assert abs(other["mutual_info"] - first["mutual_info"]) < 5 * first["mutual_info_se"]


def test_samples_do_not_repeat_the_callers_random_stream():
    """z must not be built from the same normal draws a caller used (with the same seed) for mu."""
    mu = np.random.default_rng(0).standard_normal((400, 2))
    _, z, _ = mixture_numerics.sample_posteriors(mu, np.full(mu.shape, 0.5), None, 0)
    noise = (z - mu) / 0.5
    assert abs(np.corrcoef(noise.ravel(), mu.ravel())[0, 1]) < 0.2


GOOD_MU, GOOD_SIGMA = random_posteriors(seed=31, num_examples=20)


@pytest.mark.parametrize("call,words", [
    (lambda: estimators.kl_decomposition(np.where(np.eye(20, 3) > 0, np.nan, GOOD_MU), GOOD_SIGMA),
     ["mu", "non-finite"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, np.where(np.eye(20, 3) > 0, np.inf, GOOD_SIGMA)),
     ["sigma", "non-finite"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA * 0), ["sigma", "<= 0"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, -GOOD_SIGMA), ["sigma", "<= 0"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA[:, :2]), ["shape", "sigma"]),
    (lambda: estimators.kl_decomposition(GOOD_MU[:, 0], GOOD_SIGMA[:, 0]), ["(N, D)"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA, np.zeros(19, int)),
     ["labels", "(20,)"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA, np.zeros(20)), ["labels", "integer"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA, num_z=1), ["num_z"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA, marginals="fast"), ["marginals"]),
    (lambda: estimators.kl_decomposition(GOOD_MU, GOOD_SIGMA, seed=-1), ["seed", "non-negative"]),
    (lambda: estimators.minibatch_kl_decomposition(GOOD_MU, GOOD_SIGMA, batch_size=1,
                                                   method="mss"), ["batch_size", "between 2"]),
    (lambda: estimators.minibatch_kl_decomposition(GOOD_MU, GOOD_SIGMA, batch_size=21,
                                                   method="mss"), ["batch_size", "[2, 20]"]),
    (lambda: estimators.minibatch_kl_decomposition(GOOD_MU, GOOD_SIGMA, batch_size=10,
                                                   method="mss2"), ["method", "'mws' or 'mss'"]),
    (lambda: estimators.minibatch_kl_decomposition(GOOD_MU, GOOD_SIGMA[:-1], batch_size=10,
                                                   method="mss"), ["shape"]),
    (lambda: estimators.active_units(np.full((5, 2), np.nan)), ["mu", "non-finite"]),
    (lambda: estimators.active_units(GOOD_MU, threshold=-1), ["threshold"]),
])
def test_bad_input_raises_user_error_naming_problem_and_fix(call, words):
    with pytest.raises(UserError) as error:
        call()
    for word in words:
        assert word in str(error.value)


def test_decomposition_without_marginals_keeps_every_other_estimate():
    rng = np.random.default_rng(11)
    mu = rng.normal(size=(300, 3))
    sigma = np.exp(rng.normal(-1.0, 0.3, size=(300, 3)))
    labels = rng.integers(0, 4, 300)
    full = estimators.kl_decomposition(mu, sigma, labels, num_z=200, seed=5)
    lean = estimators.kl_decomposition(mu, sigma, labels, num_z=200, seed=5, marginals="none")
    skipped = {"total_correlation", "total_correlation_se", "dimwise_kl", "dimwise_kl_se"}
    assert set(lean) == set(full) - skipped
    for key in lean:
        assert lean[key] == full[key], key


def test_marginals_of_posteriors_sharper_than_the_samples_spacing_match_brute_force():
    """Posteriors at the encoder's scale floor (an objective without per-example KL drives them
    there): each sample sits on a spike of its own component, which interpolation would miss."""
    rng = np.random.default_rng(21)
    mu = rng.normal(size=(6000, 2))
    sigma = np.full((6000, 2), 1e-4)
    sigma[:600, 0] = 1.0  # broad components make the mixture smooth between the spikes
    sigma[:, 1] = np.exp(rng.normal(-1.0, 0.2, size=6000))  # a smooth dimension beside it
    lean = estimators.kl_decomposition(mu, sigma, num_z=5000, seed=3)  # auto: the grid
    exact = estimators.kl_decomposition(mu, sigma, num_z=5000, seed=3, marginals="exact")
    assert lean["dimwise_kl"] == pytest.approx(exact["dimwise_kl"], abs=1e-3)
    z = mu + sigma * np.random.default_rng(0).standard_normal(mu.shape)
    sample = np.random.default_rng(1).choice(6000, 1500, replace=False)
    log_marginal = np.stack([special.logsumexp(stats.norm.logpdf(
        z[sample, d][:, None], mu[None, :, d], sigma[None, :, d]), axis=1) - np.log(6000)
        for d in range(2)], axis=1)
    brute = np.mean(np.sum(log_marginal - stats.norm.logpdf(z[sample]), axis=1))
    assert lean["dimwise_kl"] == pytest.approx(brute, abs=0.2)  # 1,500 of the samples


@pytest.mark.parametrize("num_examples, batch_size, spread", [(360, 256, 1.0), (500, 64, 1.0),
                                                              (301, 100, 50.0), (512, 256, 50.0)])
def test_mws_overstates_the_information_by_at_least_its_floor_and_by_it_for_far_apart_posteriors(
        num_examples, batch_size, spread):
    # The floor is the mean of log M_b with the actual batch sizes (a ragged last batch lowers
    # it below log M); far-apart sharp posteriors reach it.
    rng = np.random.default_rng(num_examples + batch_size)
    mu = rng.normal(0, spread, size=(num_examples, 3))
    sigma = rng.uniform(0.05, 0.2, size=(num_examples, 3))
    exact = estimators.kl_decomposition(mu, sigma, seed=5)["mutual_info"]
    mws = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=batch_size, method="mws",
                                                seed=5)["mutual_info"]
    sizes = [min(batch_size, num_examples - start) for start in range(0, num_examples, batch_size)]
    if sizes[-1] == 1:  # a batch of one joins the one before
        sizes = sizes[:-2] + [sizes[-2] + 1]
    floor = sum(size * math.log(size) for size in sizes) / num_examples
    assert mixture_numerics.mws_floor(num_examples, batch_size) == pytest.approx(floor, rel=1e-12)
    assert mws - exact >= floor - 1e-9
    if spread > 10:
        assert mws - exact == pytest.approx(floor, abs=1e-6)
    assert (floor < math.log(batch_size)) == (min(sizes) < batch_size)


def test_the_explicit_class_sums_are_the_plain_expression_bit_for_bit():
    # Sharp posteriors (the path the decomposition takes for them), more samples than a row tile,
    # and a class without components.
    rng = np.random.default_rng(41)
    num, dims, samples = 700, 4, mixture_numerics._ROW_TILE + 45
    mu = rng.standard_normal((num, dims))  # (N, D)
    sigma = 10.0 ** rng.uniform(-4, -2, size=(num, dims))  # (N, D)
    labels = rng.choice([0, 1, 3, 4], size=num)  # class 2 empty
    mixture = mixture_numerics.DiagonalGaussianMixture(mu, sigma, labels, 5)
    z = mu[:samples] + sigma[:samples] * rng.standard_normal((samples, dims))  # (M, D)
    got = mixture.log_class_sums_explicit(z, lambda f, items: list(map(f, items)))  # (M, C)
    plain = np.zeros((samples, num))  # the expression the in-place loop replaces, (M, N)
    for d in range(dims):
        standardized = (z[:, d:d + 1] - mixture.mu[:, d]) / mixture.sigma[:, d]
        plain -= 0.5 * np.square(standardized) + np.log(mixture.sigma[:, d])
    plain -= 0.5 * math.log(2 * math.pi) * dims
    bounds = mixture.class_bounds
    with np.errstate(divide="ignore"):
        expected = np.stack([special.logsumexp(plain[:, lo:hi], axis=1)
                             for lo, hi in zip(bounds[:-1], bounds[1:])], axis=1)
    assert np.array_equal(got, expected)
    assert np.all(got[:, 2] == -np.inf)
    reference = stats.norm.logpdf(z[:, None, :], mu[None], sigma[None]).sum(axis=2)  # (M, N)
    for label in (0, 1, 3, 4):
        np.testing.assert_allclose(got[:, label],
                                   special.logsumexp(reference[:, labels == label], axis=1),
                                   rtol=1e-12)


@pytest.mark.parametrize("seed, num_dims, sigma_range, spread", [
    (51, 10, (0.02, 0.3), 1.0),  # sharp posteriors of a d_z = 10 model
    (52, 2, (1e-3, 1e-2), 3.0),  # very sharp, far apart
    (53, 20, (0.3, 1.2), 1.0),  # wide, partly collapsed
])
def test_single_precision_exponentials_stay_within_the_stated_error(seed, num_dims, sigma_range,
                                                                    spread):
    # The float32 exp of the tables against the float64 form and SciPy's logsumexp, on the
    # samples of the decomposition (shift: the own component) and of the held-out mixtures
    # (shift: the largest peak), more samples than a row tile and components than a column tile.
    rng = np.random.default_rng(seed)
    num = mixture_numerics._COLUMN_TILE + 300
    mu = spread * rng.standard_normal((num, num_dims))  # (N, D)
    sigma = np.exp(rng.uniform(*np.log(sigma_range), size=(num, num_dims)))  # (N, D)
    labels = rng.integers(0, 3, size=num)
    mixture = mixture_numerics.DiagonalGaussianMixture(mu, sigma, labels, 3)
    own = rng.integers(num, size=mixture_numerics._ROW_TILE + 70)  # (M,)
    noise = rng.standard_normal((len(own), num_dims))
    z = mu[own] + sigma[own] * noise  # (M, D)
    shift = np.sum(-0.5 * noise ** 2 - np.log(sigma[own]) - 0.5 * math.log(2 * math.pi), axis=1)
    pool = lambda f, items: [f(i) for i in items]  # noqa: E731
    single = mixture.log_class_sums(z, shift, pool)  # (M, C)
    double = mixture.log_class_sums(z, shift, pool, single_precision=False)
    reference = stats.norm.logpdf(z[:, None, :], mu[None], sigma[None]).sum(axis=2)  # (M, N)
    total = special.logsumexp(reference, axis=1)  # (M,)
    np.testing.assert_allclose(special.logsumexp(single, axis=1), total, rtol=0,
                               atol=mixture_numerics.SINGLE_PRECISION_ERROR)
    np.testing.assert_allclose(special.logsumexp(double, axis=1), total, rtol=0, atol=1e-7)
    own_class = labels[own]
    rows = np.arange(len(own))
    expected = special.logsumexp(np.where(labels[None] == own_class[:, None], reference,
                                          -np.inf), axis=1)  # (M,) the own class's sum
    np.testing.assert_allclose(single[rows, own_class], expected, rtol=0,
                               atol=mixture_numerics.SINGLE_PRECISION_ERROR)
    assert np.max(np.abs(single - double)[double > np.max(double, axis=1, keepdims=True) - 40]) \
        <= mixture_numerics.SINGLE_PRECISION_ERROR
    # Held-out codes relative to the largest peak (fitted_density's widened mixture); some far
    # below it, whose rows are redone from their own maximum.
    codes = np.concatenate([z, spread * rng.standard_normal((300, num_dims))])  # (M', D)
    got = fitted_density._log_mixture_density(mu, sigma, codes, pool)
    brute = special.logsumexp(stats.norm.logpdf(codes[:, None, :], mu[None], sigma[None])
                              .sum(axis=2), axis=1) - math.log(num)
    np.testing.assert_allclose(got, brute, rtol=0, atol=mixture_numerics.SINGLE_PRECISION_ERROR)


def test_single_precision_rows_beyond_float32_range_are_redone_in_float64():
    # A shift 200 nats below the own component: every float32 term would overflow (exp(88.7)).
    mu, sigma = random_posteriors(seed=54, num_examples=300, num_dims=4)
    z = mu[:40] + sigma[:40] * np.random.default_rng(55).standard_normal((40, 4))
    mixture = mixture_numerics.DiagonalGaussianMixture(mu, sigma, np.zeros(300, np.int64), 1)
    pool = lambda f, items: [f(i) for i in items]  # noqa: E731
    shift = np.full(40, -200.0)
    got = mixture.log_class_sums(z, shift, pool)[:, 0]
    reference = special.logsumexp(stats.norm.logpdf(z[:, None, :], mu[None], sigma[None])
                                  .sum(axis=2), axis=1)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-9)
