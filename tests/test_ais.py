"""Tests of the AIS log-likelihood against exact values: 2-D quadrature, a linear-Gaussian model."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from klgap.errors import UserError
from klgap.evaluation import ais

NUM_PIXELS = 20


@pytest.fixture(scope="module")
def tiny_vae():
    """A VAE with a 2-D latent space and 20 binary pixels, its decoder's weights scaled up (x3)
    so that the posteriors are narrower than the prior, and 8 images drawn from it."""
    import tensorflow as tf

    from klgap.models import vae as vae_model

    vae = vae_model.VAE.build(NUM_PIXELS, 2, [16], seed=3)
    for weight in vae.decoder_net.weights:
        weight.assign(weight * 3.0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((8, 2)).astype(np.float32)
    means = vae.decode(tf.constant(z)).mean().numpy()
    x = (rng.random((8, NUM_PIXELS)) < means).astype(np.float32)  # (B, P)
    return vae, x


def quadrature_log_likelihood(vae, x: np.ndarray) -> np.ndarray:
    """log p(x) = log sum_grid N(z; 0, I) p(x|z) dz^2 on a 701 x 701 grid over [-7, 7]^2, (B,).

    The grid's step (0.02) is far below the posteriors' widths and the prior's mass outside the
    square is below 1e-10: the rule's error is far below the tolerances of the tests.
    """
    import tensorflow as tf

    grid = np.linspace(-7.0, 7.0, 701)
    step = grid[1] - grid[0]
    z = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)  # (G, 2)
    log_likelihood = vae.log_likelihood(tf.constant(x)[None],
                                        tf.constant(z, tf.float32)[:, None, :]).numpy()  # (G, B)
    log_prior = -0.5 * np.sum(z ** 2, axis=1) - np.log(2 * np.pi)  # (G,)
    return logsumexp(log_likelihood.astype(np.float64) + log_prior[:, None], axis=0) + 2 * np.log(
        step)


@pytest.fixture(scope="module")
def tiny_vae_ais(tiny_vae):
    vae, x = tiny_vae
    return ais.ais_log_likelihood(vae, x, num_steps=500, num_chains=64, seed=1)


def test_ais_matches_quadrature_on_a_2d_latent_vae(tiny_vae, tiny_vae_ais):
    vae, x = tiny_vae
    exact = quadrature_log_likelihood(vae, x)  # (B,)
    result = tiny_vae_ais
    errors = result["log_likelihood"] - exact
    assert result["log_likelihood"].shape == (8,)
    assert np.all(np.abs(errors) < np.maximum(4 * result["log_likelihood_se"], 0.02))
    assert np.all(np.abs(errors) < 0.1)
    assert abs(np.mean(errors)) < 3 * result["log_likelihood_mean_se"]
    assert 0.5 < result["acceptance_rate"] < 0.95


def test_ais_is_not_below_the_importance_weighted_bound(tiny_vae, tiny_vae_ais):
    import tensorflow as tf

    vae, x = tiny_vae
    num_samples = 1000
    posterior = vae.encode(tf.constant(x))
    z = posterior.sample(num_samples, seed=[4, 2])  # (K, B, D)
    log_weight = (vae.log_likelihood(tf.constant(x), z) + vae.prior.log_prob(z)
                  - posterior.log_prob(z)).numpy().astype(np.float64)  # (K, B)
    iw_bound = logsumexp(log_weight, axis=0) - np.log(num_samples)  # (B,)
    ais_mean = tiny_vae_ais["log_likelihood_mean"]
    assert ais_mean > np.mean(iw_bound) - 3 * tiny_vae_ais["log_likelihood_mean_se"]


def linear_gaussian(latent_dim: int = 3, data_dim: int = 6, noise_scale: float = 0.5, seed=5):
    """p(x|z) = N(x; z W + b, s^2 I) as a callable, and the exact marginal N(x; b, W'W + s^2 I)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((latent_dim, data_dim))  # (D, P)
    bias = rng.standard_normal(data_dim)  # (P,)
    weights32, bias32 = tf.constant(weights, tf.float32), tf.constant(bias, tf.float32)

    def log_likelihood(x, z):  # (B, P), (C, B, D) -> (C, B)
        mean = tf.einsum("cbd,dp->cbp", z, weights32) + bias32
        return tf.reduce_sum(-0.5 * ((x - mean) / noise_scale) ** 2
                             - np.log(noise_scale * np.sqrt(2 * np.pi)), axis=-1)

    marginal = stats.multivariate_normal(bias, weights.T @ weights
                                         + noise_scale ** 2 * np.eye(data_dim))
    return log_likelihood, marginal


def test_ais_matches_the_closed_form_of_a_linear_gaussian_model():
    log_likelihood, marginal = linear_gaussian()
    x = marginal.rvs(size=6, random_state=7).astype(np.float32)  # (B, P)
    result = ais.ais_log_likelihood(log_likelihood, x, latent_dim=3, num_steps=1000,
                                    num_chains=32, seed=2)
    errors = result["log_likelihood"] - marginal.logpdf(x)
    assert np.all(np.abs(errors) < 4 * result["log_likelihood_se"])
    assert abs(np.mean(errors)) < min(3 * result["log_likelihood_mean_se"], 0.1)


def test_adapting_the_step_size_does_not_bias_the_estimate():
    # Pooled over 50 x 16 chains, the estimate of one example's p(x) has a standard error of
    # about 0.02 nats; adapting each chain from its own acceptances gave +0.05 here.
    log_likelihood, marginal = linear_gaussian()
    x = marginal.rvs(size=1, random_state=9)[None].astype(np.float32)
    result = ais.ais_log_likelihood(log_likelihood, np.repeat(x, 50, axis=0), latent_dim=3,
                                    num_steps=300, num_chains=16, seed=4)
    pooled, pooled_se, _ = ais.log_mean_exp_with_error(result["log_weights"].reshape(-1, 1))
    assert abs(pooled[0] - marginal.logpdf(x[0])) < 3 * pooled_se[0]
    assert result["final_step_size"] > 2 * ais.HMC_STEP_SIZE  # the step size was adapted


def test_the_standard_error_matches_the_spread_of_independent_estimates():
    # 300 copies of one example, each with its own chains: the sd of the 300 estimates against
    # their reported standard errors. With enough effective chains (T = 100: about 14 of 32)
    # they agree; when a few chains dominate (T = 10: below 4) the delta method understates the
    # error, as the docstring warns.
    log_likelihood, marginal = linear_gaussian()
    x = np.repeat(marginal.rvs(size=1, random_state=8)[None].astype(np.float32), 300, axis=0)
    exact = marginal.logpdf(x[0])
    for num_steps, low, high in ((100, 0.8, 1.3), (10, 1.5, np.inf)):
        result = ais.ais_log_likelihood(log_likelihood, x, latent_dim=3, num_steps=num_steps,
                                        num_chains=32, seed=3)
        spread = np.std(result["log_likelihood"], ddof=1)
        ratio = spread / np.sqrt(np.mean(result["log_likelihood_se"] ** 2))
        assert low < ratio < high, (num_steps, ratio)
        assert (result["effective_chains"] > 10) == (num_steps == 100)
        # a stochastic lower bound: the estimates fall below log p(x) on average
        assert np.mean(result["log_likelihood"]) < exact


def test_ais_is_deterministic_given_the_seed(tiny_vae):
    vae, x = tiny_vae
    settings = dict(num_steps=20, num_chains=4, num_leapfrog_steps=3)
    first = ais.ais_log_likelihood(vae, x[:3], seed=5, **settings)
    again = ais.ais_log_likelihood(vae, x[:3], seed=5, **settings)
    other = ais.ais_log_likelihood(vae, x[:3], seed=6, **settings)
    np.testing.assert_array_equal(first["log_weights"], again["log_weights"])
    assert not np.array_equal(first["log_weights"], other["log_weights"])
    assert first["log_weights"].shape == (4, 3)
    assert (first["num_steps"], first["num_chains"]) == (20, 4)


def test_sigmoid_schedule_runs_from_zero_to_one_and_is_increasing():
    betas = ais.sigmoid_schedule(100)
    assert betas.shape == (101,) and betas[0] == 0.0 and betas[-1] == 1.0
    assert np.all(np.diff(betas) > 0)
    assert np.diff(betas)[0] < np.diff(betas)[50]  # denser at the ends
    np.testing.assert_array_equal(ais.sigmoid_schedule(1), [0.0, 1.0])


def test_bad_arguments_are_refused_with_the_fix():
    log_likelihood, _ = linear_gaussian()
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(UserError, match="pass latent_dim"):
        ais.ais_log_likelihood(log_likelihood, x, num_steps=2)
    with pytest.raises(UserError, match=r"\(N, P\)"):
        ais.ais_log_likelihood(log_likelihood, np.zeros(6), latent_dim=3, num_steps=2)
    with pytest.raises(UserError, match="num_chains"):
        ais.ais_log_likelihood(log_likelihood, x, latent_dim=3, num_steps=2, num_chains=0)
    with pytest.raises(UserError, match="unknown schedule"):
        ais.ais_log_likelihood(log_likelihood, x, latent_dim=3, num_steps=2, schedule="cosine")
