"""Training penalties on the aggregate posterior, in TensorFlow, for one minibatch.

- ``imq_mmd_squared``: the maximum mean discrepancy between encoder samples and prior samples
  with the inverse multiquadratics kernel k(a, b) = C / (C + |a - b|^2), C = 2 d_z sigma_z^2
  scaled by each of ``IMQ_SCALES`` and summed, as Tolstikhin et al. (2018, WAE-MMD) use for a
  d_z-dimensional N(0, sigma_z^2 I) prior (sigma_z = 1 here); the U-statistic, unbiased.
- ``minibatch_log_q`` and ``minibatch_total_correlation``: log q(z_i) and the marginals
  log q(z_ij) estimated from the batch alone with stratified weights, 1/N for the sample's own
  component and (N - 1) / (N (B - 1)) for each other one (the variant of Chen et al.'s
  minibatch stratified sampling that
  ``klgap.estimators.decomposition.minibatch_log_weights("mss")`` names; weights along each
  row, never the column pattern of the public beta-TCVAE code).
"""

import math

import tensorflow as tf

# Multiples of C = 2 d_z sigma_z^2 summed in the IMQ kernel (the scales of the WAE code).
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
LOG_2PI = math.log(2.0 * math.pi)


def _squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """|a_i - b_j|^2 for every pair, (A, B), from (A, D) and (B, D)."""
    return (tf.reduce_sum(tf.square(a), axis=1)[:, None]
            + tf.reduce_sum(tf.square(b), axis=1)[None] - 2.0 * tf.matmul(a, b, transpose_b=True))


def _unbiased_mmd_squared(k_qq: tf.Tensor, k_pp: tf.Tensor, k_qp: tf.Tensor) -> tf.Tensor:
    """The U-statistic of MMD^2 from the three kernel matrices (diagonals of k_qq, k_pp left
    out)."""
    n = tf.cast(tf.shape(k_qq)[0], k_qq.dtype)
    m = tf.cast(tf.shape(k_pp)[0], k_pp.dtype)
    within_q = (tf.reduce_sum(k_qq) - tf.linalg.trace(k_qq)) / (n * (n - 1.0))
    within_p = (tf.reduce_sum(k_pp) - tf.linalg.trace(k_pp)) / (m * (m - 1.0))
    return within_q + within_p - 2.0 * tf.reduce_mean(k_qp)


def imq_mmd_squared(z_q: tf.Tensor, z_p: tf.Tensor, scales=IMQ_SCALES) -> tf.Tensor:
    """Unbiased MMD^2 between encoder samples and prior samples, inverse multiquadratics kernel.

    Args:
      z_q: samples of q(z), (B, D).
      z_p: samples of the prior N(0, I), (B', D).
      scales: multiples of C = 2 D (sigma_z = 1) whose kernels are summed.

    Returns:
      A scalar; its expectation is 0 exactly when q = p.
    """
    base = 2.0 * tf.cast(tf.shape(z_q)[1], z_q.dtype)
    distances = [_squared_distances(z_q, z_q), _squared_distances(z_p, z_p),
                 _squared_distances(z_q, z_p)]
    total = tf.zeros([], z_q.dtype)
    for scale in scales:
        c = base * scale
        total += _unbiased_mmd_squared(*[c / (c + d) for d in distances])
    return total


def rbf_mmd_squared(z_q: tf.Tensor, z_p: tf.Tensor, bandwidth: float) -> tf.Tensor:
    """Unbiased MMD^2 with the Gaussian kernel exp(-|a - b|^2 / (2 bandwidth^2)).

    Args:
      z_q: (B, D).
      z_p: (B', D).
      bandwidth: the kernel's length scale.

    Returns:
      A scalar.
    """
    scale = 2.0 * bandwidth ** 2
    return _unbiased_mmd_squared(tf.exp(-_squared_distances(z_q, z_q) / scale),
                                 tf.exp(-_squared_distances(z_p, z_p) / scale),
                                 tf.exp(-_squared_distances(z_q, z_p) / scale))


def minibatch_log_q(z: tf.Tensor, mu: tf.Tensor, sigma: tf.Tensor,
                    num_examples: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Stratified minibatch estimates of log q(z_i) and log q(z_ij).

    Args:
      z: one sample per example of the batch, z_i ~ q(z|x_i), (B, D).
      mu, sigma: the batch's posteriors, (B, D).
      num_examples: N, the size of the training set.

    Returns:
      log q(z_i), (B,), and log q(z_ij), (B, D).
    """
    batch = tf.shape(z)[0]
    dtype = z.dtype
    log_density = (-0.5 * tf.square((z[:, None, :] - mu[None]) / sigma[None])
                   - tf.math.log(sigma[None]) - 0.5 * LOG_2PI)  # (B, B, D) log q(z_id|x_jd)
    other = (tf.math.log(tf.cast(num_examples - 1, dtype)) - math.log(num_examples)
             - tf.math.log(tf.cast(batch - 1, dtype)))
    own = tf.constant(-math.log(num_examples), dtype)  # not tf.cast: a Python float is float32
    log_weights = tf.linalg.set_diag(tf.fill([batch, batch], other), tf.fill([batch], own))
    log_q = tf.reduce_logsumexp(tf.reduce_sum(log_density, axis=2) + log_weights, axis=1)  # (B,)
    log_q_marginals = tf.reduce_logsumexp(log_density + log_weights[:, :, None], axis=1)  # (B, D)
    return log_q, log_q_marginals


def minibatch_total_correlation(z: tf.Tensor, mu: tf.Tensor, sigma: tf.Tensor,
                                num_examples: int) -> tf.Tensor:
    """The batch's estimate of KL(q(z) || prod_j q(z_j)): mean_i log q(z_i) - sum_j log q(z_ij)."""
    log_q, log_q_marginals = minibatch_log_q(z, mu, sigma, num_examples)
    return tf.reduce_mean(log_q - tf.reduce_sum(log_q_marginals, axis=1))
