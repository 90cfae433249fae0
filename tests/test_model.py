"""Tests of the VAE's distributions and loss."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from klgap.models import vae as model

tfd = tfp.distributions


@pytest.fixture
def vae():
    return model.VAE.build(data_dim=12, latent_dim=3, hidden=[8, 5], seed=7)


def test_output_shapes_and_distribution_types(vae):
    x = tf.constant(np.random.default_rng(0).integers(0, 2, (4, 12)), tf.float32)
    posterior = vae.encode(x)
    assert isinstance(posterior, tfd.MultivariateNormalDiag)
    assert posterior.batch_shape == [4] and posterior.event_shape == [3]
    assert np.all(posterior.scale.diag.numpy() >= model.SCALE_FLOOR)
    likelihood = vae.decode(posterior.sample(seed=(1, 2)))
    assert isinstance(likelihood, tfd.Independent)
    assert isinstance(likelihood.distribution, tfd.Bernoulli)
    assert likelihood.batch_shape == [4] and likelihood.event_shape == [12]
    terms = vae.terms(x, tf.zeros([4, 3]))
    assert terms.rate.shape == [4] and terms.distortion.shape == [4]
    # encoder 12-8-5-6, decoder 3-5-8-12: weights and biases of 6 layers
    assert len(vae.trainable_variables) == 12


def test_rate_matches_numpy_closed_form(vae):
    x = tf.constant(np.random.default_rng(3).integers(0, 2, (6, 12)), tf.float32)
    posterior = vae.encode(x)
    mu, sigma = posterior.loc.numpy().astype(np.float64), posterior.scale.diag.numpy()
    expected = 0.5 * np.sum(mu**2 + sigma**2 - 1.0 - 2.0 * np.log(sigma), axis=1)
    np.testing.assert_allclose(vae.terms(x, tf.zeros([6, 3])).rate.numpy(), expected, rtol=1e-5)


def test_distortion_matches_numpy_bernoulli(vae):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 2, (5, 12)).astype(np.float32)
    noise = rng.standard_normal((5, 3)).astype(np.float32)
    posterior = vae.encode(tf.constant(x))
    z = posterior.loc.numpy() + posterior.scale.diag.numpy() * noise
    logits = vae.decoder_net(tf.constant(z)).numpy().astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)
    np.testing.assert_allclose(vae.terms(tf.constant(x), tf.constant(noise)).distortion.numpy(),
                               expected, rtol=1e-4)


def test_weights_roundtrip(vae):
    other = model.VAE.build(data_dim=12, latent_dim=3, hidden=[8, 5], seed=8)
    weights = model.get_weights(vae)
    assert not all(np.array_equal(weights[k], v) for k, v in model.get_weights(other).items())
    model.set_weights(other, weights)
    for key, value in model.get_weights(other).items():
        np.testing.assert_array_equal(value, weights[key])


def test_log_likelihood_is_the_decoders_bernoulli_log_probability(vae):
    rng = np.random.default_rng(7)
    z = tf.constant(rng.normal(scale=3.0, size=(4, 5, vae.latent_dim)).astype(np.float32))
    x = tf.constant((rng.random((5, 12)) < 0.4).astype(np.float32))
    np.testing.assert_allclose(vae.log_likelihood(x, z).numpy(),
                               vae.decode(z).log_prob(x).numpy(), rtol=1e-5)
