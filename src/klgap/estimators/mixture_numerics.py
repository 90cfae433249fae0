"""Numerics behind ``klgap.estimators.decomposition``: log-densities of diagonal-Gaussian
mixtures at scale.

Cost. The N x M table of log q(z_i|x_n) is one matrix product per tile (never an N x M x D
tensor), exponentiated and summed tile by tile, relative to each sample's own component
(log q(z_i|x_i), known in closed form), so no separate max pass is needed. The D per-dimension
marginals are one-dimensional mixtures: they are evaluated exactly at the points of an adaptive
grid (value, first and second derivative), and interpolated at the samples by quintic Hermite
interpolation on cells whose interpolation error, checked against an exact evaluation at the
cell's midpoint, is below ``MARGINAL_TOLERANCE`` nats; samples in cells that do not pass are
evaluated exactly. Each exact evaluation skips blocks of components (sorted by mean) whose density
cannot reach exp(-36)/N of the mixture's, which makes sharp posteriors cheap.
``marginals="exact"`` evaluates every sample against every component instead.

All arithmetic is float64 but the exponentials of the N x M table, which dominate its cost:
those run in float32 (the log-densities themselves are float64 products, rounded to float32 only
for exp, and the float32 sums of a tile are added up in float64), which moves a log-sum by at
most ``SINGLE_PRECISION_ERROR`` nats (tests/test_estimators.py checks it against the float64
form). Work runs on ``num_threads`` threads (default: the CPUs available);
if ``threadpoolctl`` is installed, BLAS is held to one thread per worker meanwhile.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
from scipy import special

from klgap.errors import UserError

LOG_2PI = math.log(2.0 * math.pi)
# Rows whose matrix-product log-densities may carry a rounding error above this many nats (a
# worst-case bound; typical errors are far smaller) are recomputed in the explicit (z - mu)^2 form.
# A thousandth of a nat is ten times below the tables' last digit and their Monte Carlo errors;
# 1e-7 sent every prior sample of a model with near-deterministic posteriors (sigma ~ 1e-4, the
# MMD objective's) down the explicit path, five times slower (14 of an MNIST run's 17 minutes).
CANCELLATION_TOLERANCE = 1e-3
_ROW_TILE = 128  # samples per tile of the N x M table
_COLUMN_TILE = 2048  # components per tile
# Random streams derived from the user's seed.
SAMPLE_STREAM, SHUFFLE_STREAM, REPEAT_STREAM, PRIOR_STREAM = 1, 2, 3, 4
# Examples whose terms are drawn twice to measure the Monte Carlo error (relative error of the
# standard error about 1/sqrt(2 * 2048) = 1.6%).
REPEAT_SAMPLES = 2048
# exp() of arguments below about -708 gives subnormals and takes a slow path (5-10x slower);
# log-densities are clipped here first. exp(-700) ~ 1e-304 is negligible against the terms
# that matter (the largest term of every sum is about 1).
_EXP_FLOOR = -700.0
# The same floor for exp in float32, whose smallest normal number is exp(-87.3): exp(-87) ~ 1.6e-38.
_EXP_FLOOR_SINGLE = -87.0
# The most a log-sum of ``log_class_sums`` moves when its exponentials run in float32 (rounding
# of the log-densities to float32, relative error 6e-8 of terms of tens of nats, float32 exp and
# pairwise sums of a tile: about 1e-6 nats in practice), in nats; the tests check it against the
# float64 form. Far below the tables' last digit and their Monte Carlo errors.
SINGLE_PRECISION_ERROR = 1e-5


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def as_float_matrix(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise UserError(f"{name} must be a numeric array of shape (N, D): {error}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise UserError(f"{name} must have shape (N, D) with N, D >= 1, got shape {array.shape}; "
                        f"reshape it (one row per example).")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UserError(f"{name} has {int(bad.sum())} non-finite value(s) (first in row {row}); "
                        f"remove or fix those examples (NaN/inf usually means a diverged encoder).")
    return array


def check_posteriors(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu = as_float_matrix("mu", mu)
    sigma = as_float_matrix("sigma", sigma)
    if mu.shape != sigma.shape:
        raise UserError(f"mu has shape {mu.shape} but sigma has shape {sigma.shape}; pass one "
                        f"standard deviation per mean.")
    if mu.shape[0] < 2:
        raise UserError(f"got {mu.shape[0]} example(s); the decomposition needs at least two.")
    if np.any(sigma <= 0):
        raise UserError(f"sigma has {int(np.sum(sigma <= 0))} value(s) <= 0 (min {sigma.min():g}); "
                        f"pass standard deviations (e.g. exp(log_sigma) or softplus), not "
                        f"log-scales or variances that can reach zero.")
    return mu, sigma


def check_labels(labels, num_examples: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != num_examples:
        raise UserError(f"labels must have shape ({num_examples},) (one per row of mu), got "
                        f"shape {labels.shape}.")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
        raise UserError(f"labels must be integers, got dtype {labels.dtype}; pass "
                        f"labels.astype(int) if they are integral.")
    return labels.astype(np.int64)


def check_int(name: str, value, low: int, high: int, fix: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be an integer, got {value!r}; {fix}.")
    if not low <= value <= high:
        raise UserError(f"{name}={value} is outside [{low}, {high}]; {fix}.")
    return int(value)


def check_threads(num_threads) -> int:
    if num_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return check_int("num_threads", num_threads, 1, 1024, "pass a positive thread count")


# --------------------------------------------------------------------------------------------
# Sampling and helpers
# --------------------------------------------------------------------------------------------


def sample_posteriors(mu: np.ndarray, sigma: np.ndarray, num_z: int | None, seed: int):
    """Draws z_i ~ q(z|x_i) for every example or a seeded subsample.

    Returns:
      sample_index (M,), z (M, D) and log q(z_ij|x_ij) per dimension (M, D).
    """
    # A stream of its own: default_rng(seed) alone would repeat the draws of a caller who made
    # mu with the same seed, and correlate z with mu.
    rng = np.random.default_rng([seed, SAMPLE_STREAM])
    noise = rng.standard_normal(mu.shape)  # (N, D), drawn for all examples so seeds line up
    if num_z is None:
        sample_index = np.arange(len(mu))
    else:
        sample_index = np.sort(rng.choice(len(mu), size=num_z, replace=False))
    noise = noise[sample_index]
    z = mu[sample_index] + sigma[sample_index] * noise  # (M, D)
    log_q_own_per_dim = -0.5 * np.square(noise) - np.log(sigma[sample_index]) - 0.5 * LOG_2PI
    return sample_index, z, log_q_own_per_dim


def log_standard_normal(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, 1) elementwise."""
    return -0.5 * np.square(z) - 0.5 * LOG_2PI


def standard_error(terms: np.ndarray) -> float:
    if len(terms) < 2:
        return math.nan
    return float(np.std(terms, ddof=1) / math.sqrt(len(terms)))


def redraw_posteriors(mu: np.ndarray, sigma: np.ndarray, sample_index: np.ndarray, seed: int):
    """Draws z again, independently, for up to ``REPEAT_SAMPLES`` of the sampled examples.

    Returns:
      repeat (R,), positions within ``sample_index``; z (R, D); log q(z_ij|x_ij) (R, D).
    """
    rng = np.random.default_rng([seed, REPEAT_STREAM])
    repeat = np.arange(len(sample_index))
    if len(repeat) > REPEAT_SAMPLES:
        repeat = np.sort(rng.choice(len(repeat), size=REPEAT_SAMPLES, replace=False))
    rows = sample_index[repeat]
    noise = rng.standard_normal((len(rows), mu.shape[1]))  # (R, D)
    z = mu[rows] + sigma[rows] * noise
    log_q_own_per_dim = -0.5 * np.square(noise) - np.log(sigma[rows]) - 0.5 * LOG_2PI
    return repeat, z, log_q_own_per_dim


def sample_terms(mixture: "DiagonalGaussianMixture", z: np.ndarray,
                  log_q_own_per_dim: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                  class_counts: np.ndarray, sample_class: np.ndarray, use_grid: bool | None,
                  pool_map: Callable) -> dict[str, np.ndarray]:
    """The per-sample terms whose means are the estimates of ``kl_decomposition``.

    Args:
      mixture: the N components.
      z: samples, (M, D), each from its own example's posterior.
      log_q_own_per_dim: log q(z_ij|x_ij), (M, D).
      mu, sigma: the posteriors, (N, D).
      class_counts: components per class, (C,).
      sample_class: the class of each sample's example, (M,).
      use_grid: evaluate the marginals by verified interpolation; None: skip them (``dimwise``
        and ``info_and_dimwise`` are NaN).
      pool_map: a ``map`` over worker threads.

    Returns:
      (M,) arrays: ``info`` (log q(z|x) - log q(z)), ``dimwise`` (sum_j log q(z_j) - log p(z_j)),
      ``info_and_dimwise``, ``label`` (log q(z|y) - log q(z)) and ``within_class``
      (log q(z|x) - log q(z|y)).
    """
    log_q_own = log_q_own_per_dim.sum(axis=1)  # (M,) log q(z_i|x_i)
    # Relative to the own component, whose term is about 1: the own class's and the total's sums
    # are at least that, far above the clipping of the terms (other classes' sums may be clipped;
    # they enter only the total).
    log_class_sums = mixture.log_class_sums(z, shift=log_q_own, pool_map=pool_map)  # (M, C)
    log_q_z = special.logsumexp(log_class_sums, axis=1) - math.log(len(mu))  # (M,)
    log_q_z_given_y = (log_class_sums[np.arange(len(z)), sample_class]
                       - np.log(class_counts[sample_class]))  # (M,) log q(z_i|y_i)
    info = log_q_own - log_q_z
    if use_grid is None:
        dimwise = np.full(len(z), np.nan)
    else:
        # Imported here: klgap.estimators.marginals reads this module's tiling constants.
        from klgap.estimators.marginals import log_marginals

        log_q_marginals = log_marginals(z, mu, sigma, log_q_own_per_dim, use_grid,
                                        pool_map)  # (M, D)
        dimwise = np.sum(log_q_marginals - log_standard_normal(z), axis=1)
    return {"info": info, "dimwise": dimwise, "info_and_dimwise": info + dimwise,
            "label": log_q_z_given_y - log_q_z, "within_class": log_q_own - log_q_z_given_y}


def monte_carlo_se(terms: np.ndarray, first: np.ndarray, second: np.ndarray,
                    population: int) -> float:
    """Standard error of mean(terms) as an estimate given the posteriors.

    Each term depends on its own sample z_i only, so the terms are independent given the
    posteriors, and the estimate's variance is the mean Monte Carlo variance of one term, w,
    over the number of terms M; where the M examples are a random subsample of ``population``,
    the choice adds (1 - M / population) times the variance between the examples' expected
    terms, b.

    Args:
      terms: the M terms of the estimate (one draw each).
      first, second: two independent draws of the terms of a subset of the same examples.
      population: the number of examples the M were drawn from (M: all of them).

    Returns:
      sqrt((w + (1 - M / population) b) / M), with w = mean (first - second)^2 / 2 and
      b = max(Var(terms) - w, 0); NaN for fewer than two terms or repeats.
    """
    if len(terms) < 2 or len(first) < 2:
        return math.nan
    within = float(np.mean(np.square(first - second))) / 2.0
    between = max(float(np.var(terms, ddof=1)) - within, 0.0)
    unsampled = max(1.0 - len(terms) / population, 0.0)
    return math.sqrt((within + unsampled * between) / len(terms))


@contextlib.contextmanager
def worker_pool(num_threads: int) -> Iterator[Callable]:
    """Yields a ``map(function, items) -> list`` running on ``num_threads`` threads.

    NumPy releases the GIL in its array loops, so threads share the cores; BLAS is held to one
    thread per worker (if threadpoolctl is installed) so that workers do not oversubscribe.
    """
    try:
        from threadpoolctl import threadpool_limits
        blas_limit = threadpool_limits(limits=1, user_api="blas") if num_threads > 1 else None
    except ImportError:
        blas_limit = None
    try:
        if num_threads == 1:
            yield lambda function, items: [function(item) for item in items]
        else:
            with ThreadPoolExecutor(num_threads) as executor:
                yield lambda function, items: list(executor.map(function, items))
    finally:
        if blas_limit is not None:
            blas_limit.restore_original_limits()


# --------------------------------------------------------------------------------------------
# The full mixture: log sum_n q(z_i|x_n), by class
# --------------------------------------------------------------------------------------------


class DiagonalGaussianMixture:
    """The N components q(z|x_n) in matrix-product form, grouped into contiguous classes.

    log q(z|x_n) = sum_d [-a_nd z_d^2 + b_nd z_d] + c_n with a = 1/(2 s^2), b = mu/s^2 and
    c_n = -sum_d [mu_nd^2/(2 s_nd^2) + log s_nd + log(2 pi)/2], after centering z and mu on the
    mean of mu (which keeps the terms, hence their rounding errors, small).
    """

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, class_of_example: np.ndarray,
                 num_classes: int):
        order = np.argsort(class_of_example, kind="stable")
        self.mu, self.sigma = mu[order], sigma[order]  # (N, D), sorted by class
        counts = np.bincount(class_of_example, minlength=num_classes)
        self.class_bounds = np.concatenate([[0], np.cumsum(counts)])  # (C + 1,)
        self.center = self.mu.mean(axis=0)  # (D,)
        centered_mu = self.mu - self.center
        inv_var = 1.0 / np.square(self.sigma)
        quadratic = 0.5 * inv_var  # (N, D) a
        linear = centered_mu * inv_var  # (N, D) b
        constant = -np.sum(0.5 * np.square(centered_mu) * inv_var + np.log(self.sigma)
                           + 0.5 * LOG_2PI, axis=1)  # (N,) c
        # Rows [a; b; c; 1] against sample features [-z^2, z, 1, -shift]: (2D + 2, N).
        self.weights = np.ascontiguousarray(np.concatenate(
            [quadratic.T, linear.T, constant[None], np.ones((1, len(mu)))]))
        self.max_abs_weights = np.abs(self.weights).max(axis=1)  # (2D + 2,)

    def log_class_sums(self, z: np.ndarray, shift: np.ndarray, pool_map: Callable,
                       single_precision: bool = True) -> np.ndarray:
        """log sum_{n in class k} q(z_i|x_n) for every sample i and class k.

        Each term is clipped below at exp(floor) relative to the shift, the floor being
        ``_EXP_FLOOR_SINGLE`` (-87) in single precision and ``_EXP_FLOOR`` (-700) otherwise, so a
        class sum below (its count) x exp(floor + a few) relative to the shift is an overestimate:
        callers that need such sums check for them (``log_class_sums_anywhere``).

        Args:
          z: samples, (M, D).
          shift: a reference log-density per sample, (M,), close to the largest component
            (the sample's own component); the sums are taken relative to it so one pass of exp
            suffices. Rows where that could overflow are redone with a proper maximum.
          pool_map: a ``map`` over worker threads.
          single_precision: exponentials in float32 (within ``SINGLE_PRECISION_ERROR`` nats;
            rows whose float32 terms overflow are redone in float64); False: all in float64.

        Returns:
          (M, C) log-sums (-inf for a class with no component near z_i, in float64 only).
        """
        centered_z = z - self.center
        features = np.concatenate(
            [-np.square(centered_z), centered_z, np.ones((len(z), 1)), -shift[:, None]],
            axis=1)  # (M, 2D + 2)
        # Rounding error of the matrix product: about eps * (number of terms) * sum |terms|.
        magnitude = np.abs(features) @ self.max_abs_weights  # (M,)
        unsafe = magnitude * features.shape[1] * np.finfo(np.float64).eps > CANCELLATION_TOLERANCE
        row_starts = range(0, len(z), _ROW_TILE)

        floor = _EXP_FLOOR_SINGLE if single_precision else _EXP_FLOOR

        def tile_rows(start: int) -> np.ndarray:
            rows = features[start:start + _ROW_TILE]
            sums = np.zeros((len(rows), len(self.class_bounds) - 1))  # (R, C)
            products = np.empty((len(rows), _COLUMN_TILE))  # float64
            exponentials = (np.empty(products.shape, np.float32) if single_precision
                            else products)
            for column in range(0, len(self.mu), _COLUMN_TILE):
                stop = min(column + _COLUMN_TILE, len(self.mu))
                log_terms = products[:, :stop - column]  # (R, T) log q(z_i|x_n) - shift_i
                np.matmul(rows, self.weights[:, column:stop], out=log_terms)
                table = exponentials[:, :stop - column]  # (R, T) q(z_i|x_n) / exp(shift_i)
                np.maximum(log_terms, floor, out=table)
                np.exp(table, out=table)
                first_class = np.searchsorted(self.class_bounds, column, side="right") - 1
                last_class = np.searchsorted(self.class_bounds, stop, side="left") - 1
                for k in range(first_class, last_class + 1):  # the classes within the tile
                    lo = max(self.class_bounds[k], column) - column
                    hi = min(self.class_bounds[k + 1], stop) - column
                    if hi > lo:
                        sums[:, k] += table[:, lo:hi].sum(axis=1)
            return sums

        with np.errstate(over="ignore", divide="ignore"):
            sums = np.concatenate(pool_map(tile_rows, row_starts))  # (M, C)
            log_sums = np.log(sums) + shift[:, None]
        redo = unsafe | ~np.all(np.isfinite(sums), axis=1) | ~np.any(sums > 0, axis=1)
        if single_precision:  # a term beyond float32's range (exp(88.7)): float64 first
            overflow = redo & ~unsafe
            if overflow.any():
                log_sums[overflow] = self.log_class_sums(z[overflow], shift[overflow], pool_map,
                                                         single_precision=False)
            redo &= unsafe
        if redo.any():
            log_sums[redo] = self.log_class_sums_explicit(z[redo], pool_map)
        return log_sums

    def max_log_density(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """max_n log q(z_i|x_n) for every sample, (M,), from the same tiled matrix products."""
        centered_z = z - self.center
        features = np.concatenate([-np.square(centered_z), centered_z, np.ones((len(z), 1)),
                                   np.zeros((len(z), 1))], axis=1)  # (M, 2D + 2)

        def tile_rows(start: int) -> np.ndarray:
            rows = features[start:start + _ROW_TILE]
            largest = np.full(len(rows), -np.inf)  # (R,)
            for column in range(0, len(self.mu), _COLUMN_TILE):
                table = rows @ self.weights[:, column:column + _COLUMN_TILE]  # (R, T)
                np.maximum(largest, table.max(axis=1), out=largest)
            return largest

        return np.concatenate(pool_map(tile_rows, range(0, len(z), _ROW_TILE)))

    def log_class_sums_anywhere(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """``log_class_sums`` for samples that need not come from a component of the mixture.

        The sums are taken relative to each sample's largest component (a first pass), so the
        total can neither overflow nor underflow; a class whose own largest component lies more
        than ``-_EXP_FLOOR`` nats below is recomputed in the explicit form.

        Returns:
          (M, C) log-sums.
        """
        shift = self.max_log_density(z, pool_map)  # (M,)
        log_sums = self.log_class_sums(z, shift=shift, pool_map=pool_map,
                                       single_precision=False)  # classes far below: float64
        counts = np.diff(self.class_bounds)  # (C,)
        with np.errstate(divide="ignore"):
            floor = shift[:, None] + _EXP_FLOOR + np.log(counts)[None, :] + 1.0  # (M, C)
        clipped = np.any((log_sums <= floor) & (counts > 0)[None, :], axis=1)
        if clipped.any():
            log_sums[clipped] = self.log_class_sums_explicit(z[clipped], pool_map)
        return log_sums

    def log_class_sums_explicit(self, z: np.ndarray, pool_map: Callable) -> np.ndarray:
        """The slow, safe path: explicit (z - mu)^2 and a max-shifted logsumexp per class.

        One class's table at a time, its terms in one buffer (in place: the same operations in
        the same order as the plain expression, so the same bits with less memory traffic).
        """
        log_sigma = np.log(self.sigma)  # (N, D)

        def tile_rows(start: int) -> np.ndarray:
            rows = z[start:start + _ROW_TILE]  # (R, D)
            out = np.empty((len(rows), len(self.class_bounds) - 1))  # (R, C)
            for k, (lo, hi) in enumerate(zip(self.class_bounds[:-1], self.class_bounds[1:])):
                log_density = np.zeros((len(rows), hi - lo))  # (R, N_k)
                term = np.empty_like(log_density)
                for d in range(z.shape[1]):  # log_density -= ((z - mu) / s)^2 / 2 + log s
                    np.subtract(rows[:, d:d + 1], self.mu[lo:hi, d], out=term)
                    np.divide(term, self.sigma[lo:hi, d], out=term)
                    np.square(term, out=term)
                    np.multiply(term, 0.5, out=term)
                    np.add(term, log_sigma[lo:hi, d], out=term)
                    log_density -= term
                log_density -= 0.5 * LOG_2PI * z.shape[1]
                out[:, k] = special.logsumexp(log_density, axis=1)
            return out

        return np.concatenate(pool_map(tile_rows, range(0, len(z), _ROW_TILE)))


# --------------------------------------------------------------------------------------------
# Minibatch estimators
# --------------------------------------------------------------------------------------------


def batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive non-overlapping batches of ``order``; a last batch of one joins the previous."""
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def mws_floor(num_examples: int, batch_size: int) -> float:
    """The least overestimate of the information by MWS over ``batches`` of M, nats.

    Each example's log q(z_i) is underestimated by at least log M_b, the size of the batch that
    holds it, so the information is overestimated by at least the mean of log M_b over the N
    examples: log M when M divides N, less when the last batch is smaller.

    Args:
      num_examples: N.
      batch_size: M.

    Returns:
      sum_b M_b log M_b / N over the batches of ``batches``.
    """
    sizes = np.array([len(batch) for batch in batches(np.arange(num_examples), batch_size)])
    return float(np.sum(sizes * np.log(sizes)) / num_examples)


def minibatch_log_weights(batch_size: int, num_examples: int, method: str) -> np.ndarray:
    """log importance weights of the batch components, (M, M); row i is sample z_i.

    Args:
      batch_size: M, the examples in the batch.
      num_examples: N, the examples in the data set.
      method: "mws" (all weights 1/(N M)) or "mss" (1/N on the diagonal, the sample's own
        component; (N - 1)/(N (M - 1)) elsewhere).
    """
    if method == "mws":
        return np.full((batch_size, batch_size), -math.log(num_examples * batch_size))
    log_weights = np.full((batch_size, batch_size), math.log(num_examples - 1)
                          - math.log(num_examples) - math.log(batch_size - 1))
    np.fill_diagonal(log_weights, -math.log(num_examples))
    return log_weights


def minibatch_log_q(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray, num_examples: int,
                     method: str) -> tuple[np.ndarray, np.ndarray]:
    """Minibatch estimates of log q(z_i), (M,), and of log q(z_ij), (M, D), within one batch."""
    log_weights = minibatch_log_weights(len(z), num_examples, method)  # (M, M)
    log_density = np.zeros((len(z), len(z)))  # (M, M) log q(z_i|x_j)
    log_q_marginals = np.empty(z.shape)  # (M, D)
    for d in range(z.shape[1]):
        log_density_d = (-0.5 * np.square(np.subtract.outer(z[:, d], mu[:, d]) / sigma[:, d])
                         - np.log(sigma[:, d]) - 0.5 * LOG_2PI)  # (M, M)
        log_q_marginals[:, d] = special.logsumexp(log_density_d + log_weights, axis=1)
        log_density += log_density_d
    return special.logsumexp(log_density + log_weights, axis=1), log_q_marginals
