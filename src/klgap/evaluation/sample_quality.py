"""Sample-quality metrics on feature vectors: Fréchet distance, KID, improved precision/recall.

The features are a network's penultimate activations (``klgap.evaluation.feature_network``) of
real images and of generated ones. NumPy and SciPy only, float64 throughout.

- Fréchet distance (FID, Heusel et al. 2017): the 2-Wasserstein distance between Gaussians fitted
  to the two sets, ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^{1/2}). Biased upwards for finite
  samples (the bias depends on the sample sizes): compare values at equal sizes.
- Kernel inception distance (KID, Binkowski et al. 2018): the unbiased estimate of the squared
  MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over subsets.
- Improved precision and recall (Kynkaanniemi et al. 2019): the fraction of generated samples
  inside the real data's k-nearest-neighbour balls, and the converse.
"""

import math

import numpy as np

from klgap.errors import UserError

KID_SUBSET_SIZE = 1000  # Binkowski et al.'s subset size
PRECISION_RECALL_K = 3  # Kynkaanniemi et al.'s k
DISTANCE_CHUNK_ELEMENTS = 4_000_000  # entries of one block of pairwise distances (32 MB)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (FID's formula).

    The trace of (C_a C_b)^{1/2} is computed as the sum of the square roots of the eigenvalues of
    the symmetric positive semi-definite matrix S_a C_b S_a, S_a = C_a^{1/2} (both from
    ``numpy.linalg.eigh``): the same eigenvalues as C_a C_b, without the complex parts and the
    failures of ``scipy.linalg.sqrtm`` on singular, non-symmetric products. Eigenvalues that
    rounding makes slightly negative are set to zero.

    Args:
      features_a: (N_a, F), N_a >= 2.
      features_b: (N_b, F), N_b >= 2.

    Returns:
      The distance (>= 0 up to rounding), in squared feature units.

    Raises:
      UserError: arrays that are not 2-D, disagree in F, have fewer than two rows, or hold
        non-finite values.
    """
    features_a, features_b = check_feature_pair(features_a, features_b, min_rows=2)
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)  # (F,)
    cov_a = np.atleast_2d(np.cov(features_a, rowvar=False))  # (F, F)
    cov_b = np.atleast_2d(np.cov(features_b, rowvar=False))  # (F, F)
    sqrt_cov_a = symmetric_sqrt(cov_a)  # (F, F)
    middle = sqrt_cov_a @ cov_b @ sqrt_cov_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)  # (F,)
    trace_sqrt_product = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    distance = (float(np.sum((mean_a - mean_b) ** 2)) + float(np.trace(cov_a))
                + float(np.trace(cov_b)) - 2.0 * trace_sqrt_product)
    return max(distance, 0.0)


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The positive semi-definite square root of a symmetric matrix (negative eigenvalues -> 0)."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, *,
                              num_subsets: int | None = None,
                              subset_size: int = KID_SUBSET_SIZE, seed=0) -> dict:
    """KID: the unbiased squared MMD with the cubic polynomial kernel, averaged over subsets.

    k(x, y) = (x.y / F + 1)^3. Each subset pairs ``subset_size`` rows of each set, and its
    estimate is the unbiased U-statistic
    sum_{i!=j} k(a_i, a_j) / (m (m-1)) + sum_{i!=j} k(b_i, b_j) / (m (m-1))
    - 2 sum_{i,j} k(a_i, b_j) / m^2.
    Unlike Binkowski et al.'s code, which draws overlapping subsets, the subsets here are
    disjoint (consecutive blocks of a random permutation of each set), so their estimates are
    independent and ``kid_se`` = sd / sqrt(S) is an honest standard error of ``kid`` over the
    draw of the features (overlapping subsets make sd / sqrt(S) too small). ``kid`` is unbiased
    for the population MMD^2; it can be negative when the distributions are close.

    Args:
      features_a: (N_a, F).
      features_b: (N_b, F).
      num_subsets: S; None: as many disjoint subsets as fit, floor(min(N_a, N_b) / m).
      subset_size: m, rows of each set per subset (>= 2); lowered to min(N_a, N_b) // 2 when
        the sets are smaller than two subsets, so that a standard error exists.
      seed: seed (int or sequence of ints) of the permutations.

    Returns:
      ``kid`` (the mean of the subsets' estimates), ``kid_se`` (their sd / sqrt(S); NaN for
      S = 1), ``num_subsets`` S and ``subset_size`` m.

    Raises:
      UserError: bad arrays (as ``frechet_distance``), m < 2, or S m larger than a set.
    """
    features_a, features_b = check_feature_pair(features_a, features_b, min_rows=2)
    smaller = min(len(features_a), len(features_b))
    if num_subsets is None:
        subset_size = min(subset_size, smaller // 2)
    if subset_size < 2:
        raise UserError(f"subset_size must be >= 2 (the unbiased MMD needs pairs), got "
                        f"{subset_size}; pass a larger subset_size, or more features (two "
                        f"subsets of at least 2 rows: 4 rows in each set).")
    if num_subsets is None:
        num_subsets = smaller // subset_size
    if num_subsets < 1 or num_subsets * subset_size > smaller:
        raise UserError(f"{num_subsets} disjoint subsets of {subset_size} rows do not fit in "
                        f"{smaller} rows; lower num_subsets or subset_size (or num_subsets=None).")
    rng = np.random.default_rng(seed)
    order_a = rng.permutation(len(features_a))
    order_b = rng.permutation(len(features_b))
    estimates = np.empty(num_subsets)  # (S,)
    for subset in range(num_subsets):
        rows = slice(subset * subset_size, (subset + 1) * subset_size)
        estimates[subset] = polynomial_mmd2_unbiased(features_a[order_a[rows]],
                                                     features_b[order_b[rows]])
    se = (float(np.std(estimates, ddof=1) / math.sqrt(num_subsets)) if num_subsets > 1
          else float("nan"))
    return {"kid": float(np.mean(estimates)), "kid_se": se, "num_subsets": num_subsets,
            "subset_size": subset_size}


def polynomial_mmd2_unbiased(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The unbiased MMD^2 U-statistic with k(x, y) = (x.y / F + 1)^3 between two sets.

    Args:
      features_a: (m, F) float64, m >= 2.
      features_b: (n, F) float64, n >= 2.

    Returns:
      The estimate.
    """
    m, n = len(features_a), len(features_b)
    dim = features_a.shape[1]
    kernel_aa = (features_a @ features_a.T / dim + 1.0) ** 3  # (m, m)
    kernel_bb = (features_b @ features_b.T / dim + 1.0) ** 3  # (n, n)
    kernel_ab = (features_a @ features_b.T / dim + 1.0) ** 3  # (m, n)
    within_a = (kernel_aa.sum() - np.trace(kernel_aa)) / (m * (m - 1))
    within_b = (kernel_bb.sum() - np.trace(kernel_bb)) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * kernel_ab.mean())


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, *,
                     k: int = PRECISION_RECALL_K, real_radii_sq: np.ndarray | None = None
                     ) -> dict:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    The real manifold is the union of balls around each real feature vector with radius its
    distance to its k-th nearest other real vector; precision is the fraction of fake vectors
    inside at least one such ball (distance <= radius). Recall is the fraction of real vectors
    inside the fake manifold, built the same way from the fake vectors. Distances are computed
    in blocks of at most ``DISTANCE_CHUNK_ELEMENTS`` pairs, so memory stays bounded for sets of
    tens of thousands of vectors.

    Args:
      real_features: (N_r, F), N_r > k.
      fake_features: (N_f, F), N_f > k.
      k: the neighbour that sets each radius (k = 3 in the paper).
      real_radii_sq: ``neighbour_radii_sq(real_features, k)``, if already computed (several
        fake sets scored against one real set); None: computed here. The same numbers either way.

    Returns:
      ``precision`` and ``recall``, in [0, 1].

    Raises:
      UserError: bad arrays (as ``frechet_distance``), k < 1, a set of k rows or fewer, or
        ``real_radii_sq`` of another length than the real set.
    """
    if int(k) != k or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}.")
    real_features, fake_features = check_feature_pair(real_features, fake_features,
                                                      min_rows=k + 1, names=("real", "fake"))
    centre = real_features.mean(axis=0)  # distances are unchanged; rounding is smaller
    real_features, fake_features = real_features - centre, fake_features - centre
    if real_radii_sq is None:
        real_radii_sq = kth_neighbour_distance_sq(real_features, k)  # (N_r,)
    elif np.shape(real_radii_sq) != (len(real_features),):
        raise UserError(f"real_radii_sq has shape {np.shape(real_radii_sq)}, not "
                        f"({len(real_features)},): compute it with neighbour_radii_sq from "
                        f"these real features.")
    fake_radii_sq = kth_neighbour_distance_sq(fake_features, k)  # (N_f,)
    fake_is_precise = np.empty(len(fake_features), dtype=bool)  # (N_f,)
    real_is_recalled = np.zeros(len(real_features), dtype=bool)  # (N_r,)
    for rows, distances_sq in distance_blocks(fake_features, real_features):  # (R, N_r)
        fake_is_precise[rows] = np.any(distances_sq <= real_radii_sq[None, :], axis=1)
        real_is_recalled |= np.any(distances_sq <= fake_radii_sq[rows, None], axis=0)
    return {"precision": float(np.mean(fake_is_precise)),
            "recall": float(np.mean(real_is_recalled))}


def neighbour_radii_sq(real_features: np.ndarray, k: int = PRECISION_RECALL_K) -> np.ndarray:
    """The squared radii of the real manifold's balls, as ``precision_recall`` computes them.

    Args:
      real_features: (N_r, F), N_r > k.
      k: the neighbour that sets each radius.

    Returns:
      (N_r,) float64, for ``precision_recall``'s ``real_radii_sq``.
    """
    real_features, _ = check_feature_pair(real_features, real_features, min_rows=k + 1,
                                          names=("real", "real"))
    return kth_neighbour_distance_sq(real_features - real_features.mean(axis=0), k)


def kth_neighbour_distance_sq(points: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point, (N,).

    The point itself is the nearest, at distance 0, so the k-th nearest other point is the
    (k+1)-th smallest entry of its row.
    """
    radii_sq = np.empty(len(points))
    for rows, distances_sq in distance_blocks(points, points):
        block_rows = np.arange(rows.stop - rows.start)
        distances_sq[block_rows, rows.start + block_rows] = 0.0  # exactly, not as rounded
        radii_sq[rows] = np.partition(distances_sq, k, axis=1)[:, k]
    return radii_sq


def distance_blocks(queries: np.ndarray, points: np.ndarray):
    """Yields (row slice, squared distances (rows, N_p)) between blocks of queries and all points.

    Blocks hold at most ``DISTANCE_CHUNK_ELEMENTS`` distances (at least one row).
    """
    points_sq = np.sum(points ** 2, axis=1)  # (N_p,)
    rows_per_block = max(1, DISTANCE_CHUNK_ELEMENTS // max(1, len(points)))
    for first in range(0, len(queries), rows_per_block):
        block = queries[first:first + rows_per_block]  # (R, F)
        distances_sq = (np.sum(block ** 2, axis=1)[:, None] + points_sq[None, :]
                        - 2.0 * block @ points.T)  # (R, N_p)
        np.maximum(distances_sq, 0.0, out=distances_sq)
        yield slice(first, first + len(block)), distances_sq


def check_feature_pair(features_a, features_b, *, min_rows: int,
                       names: tuple[str, str] = ("features_a", "features_b")
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Checks two feature arrays and returns them as float64.

    Args:
      features_a: array-like, expected (N_a, F).
      features_b: array-like, expected (N_b, F).
      min_rows: the fewest rows each must have.
      names: the arrays' names in error messages.

    Returns:
      Both arrays as float64.

    Raises:
      UserError: not 2-D, different F, too few rows, or non-finite values.
    """
    arrays = []
    for name, features in zip(names, (features_a, features_b)):
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2:
            raise UserError(f"{name} must be a 2-D array (examples, features), got shape "
                            f"{features.shape}; reshape it, e.g. x.reshape(len(x), -1).")
        if len(features) < min_rows:
            raise UserError(f"{name} has {len(features)} rows; this metric needs at least "
                            f"{min_rows}: pass more samples.")
        if not np.all(np.isfinite(features)):
            raise UserError(f"{name} holds NaN or infinite values; check the feature network "
                            f"and its inputs.")
        arrays.append(features)
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise UserError(f"{names[0]} has {arrays[0].shape[1]} features per row but {names[1]} "
                        f"{arrays[1].shape[1]}; compute both with the same feature network.")
    return arrays[0], arrays[1]
