"""Tests of the training objectives (the interface the training core calls), against NumPy."""

import csv
import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import special

from klgap import cli
from klgap.training import engine
from klgap.estimators import mixture_numerics
from klgap.models import vae as model
from klgap.training import objectives
from klgap.errors import UserError

WAE_IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # multiples of C = 2 d_z


def test_beta_vae_loss_weights_rate_by_beta():
    terms = model.Terms(distortion=tf.constant([1.0, 3.0]), rate=tf.constant([2.0, 4.0]))
    loss = objectives.get("vae").loss
    assert float(loss(terms, {"beta": tf.constant(0.0)}, None)) == pytest.approx(2.0)
    assert float(loss(terms, {"beta": tf.constant(0.5)}, None)) == pytest.approx(3.5)


def test_beta_vae_loss_of_stacked_models_is_each_models_loss():
    """K models' (K, B) terms with (K, 1) weights give the K separate losses."""
    rng = np.random.default_rng(0)
    distortion, rate = rng.uniform(size=(2, 3, 5)).astype(np.float32)  # (K, B) each
    betas = np.array([0.1, 1.0, 4.0], np.float32)
    loss = objectives.get("vae").loss
    stacked = loss(model.Terms(tf.constant(distortion), tf.constant(rate)),
                   {"beta": tf.constant(betas[:, None])}, None)
    expected = (distortion + betas[:, None] * rate).mean(axis=1)
    np.testing.assert_allclose(stacked.numpy(), expected, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Independent NumPy references


def numpy_imq_mmd_squared(z_q: np.ndarray, z_p: np.ndarray) -> float:
    """Unbiased MMD^2 (U-statistic), IMQ kernel C / (C + |a - b|^2) summed over C = 2 D * scale."""
    def squared_distances(a, b):  # (A, B)
        return np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=2)

    total = 0.0
    for scale in WAE_IMQ_SCALES:
        c = 2.0 * z_q.shape[1] * scale
        k_qq, k_pp, k_qp = (c / (c + squared_distances(a, b))
                            for a, b in ((z_q, z_q), (z_p, z_p), (z_q, z_p)))
        n, m = len(z_q), len(z_p)
        total += ((k_qq.sum() - np.trace(k_qq)) / (n * (n - 1))
                  + (k_pp.sum() - np.trace(k_pp)) / (m * (m - 1)) - 2.0 * k_qp.mean())
    return total


def numpy_stratified_total_correlation(z, mu, sigma, num_examples: int) -> float:
    """mean_i [log q(z_i) - sum_d log q(z_id)], weights 1/N (own) and (N-1)/(N(B-1)) (others)."""
    batch = len(z)
    log_density = (-0.5 * ((z[:, None, :] - mu[None]) / sigma[None]) ** 2
                   - np.log(sigma[None]) - 0.5 * math.log(2 * math.pi))  # (B, B, D)
    log_weights = np.full((batch, batch), math.log((num_examples - 1)
                                                   / (num_examples * (batch - 1))))
    np.fill_diagonal(log_weights, -math.log(num_examples))  # (B, B)
    log_q = special.logsumexp(log_density.sum(axis=2) + log_weights, axis=1)  # (B,)
    log_q_marginals = special.logsumexp(log_density + log_weights[:, :, None], axis=1)  # (B, D)
    return float(np.mean(log_q - log_q_marginals.sum(axis=1)))


def random_terms(rng, shape, latent_dim: int) -> dict:
    """Per-example terms of shape `shape` ((B,) or (K, B)) and z, loc, scale (shape + (D,))."""
    loc = rng.normal(0.0, 1.0, shape + (latent_dim,))
    scale = rng.uniform(0.3, 1.2, shape + (latent_dim,))
    return {"distortion": rng.uniform(10.0, 20.0, shape), "rate": rng.uniform(0.0, 3.0, shape),
            "z": loc + scale * rng.standard_normal(loc.shape), "loc": loc, "scale": scale}


def as_terms(arrays: dict) -> model.Terms:
    return model.Terms(**{name: tf.constant(value, tf.float64) for name, value in arrays.items()})


def prior_samples(step_seed, shape) -> np.ndarray:
    """The prior samples of the step with seed (s, t): stateless normals keyed by (s, -t - 1)."""
    return tf.random.stateless_normal(shape, seed=[step_seed[0], -step_seed[1] - 1],
                                      dtype=tf.float64).numpy()


def numpy_loss(name: str, arrays: dict, weight: float, step_seed, num_examples: int) -> float:
    """One model's loss, (B,) terms, from the NumPy references."""
    if name == "mmd":
        mmd = numpy_imq_mmd_squared(arrays["z"], prior_samples(step_seed, arrays["z"].shape))
        return float(np.mean(arrays["distortion"])) + weight * mmd
    total_correlation = numpy_stratified_total_correlation(arrays["z"], arrays["loc"],
                                                           arrays["scale"], num_examples)
    return float(np.mean(arrays["distortion"] + arrays["rate"])) + (weight - 1) * total_correlation


# ------------------------------------------------------------------------------------------
# mmd and tcvae


@pytest.mark.parametrize("name, weight_name, weight", [("mmd", "lambda", 30.0),
                                                        ("tcvae", "beta", 6.0)])
def test_loss_matches_numpy(name, weight_name, weight):
    rng = np.random.default_rng(10)
    arrays = random_terms(rng, (9,), latent_dim=3)
    step_seed, num_examples = [7, 24], 1000
    objective = objectives.get(name, num_examples=num_examples)
    loss = objective.loss(as_terms(arrays), {weight_name: tf.constant(weight, tf.float64)},
                          tf.constant(step_seed, tf.int64))
    assert loss.shape == ()
    assert float(loss) == pytest.approx(numpy_loss(name, arrays, weight, step_seed, num_examples),
                                        rel=1e-12)


def test_mmd_loss_has_no_per_example_kl_and_prior_samples_follow_the_step_seed():
    rng = np.random.default_rng(11)
    arrays = random_terms(rng, (8,), latent_dim=2)
    loss = lambda terms, step: float(objectives.get("mmd").loss(  # noqa: E731
        as_terms(terms), {"lambda": tf.constant(1.0, tf.float64)}, tf.constant([1, step])))
    assert loss({**arrays, "rate": 100.0 * arrays["rate"]}, 2) == loss(arrays, 2)
    assert loss(arrays, 2) != loss(arrays, 4)  # new prior samples each step


@pytest.mark.parametrize("dtype, rtol", [(tf.float64, 1e-10), (tf.float32, 1e-4)])
def test_tcvae_total_correlation_is_the_estimators_stratified_estimate(dtype, rtol):
    """beta - 1 = 1 makes the loss minus the VAE's loss the TC; compared with
    klgap.estimators.decomposition."""
    rng = np.random.default_rng(12)
    arrays = random_terms(rng, (32,), latent_dim=4)
    num_examples = 60000
    log_q, log_q_marginals = mixture_numerics.minibatch_log_q(arrays["z"], arrays["loc"],
                                                              arrays["scale"], num_examples,
                                                              "mss")
    expected = np.mean(log_q - log_q_marginals.sum(axis=1))
    terms = model.Terms(**{k: tf.constant(v, dtype) for k, v in arrays.items()})
    objective = objectives.get("tcvae", num_examples=num_examples)
    total_correlation = float(objective.penalty(terms))
    assert total_correlation == pytest.approx(expected, rel=rtol)
    beta_two = float(objective.loss(terms, {"beta": tf.constant(2.0, dtype)}, None))
    vae = float(objectives.get("vae").loss(terms, {"beta": tf.constant(1.0, dtype)}, None))
    assert beta_two - vae == pytest.approx(expected, rel=max(rtol, 1e-6))


@pytest.mark.parametrize("name, weight_name", [("mmd", "lambda"), ("tcvae", "beta")])
def test_stacked_losses_are_the_separate_losses(name, weight_name):
    """K models' (K, B, .) terms, (K, 1) weights and (K, 2) seeds give the K separate losses."""
    rng = np.random.default_rng(13)
    arrays = random_terms(rng, (3, 7), latent_dim=2)  # K = 3 models, B = 7
    weights = np.array([0.0, 2.0, 50.0])
    step_seeds = np.array([[3, 10], [4, 10], [5, 10]])
    objective = objectives.get(name, num_examples=500)
    stacked = objective.loss(as_terms(arrays), {weight_name: tf.constant(weights[:, None])},
                             tf.constant(step_seeds, tf.int64))
    assert stacked.shape == (3,)
    for k in range(3):
        one = {key: value[k] for key, value in arrays.items()}
        separate = objective.loss(as_terms(one), {weight_name: tf.constant(weights[k])},
                                  tf.constant(step_seeds[k], tf.int64))
        assert float(stacked[k]) == pytest.approx(float(separate), rel=1e-12)
        assert float(stacked[k]) == pytest.approx(
            numpy_loss(name, one, weights[k], step_seeds[k], 500), rel=1e-12)


@pytest.mark.parametrize("name", list(objectives.OBJECTIVES))
def test_bad_weights_are_refused_with_their_name(name):
    objective = objectives.get(name)
    [weight] = objective.weights
    assert objective.check({weight: 0.0}) == []
    assert objective.check({weight: -1.0}) == [f"{weight} must be >= 0, got -1.0"]
    assert objective.check({weight: float("nan")}) == [f"{weight} must be finite, got nan"]
    assert objective.check({weight: float("inf")}) == [f"{weight} must be finite, got inf"]
    assert objective.check({weight: "1"}) == [f"{weight} must be a number, got '1'"]


def test_unknown_objectives_and_too_small_batches_are_refused():
    with pytest.raises(UserError, match="unknown objective 'ae'.*vae"):
        objectives.get("ae")
    engine.check_batches(objectives.get("vae"), num_train=129, batch_size=128)
    with pytest.raises(UserError, match="mmd needs batches of at least 2.*a batch of 1"):
        engine.check_batches(objectives.get("mmd"), num_train=129, batch_size=128)


def test_tcvae_without_the_training_set_size_says_so():
    arrays = random_terms(np.random.default_rng(14), (4,), latent_dim=2)
    with pytest.raises(ValueError, match="training set's size"):
        objectives.get("tcvae").loss(as_terms(arrays), {"beta": 2.0}, None)


# ------------------------------------------------------------------------------------------
# Through the commands


def history(rundir) -> np.ndarray:
    with open(rundir / "history.csv") as f:
        return np.array([[float(v) for k, v in row.items() if k != "seconds"]
                         for row in csv.DictReader(f)])


SHAPE = ["--latent-dim", "2", "--epochs", "2", "--batch-size", "64", "--hidden", "16",
         "--threads", "1"]


@pytest.mark.parametrize("name, option", [("mmd", "--lambda"), ("tcvae", "--beta")])
def test_train_and_train_together_write_finite_histories_that_agree(digits_npz, tmp_path,
                                                                    name, option):
    """`train` with the weight's option; `train-together` (plural option) matches it per run."""
    for seed, weight in ((3, "10"), (4, "0.5")):
        cli.main(["train", "--data", str(digits_npz), "--rundir", str(tmp_path / f"run{seed}"),
                  "--objective", name, option, weight, "--seed", str(seed)] + SHAPE)
    cli.main(["train-together", "--data", str(digits_npz), "--rundirs",
              str(tmp_path / "together3"), str(tmp_path / "together4"), "--seeds", "3", "4",
              "--objective", name, option + "s", "10", "0.5"] + SHAPE)
    for seed in (3, 4):
        separate = history(tmp_path / f"run{seed}")
        assert separate.shape == (2, len(engine.HISTORY_COLUMNS) - 1)
        assert np.all(np.isfinite(separate))
        np.testing.assert_allclose(history(tmp_path / f"together{seed}"), separate,
                                   rtol=1e-4, atol=1e-4)


def test_train_needs_the_objectives_weight(digits_npz, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--data", str(digits_npz), "--rundir", str(tmp_path / "run"),
                  "--objective", "mmd", "--beta", "1", "--seed", "0"] + SHAPE)
    assert "objective mmd needs --lambda" in capsys.readouterr().err
