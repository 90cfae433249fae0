"""The learned priors (klgap.models.vae): VampPrior and class-conditional prior, against NumPy;
their variables in the model's weights and checkpoints; the objectives vamp and classprior."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from klgap.config.runconfig import RunConfig
from klgap.models import networks
from klgap.models import vae as model
from klgap.training import objectives
from klgap.training import train

DATA_DIM, LATENT_DIM, HIDDEN = 12, 3, [8]


def numpy_encoder(weights: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mu and sigma of q(z|x) from the stored weights: ReLU MLP, sigma = softplus + floor."""
    h = x.astype(np.float64)
    layers = sorted(int(k[len("encoder/w"):]) for k in weights if k.startswith("encoder/w"))
    for i in layers:
        h = h @ weights[f"encoder/w{i}"].astype(np.float64) + weights[f"encoder/b{i}"]
        if i != layers[-1]:
            h = np.maximum(h, 0.0)
    loc, raw = np.split(h, 2, axis=-1)
    return loc, np.logaddexp(0.0, raw) + model.SCALE_FLOOR


def numpy_log_normal(z, mu, sigma) -> np.ndarray:
    """log N(z; mu, diag sigma^2), summed over the last axis."""
    return np.sum(-0.5 * ((z - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi), -1)


def numpy_bernoulli_nll(weights: dict, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """-log p(x|z) of the decoder, from the stored weights."""
    h = z.astype(np.float64)
    layers = sorted(int(k[len("decoder/w"):]) for k in weights if k.startswith("decoder/w"))
    for i in layers:
        h = h @ weights[f"decoder/w{i}"].astype(np.float64) + weights[f"decoder/b{i}"]
        if i != layers[-1]:
            h = np.maximum(h, 0.0)
    return -np.sum(x * h - np.logaddexp(0.0, h), axis=-1)


def built(prior: str, seed: int = 4, **options):
    return model.VAE.build(DATA_DIM, LATENT_DIM, HIDDEN, seed, prior=prior, **options)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    x = (rng.random((6, DATA_DIM)) < 0.4).astype(np.float32)
    noise = rng.standard_normal((6, LATENT_DIM)).astype(np.float32)
    labels = np.array([0, 3, 3, 9, 1, 0])
    return x, noise, labels


# ------------------------------------------------------------------------------------------
# VampPrior


def test_vamp_prior_variables_initialisation_and_names():
    vae = built(model.VAMP, num_pseudo_inputs=7)
    keys = [model.variable_key(v) for v in vae.trainable_variables]
    assert keys.count("prior/pseudo_inputs") == 1 and len(keys) == 4 * len(HIDDEN) + 4 + 1
    pseudo = vae.prior.pseudo_input_weights.numpy()
    assert pseudo.shape == (7, DATA_DIM)
    assert abs(pseudo.mean() - 0.05) < 0.01 and 0.005 < pseudo.std() < 0.015
    np.testing.assert_array_equal(built(model.VAMP, num_pseudo_inputs=7).prior
                                  .pseudo_input_weights.numpy(), pseudo)  # seeded
    # The standard prior's model has the same networks' variables, and no others.
    standard = [model.variable_key(v) for v in built(model.STANDARD).trainable_variables]
    assert standard == [k for k in keys if not k.startswith("prior/")]


def test_vamp_log_prior_and_rate_match_numpy(batch):
    x, noise, _ = batch
    vae = built(model.VAMP, num_pseudo_inputs=5)
    rng = np.random.default_rng(1)
    # pseudo-inputs partly outside [0, 1], where they are clipped
    vae.prior.pseudo_input_weights.assign(rng.uniform(-0.3, 1.3, (5, DATA_DIM)).astype(np.float32))
    weights = model.get_weights(vae)
    u = np.clip(weights["prior/pseudo_inputs"].astype(np.float64), 0.0, 1.0)
    mu_u, sigma_u = numpy_encoder(weights, u)  # (K, D)
    mu, sigma = numpy_encoder(weights, x)
    z = mu + sigma * noise  # (B, D)
    log_prior = special.logsumexp(numpy_log_normal(z[:, None], mu_u[None], sigma_u[None]),
                                  axis=1) - np.log(5)
    np.testing.assert_allclose(vae.log_prior(tf.constant(z, tf.float32)).numpy(), log_prior,
                               rtol=1e-5, atol=1e-5)
    terms = vae.terms(tf.constant(x), tf.constant(noise))
    expected_rate = numpy_log_normal(z, mu, sigma) - log_prior
    np.testing.assert_allclose(terms.rate.numpy(), expected_rate, rtol=1e-4, atol=1e-4)
    expected_distortion = numpy_bernoulli_nll(weights, x, z)
    np.testing.assert_allclose(terms.distortion.numpy(), expected_distortion, rtol=1e-5)
    # the objective vamp: mean_i [d_i + beta r_i]
    objective = objectives.get("vamp")
    loss = objective.loss(objective.terms(vae, tf.constant(x), tf.constant(noise)),
                          {"beta": tf.constant(0.7)}, None)
    assert float(loss) == pytest.approx(np.mean(expected_distortion + 0.7 * expected_rate),
                                        rel=1e-5)


def test_vamp_rate_is_an_unbiased_estimate_of_the_kl_to_the_mixture():
    """With a single pseudo-input p(z) = q(z|u): the mean of the MC rate is KL(q(z|x) || q(z|u))."""
    vae = built(model.VAMP, num_pseudo_inputs=1)
    x = tf.constant((np.random.default_rng(2).random((1, DATA_DIM)) < 0.5).astype(np.float32))
    noise = tf.random.stateless_normal([20000, LATENT_DIM], seed=[3, 4])
    rates = vae.terms(tf.repeat(x, 20000, axis=0), noise).rate.numpy()
    exact = float(tf.reduce_mean(model.tfd.kl_divergence(
        vae.encode(x), vae.encode(vae.prior.pseudo_inputs()))))
    assert abs(rates.mean() - exact) < 4 * rates.std() / np.sqrt(len(rates)) + 1e-6


def test_vamp_gradients_reach_the_pseudo_inputs(batch):
    x, noise, _ = batch
    vae = built(model.VAMP, num_pseudo_inputs=4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(vae.terms(tf.constant(x), tf.constant(noise)).rate)
    gradient = tape.gradient(loss, vae.prior.pseudo_input_weights)
    assert gradient is not None and np.any(gradient.numpy() != 0)


# ------------------------------------------------------------------------------------------
# Class-conditional prior


def numpy_gaussian_kl(mu, sigma, m, s) -> np.ndarray:
    """KL(N(mu, sigma^2) || N(m, s^2)) summed over the last axis."""
    return np.sum(np.log(s / sigma) + (sigma ** 2 + (mu - m) ** 2) / (2 * s ** 2) - 0.5, -1)


def test_class_prior_starts_as_the_standard_normal(batch):
    x, noise, labels = batch
    vae, standard = built(model.CLASS_CONDITIONAL), built(model.STANDARD)
    np.testing.assert_allclose(vae.terms(tf.constant(x), tf.constant(noise), labels).rate.numpy(),
                               standard.terms(tf.constant(x), tf.constant(noise)).rate.numpy(),
                               rtol=1e-6)


def test_class_prior_rate_log_prior_and_loss_match_numpy(batch):
    x, noise, labels = batch
    vae = built(model.CLASS_CONDITIONAL)
    rng = np.random.default_rng(5)
    vae.prior.loc.assign(rng.normal(0, 1, (10, LATENT_DIM)).astype(np.float32))
    vae.prior.log_scale.assign(rng.normal(0, 0.5, (10, LATENT_DIM)).astype(np.float32))
    weights = model.get_weights(vae)
    m, s = weights["class_prior/loc"].astype(np.float64), np.exp(
        weights["class_prior/log_scale"].astype(np.float64))
    mu, sigma = numpy_encoder(weights, x)
    expected_rate = numpy_gaussian_kl(mu, sigma, m[labels], s[labels])
    objective = objectives.get("classprior")
    terms = objective.terms(vae, tf.constant(x), tf.constant(noise), labels=tf.constant(labels))
    np.testing.assert_allclose(terms.rate.numpy(), expected_rate, rtol=1e-4, atol=1e-5)
    z = mu + sigma * noise
    expected_distortion = numpy_bernoulli_nll(weights, x, z)
    loss = objective.loss(terms, {"beta": tf.constant(2.5)}, None)
    assert float(loss) == pytest.approx(np.mean(expected_distortion + 2.5 * expected_rate),
                                        rel=1e-5)
    zf = tf.constant(z, tf.float32)
    np.testing.assert_allclose(vae.log_prior(zf, tf.constant(labels)).numpy(),
                               numpy_log_normal(z, m[labels], s[labels]), rtol=1e-5)
    marginal = special.logsumexp(numpy_log_normal(z[:, None], m[None], s[None]), 1) - np.log(10)
    np.testing.assert_allclose(vae.log_prior(zf).numpy(), marginal, rtol=1e-5)


def test_learned_prior_objectives_refuse_missing_labels_or_priors(batch):
    x, noise, _ = batch
    with pytest.raises(ValueError, match="classprior needs the examples' labels"):
        objectives.get("classprior").terms(built(model.CLASS_CONDITIONAL), x, noise)
    with pytest.raises(ValueError, match="classprior needs a model with the class-conditional"):
        objectives.get("classprior").terms(built(model.STANDARD), x, noise, labels=[0] * 6)
    with pytest.raises(ValueError, match="vamp needs a model with the VampPrior"):
        objectives.get("vamp").terms(built(model.STANDARD), x, noise)
    with pytest.raises(ValueError, match="unknown prior"):
        built("flow")


# ------------------------------------------------------------------------------------------
# Building from a run's configuration, weights and checkpoints


@pytest.mark.parametrize("objective, prior", [("vae", "standard"), ("mmd", "standard"),
                                              ("aggregate", "standard"), ("vamp", "vamp"),
                                              ("classprior", "class_conditional")])
def test_build_model_gives_the_objectives_prior(objective, prior):
    config = {"objective": objective, "latent_dim": 2, "hidden": [4], "seed": 0,
              "num_pseudo_inputs": 3}
    assert networks.prior_of(config) == prior
    assert networks.build_model(config, (5,)).prior_kind == prior
    # run.json written before the keys existed: no objective, no num_pseudo_inputs
    assert networks.prior_of({"latent_dim": 2}) == "standard"
    if objective == "vamp":
        vae = networks.build_model({**config, "num_pseudo_inputs": None}, (5,))
        assert vae.prior.num_pseudo_inputs == networks.DEFAULT_NUM_PSEUDO_INPUTS


def test_the_constants_without_tensorflow_agree_with_the_models():
    assert networks.DEFAULT_NUM_PSEUDO_INPUTS == model.DEFAULT_NUM_PSEUDO_INPUTS
    assert train.CLASS_PRIOR_CLASSES == model.NUM_CLASSES
    assert {cls.prior for cls in objectives.OBJECTIVES.values()} == set(model.PRIORS)


@pytest.mark.parametrize("prior", [model.VAMP, model.CLASS_CONDITIONAL])
def test_weights_of_a_learned_prior_round_trip(prior, batch):
    x, noise, labels = batch
    vae = built(prior, seed=4, num_pseudo_inputs=3)
    for variable in vae.prior.trainable_variables:  # away from the initial values
        variable.assign_add(0.1 * tf.ones_like(variable))
    other = built(prior, seed=9, num_pseudo_inputs=3)
    model.set_weights(other, model.get_weights(vae))
    for a, b in zip(vae.trainable_variables, other.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = tf.constant(noise)
    np.testing.assert_array_equal(vae.log_prior(z, labels).numpy(),
                                  other.log_prior(z, labels).numpy())
    weights = model.get_weights(vae)
    missing = {k: v for k, v in weights.items() if not k.startswith(vae.prior.name)}
    with pytest.raises(ValueError, match="weights lack"):
        model.set_weights(other, missing)


@pytest.mark.parametrize("objective", ["vamp", "classprior"])
def test_learned_prior_runs_resume_exactly_and_store_the_prior(digits_npz, tmp_path, objective):
    """2 epochs straight == 1 epoch, then resumed to 2: the checkpoint carries the prior."""
    def config(rundir, epochs):
        return RunConfig(data=str(digits_npz), rundir=str(rundir), latent_dim=2, seed=3,
                         epochs=epochs, objective=objective, weights={"beta": 1.0},
                         batch_size=128, hidden=[16], threads=1, num_pseudo_inputs=20)

    train.train(config(tmp_path / "straight", 2))
    train.train(config(tmp_path / "resumed", 1))
    train.train(config(tmp_path / "resumed", 2))
    from klgap import atomic

    straight = atomic.load_npz(tmp_path / "straight/model.npz")
    resumed = atomic.load_npz(tmp_path / "resumed/model.npz")
    prior_keys = [k for k in straight if k.startswith(("prior/", "class_prior/"))]
    assert prior_keys
    assert set(straight) == set(resumed)
    assert all(np.array_equal(straight[k], resumed[k]) for k in straight)
    checkpoint = atomic.load_npz(tmp_path / "resumed/checkpoint.npz")
    assert all(k in checkpoint for k in prior_keys)
    initial = networks.build_model(config(tmp_path, 2), (64,))
    assert not all(np.array_equal(model.get_weights(initial)[k], straight[k])
                   for k in prior_keys)  # the prior was trained
    # evaluation's way of rebuilding the model: from run.json's config
    import json

    run = json.loads((tmp_path / "straight/run.json").read_text())
    rebuilt = networks.build_model(run["config"], (run["data_dim"],))
    model.set_weights(rebuilt, straight)
    assert rebuilt.prior_kind == networks.prior_of(run["config"])


@pytest.mark.parametrize("prior", model.PRIORS)
def test_prior_distribution_samples_codes_and_agrees_with_log_prior(prior):
    vae = built(prior, num_pseudo_inputs=4)
    distribution = vae.prior_distribution()
    z = distribution.sample(5, seed=(1, 2))
    assert z.shape == (5, LATENT_DIM)
    np.testing.assert_allclose(distribution.log_prob(z).numpy(), vae.log_prior(z).numpy(),
                               rtol=1e-6)
