"""Per-dimension marginals of a diagonal-Gaussian mixture: log q(z_ij) = log mean_n N(z_ij; mu_nj,
s_nj^2) for every sample and dimension, exactly or by an adaptive grid with quintic Hermite
interpolation (the numerics behind ``kl_decomposition``'s dimension-wise KL).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from klgap.estimators.mixture_numerics import _COLUMN_TILE, _EXP_FLOOR, _ROW_TILE, LOG_2PI

# Interpolated marginal log-densities are accepted when the check at a cell's midpoint is off by
# at most this many nats (the half-cells finally used are about 64 times more accurate).
MARGINAL_TOLERANCE = 1e-10
_BASE_GRID_CELLS = 32
_MAX_GRID_LEVELS = 40  # refinements of the base grid before the remaining points go exact
# The narrowest component the grid interpolates, in mean spacings of the points
# (``grid_resolves``): cells end up holding about 4 points.
GRID_MIN_WIDTH_IN_SPACINGS = 8.0



def log_marginals(z: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                   log_q_own_per_dim: np.ndarray, use_grid: bool, pool_map: Callable) -> np.ndarray:
    """log q(z_ij) = log mean_n N(z_ij; mu_nj, s_nj^2) for every sample and dimension, (M, D)."""

    def one_dimension(d: int) -> np.ndarray:
        if use_grid and grid_resolves(z[:, d], sigma[:, d]):
            return _log_mixture_1d_grid(z[:, d], mu[:, d], sigma[:, d])
        return _log_mixture_1d_exact(z[:, d], mu[:, d], sigma[:, d], log_q_own_per_dim[:, d])

    columns = pool_map(one_dimension, range(z.shape[1]))
    return np.stack(columns, axis=1) - math.log(len(mu))


def grid_resolves(points: np.ndarray, sigma: np.ndarray) -> bool:
    """Whether the grid can interpolate a 1-D mixture at these points.

    Its cells end up holding a few points each, and a cell's check at its midpoint cannot see a
    component much narrower than the cell: each sample sits on its own example's component, and a
    component narrower than the points' spacing makes a spike there that the grid would miss
    (log q(z_ij) then comes out tens of nats too low). So the narrowest component must be at
    least ``GRID_MIN_WIDTH_IN_SPACINGS`` mean spacings of the points wide.

    Args:
      points: (M,) evaluation points.
      sigma: (N,) the components' standard deviations.
    """
    spacing = (float(points.max()) - float(points.min())) / max(len(points) - 1, 1)
    return float(sigma.min()) >= GRID_MIN_WIDTH_IN_SPACINGS * spacing


def _log_mixture_1d_exact(points: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                          shift: np.ndarray | None = None) -> np.ndarray:
    """log sum_n N(points_i; mu_n, sigma_n^2) by brute force, (M,).

    Args:
      points: (M,) evaluation points.
      mu, sigma: (N,) components.
      shift: optional (M,) reference log-densities (e.g. the sample's own component); without it
        (or where it would overflow) the row maximum is used.
    """
    inv_sigma = 1.0 / sigma
    log_norm = -np.log(sigma) - 0.5 * LOG_2PI  # (N,)
    out = np.empty(len(points))
    tile = max(1, (_ROW_TILE * _COLUMN_TILE) // len(mu))
    for start in range(0, len(points), tile):
        rows = points[start:start + tile]
        log_density = np.subtract.outer(rows, mu)  # (R, N)
        log_density *= inv_sigma
        np.square(log_density, out=log_density)
        log_density *= -0.5
        log_density += log_norm
        row_shift = log_density.max(axis=1) if shift is None else shift[start:start + tile]
        log_density -= row_shift[:, None]
        np.maximum(log_density, _EXP_FLOOR, out=log_density)
        with np.errstate(over="ignore"):
            np.exp(log_density, out=log_density)
        sums = log_density.sum(axis=1)
        bad = ~np.isfinite(sums) | (sums <= 0)
        out[start:start + tile] = np.log(np.where(bad, 1.0, sums)) + row_shift
        if bad.any():
            out[start:start + tile][bad] = _log_mixture_1d_exact(rows[bad], mu, sigma)
    return out


class _OneDimensionalMixture:
    """The mixture sum_n N(g; mu_n, s_n^2) in one dimension, evaluated with F' and F''.

    Components are sorted by mean and grouped into blocks; for a chunk of nearby points, blocks
    whose largest possible density is below exp(-36) / N of a lower bound on the mixture are
    skipped (a relative error below 3e-16), which makes sharp posteriors cheap.
    """

    _BLOCK = 256  # components per block
    _POINTS_PER_CHUNK = 8
    _LOWER_BOUND_WINDOW = 32  # components on each side of a point used for the lower bound
    _NUM_BROADEST = 16  # the broadest components also enter the lower bound

    def __init__(self, mu: np.ndarray, sigma: np.ndarray):
        order = np.argsort(mu, kind="stable")
        self.mu = mu[order]  # (N,) sorted
        self.inv_sigma = 1.0 / sigma[order]
        self.inv_var = np.square(self.inv_sigma)
        self.log_norm = -np.log(sigma[order]) - 0.5 * LOG_2PI  # (N,)
        # v = (g - mu) / (sqrt(2) s) = g * scale - offset, so that log N(g) = log_norm - v^2.
        self.scale = self.inv_sigma / math.sqrt(2.0)
        self.offset = self.mu * self.scale
        starts = np.arange(0, len(mu), self._BLOCK)
        self.block_starts = starts
        self.block_low = self.mu[starts]
        self.block_high = self.mu[np.minimum(starts + self._BLOCK, len(mu)) - 1]
        self.block_max_log_norm = np.maximum.reduceat(self.log_norm, starts)
        self.block_max_sigma = np.maximum.reduceat(sigma[order], starts)
        self.broadest = np.argsort(self.log_norm)[:self._NUM_BROADEST]
        self.prune_margin = 36.0 + math.log(len(mu))

    def _log_density(self, points: np.ndarray, index) -> np.ndarray:
        v = np.multiply.outer(points, self.scale[index]) - self.offset[index]
        return self.log_norm[index] - np.square(v)

    def _component_range(self, points: np.ndarray) -> tuple[int, int]:
        """Components [lo, hi) that matter for any of the (sorted) points."""
        nearest = np.searchsorted(self.mu, points)  # (G,)
        window = np.clip(nearest[:, None] + np.arange(-self._LOWER_BOUND_WINDOW,
                                                      self._LOWER_BOUND_WINDOW),
                         0, len(self.mu) - 1)  # (G, W)
        near = self.log_norm[window] - np.square(points[:, None] * self.scale[window]
                                                 - self.offset[window])
        lower_bound = np.maximum(near.max(axis=1),
                                 self._log_density(points, self.broadest).max(axis=1)).min()
        gap = np.maximum(np.maximum(self.block_low - points[-1], points[0] - self.block_high), 0)
        upper_bound = self.block_max_log_norm - 0.5 * np.square(gap / self.block_max_sigma)
        kept = np.flatnonzero(upper_bound >= lower_bound - self.prune_margin)
        return (int(self.block_starts[kept[0]]),
                int(min(self.block_starts[kept[-1]] + self._BLOCK, len(self.mu))))

    def log_density_with_derivatives(self, points: np.ndarray) -> np.ndarray:
        """F(g) = log sum_n N(g; mu_n, s_n^2), F'(g) and F''(g) at the points, (G, 3).

        With weights w_n proportional to N(g; mu_n, s_n^2) and l_n' = -(g - mu_n)/s_n^2:
        F' = E_w[l'] and F'' = E_w[l'^2] - F'^2 - E_w[1/s^2].
        """
        order = np.argsort(points, kind="stable")
        out = np.empty((len(points), 3))
        for start in range(0, len(points), self._POINTS_PER_CHUNK):
            chunk = order[start:start + self._POINTS_PER_CHUNK]
            rows = points[chunk]  # (G,) sorted
            lo, hi = self._component_range(rows)
            v = np.multiply.outer(rows, self.scale[lo:hi])  # (G, n)
            v -= self.offset[lo:hi]
            weights = np.square(v)
            np.subtract(self.log_norm[lo:hi], weights, out=weights)  # log-densities
            row_max = weights.max(axis=1)
            weights -= row_max[:, None]
            np.maximum(weights, _EXP_FLOOR, out=weights)
            np.exp(weights, out=weights)
            total = weights.sum(axis=1)  # (G,)
            weighted = weights * v  # l' = -sqrt(2) v / s
            slope = -math.sqrt(2.0) * (weighted @ self.inv_sigma[lo:hi]) / total
            weighted *= v  # l'^2 = 2 v^2 / s^2
            mean_square_slope = 2.0 * (weighted @ self.inv_var[lo:hi]) / total
            mean_inv_var = (weights @ self.inv_var[lo:hi]) / total
            curvature = mean_square_slope - np.square(slope) - mean_inv_var
            out[chunk] = np.stack([row_max + np.log(total), slope, curvature], axis=1)
        return out


def _quintic_hermite(left: np.ndarray, width: np.ndarray, left_values: np.ndarray,
                     right_values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Interpolates F from (F, F', F'') at both ends of each cell; all arrays per point.

    Args:
      left, width: the cell of each point, (P,).
      left_values, right_values: (P, 3) value, first and second derivative at the cell ends.
      points: (P,) where to interpolate.
    """
    t = (points - left) / width
    t2, t3 = t * t, t * t * t
    t4, t5 = t3 * t, t3 * t2
    h0 = 1.0 - 10.0 * t3 + 15.0 * t4 - 6.0 * t5
    h1 = t - 6.0 * t3 + 8.0 * t4 - 3.0 * t5
    h2 = 0.5 * (t2 - 3.0 * t3 + 3.0 * t4 - t5)
    h3 = 0.5 * (t3 - 2.0 * t4 + t5)
    h4 = -4.0 * t3 + 7.0 * t4 - 3.0 * t5
    h5 = 1.0 - h0
    return (left_values[:, 0] * h0 + width * left_values[:, 1] * h1
            + width ** 2 * left_values[:, 2] * h2 + right_values[:, 0] * h5
            + width * right_values[:, 1] * h4 + width ** 2 * right_values[:, 2] * h3)


def _log_mixture_1d_grid(points: np.ndarray, mu: np.ndarray, sigma: np.ndarray,
                         tolerance: float = MARGINAL_TOLERANCE) -> np.ndarray:
    """log sum_n N(points_i; mu_n, sigma_n^2) by verified interpolation on an adaptive grid, (M,).

    A uniform grid over the points is refined level by level. At each level, every cell that
    holds points is checked: the quintic Hermite interpolant from its ends is compared with an
    exact evaluation at its midpoint. A cell that passes is done: its points are interpolated
    from its two halves (the midpoint is now a node). A cell that fails is split in two. When
    cells would no longer hold several points each, the remaining points are evaluated exactly.
    """
    out = np.empty(len(points))
    low, high = float(points.min()), float(points.max())
    if len(points) < 8 * _BASE_GRID_CELLS or not high > low:
        return _log_mixture_1d_exact(points, mu, sigma)
    mixture = _OneDimensionalMixture(mu, sigma)
    nodes = np.linspace(low, high, _BASE_GRID_CELLS + 1)
    node_values = mixture.log_density_with_derivatives(nodes)  # (G + 1, 3)
    cell_left_x, cell_right = nodes[:-1], nodes[1:]
    left_values, right_values = node_values[:-1], node_values[1:]
    pending = np.arange(len(points))
    for level in range(_MAX_GRID_LEVELS + 1):
        if not len(pending):
            break
        # Pending points all lie in the current (disjoint, sorted) cells.
        cell_of_point = np.searchsorted(cell_left_x, points[pending], side="right") - 1
        occupied, cell_of_point = np.unique(cell_of_point, return_inverse=True)
        if 4 * len(occupied) > len(pending) or level == _MAX_GRID_LEVELS:
            out[pending] = mixture.log_density_with_derivatives(points[pending])[:, 0]
            break
        left_x, right_x = cell_left_x[occupied], cell_right[occupied]
        left_values, right_values = left_values[occupied], right_values[occupied]
        middle = 0.5 * (left_x + right_x)
        middle_values = mixture.log_density_with_derivatives(middle)
        error = np.abs(_quintic_hermite(left_x, right_x - left_x, left_values, right_values,
                                        middle) - middle_values[:, 0])
        passed = error <= tolerance  # (C,)

        # Cells that pass: interpolate their points on the half-cell that holds each.
        done = passed[cell_of_point]
        cell = cell_of_point[done]
        x = points[pending[done]]
        in_right_half = x >= middle[cell]
        half_left = np.where(in_right_half, middle[cell], left_x[cell])
        half_right = np.where(in_right_half, right_x[cell], middle[cell])
        values_left = np.where(in_right_half[:, None], middle_values[cell], left_values[cell])
        values_right = np.where(in_right_half[:, None], right_values[cell], middle_values[cell])
        out[pending[done]] = _quintic_hermite(half_left, half_right - half_left, values_left,
                                              values_right, x)

        # Cells that fail: split in two (children stay sorted by their left edge).
        failed = ~passed
        cell_left_x = np.stack([left_x[failed], middle[failed]], axis=1).ravel()
        cell_right = np.stack([middle[failed], right_x[failed]], axis=1).ravel()
        left_values = np.stack([left_values[failed], middle_values[failed]], axis=1).reshape(-1, 3)
        right_values = np.stack([middle_values[failed], right_values[failed]],
                                axis=1).reshape(-1, 3)
        pending = pending[~done]
    return out
