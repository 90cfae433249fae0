"""Tests of the sample-quality metrics on cases whose answers are known, and against brute force."""

import numpy as np
import pytest
from scipy import linalg
from scipy.spatial.distance import cdist

from klgap.errors import UserError
from klgap.evaluation import sample_quality


def gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """The closed form between two Gaussians, with SciPy's general matrix square root."""
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def random_covariance(rng, dim: int) -> np.ndarray:
    factor = rng.standard_normal((dim, dim))
    return factor @ factor.T / dim + 0.1 * np.eye(dim)


def with_exact_moments(rng, num: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Samples whose sample mean and (ddof=1) sample covariance are exactly mean and cov."""
    noise = rng.standard_normal((num, len(mean)))
    noise -= noise.mean(axis=0)
    whitened = noise @ np.linalg.inv(np.linalg.cholesky(np.cov(noise, rowvar=False))).T
    return whitened @ np.linalg.cholesky(cov).T + mean


# --- Fréchet distance ---------------------------------------------------------------------------

def test_frechet_distance_of_exact_moments_is_the_closed_form():
    # With sample moments equal to the Gaussians' moments, the estimate has no sampling error:
    # only the formula is tested, to rounding.
    rng = np.random.default_rng(0)
    dim = 6
    mean_a, mean_b = rng.standard_normal(dim), rng.standard_normal(dim)
    cov_a, cov_b = random_covariance(rng, dim), random_covariance(rng, dim)
    features_a = with_exact_moments(rng, 500, mean_a, cov_a)
    features_b = with_exact_moments(rng, 300, mean_b, cov_b)
    expected = gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)
    assert sample_quality.frechet_distance(features_a, features_b) == pytest.approx(
        expected, rel=1e-9)


def test_frechet_distance_of_large_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    dim, num = 4, 200_000
    mean_a, mean_b = np.zeros(dim), np.full(dim, 0.5)
    cov_a, cov_b = random_covariance(rng, dim), random_covariance(rng, dim)
    features_a = rng.multivariate_normal(mean_a, cov_a, size=num)
    features_b = rng.multivariate_normal(mean_b, cov_b, size=num)
    expected = gaussian_frechet_distance(mean_a, cov_a, mean_b, cov_b)
    # The estimate's sd for these Gaussians, over 30 independent pairs of samples, is 0.009 (the
    # mean term alone: 2 sqrt(d' (C_a + C_b) d / N) = 0.0055); its bias is O(F / N), below 0.001.
    # 0.04 is 4.5 sds.
    assert sample_quality.frechet_distance(features_a, features_b) == pytest.approx(
        expected, abs=0.04)


def test_frechet_distance_of_one_distribution_is_small_against_a_shift():
    rng = np.random.default_rng(2)
    dim, num = 16, 5000
    features_a = rng.standard_normal((num, dim))
    features_b = rng.standard_normal((num, dim))
    same = sample_quality.frechet_distance(features_a, features_b)
    shifted = sample_quality.frechet_distance(features_a, features_b + 0.5)  # shift^2 F = 4
    # Finite-sample bias for one distribution: about F (F + 1) / (2 N) in total, ~0.03 here.
    assert 0 <= same < 0.1
    assert shifted == pytest.approx(4.0 + same, abs=0.3)
    assert sample_quality.frechet_distance(features_a, features_a) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_is_symmetric():
    rng = np.random.default_rng(3)
    features_a = rng.standard_normal((400, 8)) * 2
    features_b = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8)) + 1
    assert sample_quality.frechet_distance(features_a, features_b) == pytest.approx(
        sample_quality.frechet_distance(features_b, features_a), rel=1e-10)


def test_frechet_distance_with_singular_covariances_is_finite_and_not_negative():
    rng = np.random.default_rng(4)
    features_a = rng.standard_normal((10, 50))  # N < F: singular covariance
    features_b = np.zeros((10, 50))
    features_b[:, 0] = rng.standard_normal(10)  # rank one
    distance = sample_quality.frechet_distance(features_a, features_b)
    assert np.isfinite(distance) and distance >= 0


# --- KID ----------------------------------------------------------------------------------------

def brute_force_polynomial_mmd2(features_a, features_b) -> float:
    """The unbiased MMD^2 with (x.y / F + 1)^3, summed pair by pair."""
    dim = features_a.shape[1]

    def kernel(x, y):
        return (np.dot(x, y) / dim + 1.0) ** 3

    m, n = len(features_a), len(features_b)
    within_a = sum(kernel(features_a[i], features_a[j])
                   for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_b = sum(kernel(features_b[i], features_b[j])
                   for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    between = sum(kernel(a, b) for a in features_a for b in features_b) / (m * n)
    return within_a + within_b - 2 * between


def test_kid_of_one_subset_is_the_brute_force_mmd():
    rng = np.random.default_rng(5)
    features_a = rng.standard_normal((30, 5))
    features_b = rng.standard_normal((30, 5)) + 0.3
    result = sample_quality.kernel_inception_distance(features_a, features_b, num_subsets=1,
                                                      subset_size=30)
    assert result["kid"] == pytest.approx(brute_force_polynomial_mmd2(features_a, features_b),
                                          rel=1e-10)
    assert np.isnan(result["kid_se"])


def test_kid_of_two_subsets_is_the_mean_of_their_brute_force_mmds():
    rng = np.random.default_rng(6)
    features_a = rng.standard_normal((24, 3))
    features_b = rng.standard_normal((20, 3)) * 1.5
    result = sample_quality.kernel_inception_distance(features_a, features_b, num_subsets=2,
                                                      subset_size=10, seed=7)
    permutations = np.random.default_rng(7)
    order_a, order_b = permutations.permutation(24), permutations.permutation(20)
    estimates = [brute_force_polynomial_mmd2(features_a[order_a[s * 10:(s + 1) * 10]],
                                             features_b[order_b[s * 10:(s + 1) * 10]])
                 for s in range(2)]
    assert result["kid"] == pytest.approx(np.mean(estimates), rel=1e-10)
    assert result["kid_se"] == pytest.approx(np.std(estimates, ddof=1) / np.sqrt(2), rel=1e-8)


def test_kid_is_zero_within_its_error_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(8)
    dim = 16
    features_a = rng.standard_normal((4000, dim))
    features_b = rng.standard_normal((4000, dim))
    same = sample_quality.kernel_inception_distance(features_a, features_b, subset_size=500)
    assert same["num_subsets"] == 8 and same["subset_size"] == 500
    assert abs(same["kid"]) < 3 * same["kid_se"]
    different = sample_quality.kernel_inception_distance(features_a, 1.2 * features_b + 0.2,
                                                         subset_size=500)
    assert different["kid"] > 10 * different["kid_se"]


def test_kid_standard_error_matches_the_spread_over_independent_samples():
    # kid_se is meant as the error over the draw of the features: compare it with the sd of kid
    # over 20 independent data sets (a loose factor: the sd of 20 values is itself uncertain).
    kids, ses = [], []
    for repeat in range(20):
        rng = np.random.default_rng([9, repeat])
        result = sample_quality.kernel_inception_distance(
            rng.standard_normal((400, 4)), rng.standard_normal((400, 4)) + 0.3, subset_size=50)
        kids.append(result["kid"])
        ses.append(result["kid_se"])
    assert 0.6 < np.std(kids, ddof=1) / np.mean(ses) < 1.6


def test_kid_is_deterministic_given_the_seed_and_lowers_a_too_large_subset_size():
    rng = np.random.default_rng(10)
    features_a, features_b = rng.standard_normal((100, 4)), rng.standard_normal((90, 4))
    first = sample_quality.kernel_inception_distance(features_a, features_b, seed=3)
    assert first == sample_quality.kernel_inception_distance(features_a, features_b, seed=3)
    assert first["subset_size"] == 45 and first["num_subsets"] == 2


def test_kid_refuses_subsets_that_do_not_fit():
    rng = np.random.default_rng(11)
    features = rng.standard_normal((100, 4))
    with pytest.raises(UserError, match="do not fit"):
        sample_quality.kernel_inception_distance(features, features, num_subsets=3,
                                                 subset_size=40)
    with pytest.raises(UserError, match="subset_size must be >= 2"):
        sample_quality.kernel_inception_distance(features, features, subset_size=1)


# --- precision and recall -----------------------------------------------------------------------

def brute_force_precision_recall(real, fake, k):
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(cdist(fake, fake), axis=1)[:, k]
    precision = np.mean([np.any(cdist(f[None], real)[0] <= real_radii) for f in fake])
    recall = np.mean([np.any(cdist(r[None], fake)[0] <= fake_radii) for r in real])
    return precision, recall


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_equal_brute_force(k):
    rng = np.random.default_rng(12)
    real = rng.standard_normal((80, 6))
    fake = 1.3 * rng.standard_normal((70, 6)) + 0.4
    result = sample_quality.precision_recall(real, fake, k=k)
    expected = brute_force_precision_recall(real, fake, k)
    assert (result["precision"], result["recall"]) == pytest.approx(expected, abs=1e-12)
    assert 0 < result["precision"] < 1 and 0 < result["recall"] < 1


def test_precision_recall_do_not_depend_on_the_block_size(monkeypatch):
    rng = np.random.default_rng(13)
    real, fake = rng.standard_normal((300, 5)), rng.standard_normal((250, 5)) * 0.8
    whole = sample_quality.precision_recall(real, fake)
    monkeypatch.setattr(sample_quality, "DISTANCE_CHUNK_ELEMENTS", 1000)  # blocks of 3-4 rows
    assert sample_quality.precision_recall(real, fake) == whole


def test_precomputed_real_radii_give_the_same_numbers_and_a_foreign_length_is_refused():
    rng = np.random.default_rng(17)
    real = rng.standard_normal((300, 5)).astype(np.float32) + 3.0  # float32 as the features
    radii = sample_quality.neighbour_radii_sq(real)
    for scale in (0.7, 1.0, 1.4):  # several fake sets against one real set
        fake = scale * rng.standard_normal((250, 5)) + 3.0
        assert (sample_quality.precision_recall(real, fake, real_radii_sq=radii)
                == sample_quality.precision_recall(real, fake))
    with pytest.raises(UserError, match="neighbour_radii_sq"):
        sample_quality.precision_recall(real, real, real_radii_sq=radii[:-1])


def test_precision_recall_of_identical_sets_are_one_and_of_disjoint_supports_zero():
    rng = np.random.default_rng(14)
    real = rng.standard_normal((500, 8))
    assert sample_quality.precision_recall(real, real.copy()) == {"precision": 1.0,
                                                                  "recall": 1.0}
    far = rng.standard_normal((400, 8)) + 100.0
    assert sample_quality.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}


def test_a_generator_that_drops_a_mode_keeps_its_precision_and_halves_its_recall():
    rng = np.random.default_rng(15)
    centres = np.array([[-20.0] * 4, [20.0] * 4])

    def two_modes():
        return np.concatenate([rng.standard_normal((1000, 4)) + centre for centre in centres])

    real = two_modes()
    both = sample_quality.precision_recall(real, two_modes())
    dropped = sample_quality.precision_recall(real, two_modes()[:1000])  # the first mode only
    # Even a perfect generator has precision and recall below 1 (samples in the tails fall
    # outside the k-NN balls); dropping a mode at the same density per mode halves the recall.
    assert both["precision"] > 0.85 and both["recall"] > 0.85
    assert dropped["precision"] == pytest.approx(both["precision"], abs=0.03)
    assert dropped["recall"] == pytest.approx(both["recall"] / 2, abs=0.03)


# --- input checks -------------------------------------------------------------------------------

@pytest.mark.parametrize("features_b, message", [
    (np.zeros((10, 3)), "features per row"),
    (np.zeros(10), "2-D array"),
    (np.zeros((1, 4)), "at least 2"),
    (np.full((10, 4), np.nan), "NaN"),
])
def test_bad_features_are_refused_with_the_fix(features_b, message):
    with pytest.raises(UserError, match=message):
        sample_quality.frechet_distance(np.zeros((10, 4)), features_b)


def test_precision_recall_refuse_too_few_rows_and_a_bad_k():
    rng = np.random.default_rng(16)
    with pytest.raises(UserError, match="real has 3 rows"):
        sample_quality.precision_recall(rng.standard_normal((3, 2)),
                                        rng.standard_normal((10, 2)), k=3)
    with pytest.raises(UserError, match="positive integer"):
        sample_quality.precision_recall(rng.standard_normal((10, 2)),
                                        rng.standard_normal((10, 2)), k=0)
