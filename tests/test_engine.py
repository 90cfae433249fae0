"""Tests of the training core's per-epoch decomposition of the test split's rate."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special, stats

from klgap.training import engine


def brute_force_decomposition(z, mu, sigma, num_samples):
    """I and KL(q(z)||p) at the first num_samples z's, every log-density written out (SciPy)."""
    samples = z[:num_samples]
    log_densities = stats.norm.logpdf(samples[:, None, :], mu[None], sigma[None]).sum(-1)
    log_q = special.logsumexp(log_densities, axis=1) - np.log(len(mu))
    own = np.diagonal(log_densities[:, :num_samples])
    log_prior = stats.norm.logpdf(samples).sum(-1)
    return np.mean(own - log_q), np.mean(log_q - log_prior)


@pytest.mark.parametrize("seed, num_examples, latent_dim, num_samples",
                         [(0, 50, 2, 50), (1, 300, 10, 120), (2, 40, 5, 1000)])
def test_in_sample_decomposition_matches_a_brute_force_computation(seed, num_examples, latent_dim,
                                                                   num_samples):
    rng = np.random.default_rng(seed)
    mu = rng.normal(scale=2.0, size=(num_examples, latent_dim))
    sigma = np.exp(rng.normal(-1.0, 0.5, size=(num_examples, latent_dim)))
    z = mu + sigma * rng.standard_normal((num_examples, latent_dim))
    information, aggregate_kl = engine.in_sample_decomposition(
        *(tf.constant(a) for a in (z, mu, sigma)), num_samples)
    expected = brute_force_decomposition(z, mu, sigma, num_samples)
    np.testing.assert_allclose([information.numpy(), aggregate_kl.numpy()], expected,
                               rtol=1e-9, atol=1e-9)
    assert information.numpy() <= np.log(num_examples) + 1e-9  # each z_i's own component


def test_in_sample_decomposition_of_stacked_models_is_each_models():
    rng = np.random.default_rng(3)
    z, mu = rng.normal(size=(2, 3, 40, 4))  # (K, M, D) each
    sigma = np.exp(rng.normal(-0.5, 0.3, size=(3, 40, 4)))
    stacked = np.stack(engine.in_sample_decomposition(
        tf.constant(z), tf.constant(mu), tf.constant(sigma), 25), axis=-1)  # (K, 2)
    for k in range(3):
        np.testing.assert_allclose(stacked[k], brute_force_decomposition(z[k], mu[k], sigma[k], 25),
                                   rtol=1e-9)


def test_in_sample_decomposition_of_sharp_float32_posteriors_sits_at_log_m():
    # sigma = 1e-4 (the encoder's floor): separated posteriors, so I = log M and the aggregate KL
    # is rate - log M exactly; the float32 expanded form used to scatter by several nats.
    rng = np.random.default_rng(11)
    num_examples, latent_dim = 2000, 10
    mu = rng.standard_normal((num_examples, latent_dim)).astype(np.float32)
    sigma = np.full((num_examples, latent_dim), 1e-4, np.float32)
    z = (mu + sigma * rng.standard_normal((num_examples, latent_dim))).astype(np.float32)
    information, aggregate_kl = engine.in_sample_decomposition(
        *(tf.constant(a) for a in (z, mu, sigma)), num_examples)
    expected = brute_force_decomposition(*(a.astype(np.float64) for a in (z, mu, sigma)),
                                         num_examples)
    np.testing.assert_allclose([information.numpy(), aggregate_kl.numpy()], expected, atol=1e-3)
    assert abs(information.numpy() - np.log(num_examples)) < 1e-3
