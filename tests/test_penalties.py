"""Tests of the aggregate-posterior penalties against closed forms and the NumPy estimators."""

import math

import numpy as np
import pytest
import tensorflow as tf

from klgap.estimators import mixture_numerics
from klgap.training import penalties


def gaussian_rbf_mmd_squared(mean_q, var_q, mean_p, var_p, dim, bandwidth):
    """MMD^2 of N(mean_q, var_q I) and N(mean_p, var_p I) under the Gaussian kernel, closed form.

    E k(a, b) for a ~ N(m1, v1 I), b ~ N(m2, v2 I), k = exp(-|a - b|^2 / (2 l^2)):
    (l^2 / (l^2 + v1 + v2))^(D/2) exp(-|m1 - m2|^2 / (2 (l^2 + v1 + v2))).
    """
    def expected_kernel(m1, v1, m2, v2):
        s = bandwidth ** 2 + v1 + v2
        return (bandwidth ** 2 / s) ** (dim / 2) * math.exp(-np.sum((m1 - m2) ** 2) / (2 * s))

    return (expected_kernel(mean_q, var_q, mean_q, var_q)
            + expected_kernel(mean_p, var_p, mean_p, var_p)
            - 2 * expected_kernel(mean_q, var_q, mean_p, var_p))


def test_rbf_mmd_is_unbiased_for_the_closed_form_between_two_gaussians():
    rng = np.random.default_rng(0)
    dim, bandwidth = 3, 1.5
    mean_q, var_q = np.array([0.5, 0.0, -0.3]), 0.6
    truth = gaussian_rbf_mmd_squared(mean_q, var_q, np.zeros(dim), 1.0, dim, bandwidth)
    estimates = [float(penalties.rbf_mmd_squared(
        tf.constant(mean_q + math.sqrt(var_q) * rng.standard_normal((64, dim))),
        tf.constant(rng.standard_normal((64, dim))), bandwidth)) for _ in range(400)]
    standard_error = np.std(estimates, ddof=1) / math.sqrt(len(estimates))
    assert abs(np.mean(estimates) - truth) < 4 * standard_error
    assert truth > 10 * standard_error  # the test can tell the two apart


def test_imq_mmd_has_mean_zero_when_q_is_the_prior_and_is_positive_otherwise():
    rng = np.random.default_rng(1)
    dim = 10
    same = [float(penalties.imq_mmd_squared(tf.constant(rng.standard_normal((100, dim))),
                                            tf.constant(rng.standard_normal((100, dim)))))
            for _ in range(300)]
    standard_error = np.std(same, ddof=1) / math.sqrt(len(same))
    assert abs(np.mean(same)) < 4 * standard_error
    shifted = float(penalties.imq_mmd_squared(
        tf.constant(0.5 * rng.standard_normal((100, dim)) + 1.0),
        tf.constant(rng.standard_normal((100, dim)))))
    assert shifted > 20 * standard_error


def test_imq_kernel_uses_the_wae_scale():
    # two points in each sample: MMD^2 = k(a1, a2) + k(b1, b2) - 2 mean_ij k(a_i, b_j)
    a = tf.constant([[0.0, 0.0], [1.0, 0.0]], tf.float64)
    b = tf.constant([[0.0, 2.0], [0.0, 3.0]], tf.float64)
    value = float(penalties.imq_mmd_squared(a, b, scales=(1.0,)))
    c = 2.0 * 2  # 2 d_z sigma_z^2 with d_z = 2
    k = lambda d2: c / (c + d2)  # noqa: E731
    cross = np.mean([k(4.0), k(9.0), k(1 + 4.0), k(1 + 9.0)])
    assert value == pytest.approx(k(1.0) + k(1.0) - 2 * cross, rel=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(tf.float64, 1e-10), (tf.float32, 1e-5)])
def test_minibatch_log_q_is_the_numpy_stratified_estimator(dtype, rtol):
    rng = np.random.default_rng(2)
    mu, sigma = rng.normal(0, 1, (32, 4)), rng.uniform(0.2, 1.0, (32, 4))
    z = mu + sigma * rng.standard_normal(mu.shape)
    num_examples = 60000
    expected_q, expected_marginals = mixture_numerics.minibatch_log_q(z, mu, sigma,
                                                                      num_examples, "mss")
    log_q, log_q_marginals = penalties.minibatch_log_q(
        *(tf.constant(a, dtype) for a in (z, mu, sigma)), num_examples)
    np.testing.assert_allclose(log_q.numpy(), expected_q, rtol=rtol)
    np.testing.assert_allclose(log_q_marginals.numpy(), expected_marginals, rtol=rtol)
    tc = penalties.minibatch_total_correlation(*(tf.constant(a, dtype) for a in (z, mu, sigma)),
                                               num_examples)
    assert float(tc) == pytest.approx(np.mean(expected_q - expected_marginals.sum(axis=1)),
                                      rel=rtol, abs=rtol)


def test_minibatch_total_correlation_with_the_data_set_as_one_batch_matches_numpy():
    rng = np.random.default_rng(3)
    mu, sigma = rng.normal(0, 1, (200, 3)), np.full((200, 3), 0.5)
    z = mu + sigma * rng.standard_normal(mu.shape)
    tc = float(penalties.minibatch_total_correlation(*(tf.constant(a) for a in (z, mu, sigma)),
                                                     len(mu)))
    log_q, log_q_marginals = mixture_numerics.minibatch_log_q(z, mu, sigma, len(mu), "mss")
    assert tc == pytest.approx(np.mean(log_q - log_q_marginals.sum(axis=1)), rel=1e-10)
