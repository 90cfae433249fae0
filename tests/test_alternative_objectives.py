"""The alternatives to the per-example KL (issue #30): infovae, wae, waelogvar, vamp, classprior.

Each loss is checked against an independent NumPy computation on small inputs (the learned
priors' rates in test_learned_priors.py), the objectives' descriptions, the labels the training
step passes, and the objectives that existed before are checked to train as they did before the
labels and the learned priors were added. Training through the commands:
test_alternative_training.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from klgap.config import schema as config_schema
from klgap.config.runconfig import RunConfig
from klgap.models import networks
from klgap.models import vae as model
from klgap.training import engine, objectives
from klgap.training.adam import Adam
from test_objectives import as_terms, numpy_imq_mmd_squared, prior_samples, random_terms
from test_learned_priors import numpy_bernoulli_nll, numpy_encoder

NEW = {"infovae": "lambda", "wae": "lambda", "waelogvar": "lambda", "vamp": "beta",
       "classprior": "beta"}
MMD_OBJECTIVES = ("infovae", "wae", "waelogvar")


def numpy_loss(name: str, arrays: dict, weight: float, step_seed) -> float:
    """One model's loss from (B,) terms, written out in NumPy (z as given in the terms)."""
    distortion, rate = arrays["distortion"], arrays["rate"]
    if name in ("vamp", "classprior"):
        return float(np.mean(distortion + weight * rate))
    mmd = numpy_imq_mmd_squared(arrays["z"], prior_samples(step_seed, arrays["z"].shape))
    if name == "infovae":
        return float(np.mean(distortion + rate)) + weight * mmd
    if name == "waelogvar":
        log_variance = np.sum(np.abs(np.log(arrays["scale"] ** 2)), axis=-1)
        return float(np.mean(distortion + log_variance)) + weight * mmd
    return float(np.mean(distortion)) + weight * mmd  # wae: the terms' z is mu


# ------------------------------------------------------------------------------------------
# The losses against NumPy


@pytest.mark.parametrize("name", list(NEW))
def test_loss_matches_numpy(name):
    rng = np.random.default_rng(20)
    arrays = random_terms(rng, (9,), latent_dim=3)
    step_seed, weight = [7, 24], 30.0
    loss = objectives.get(name, num_examples=1000).loss(
        as_terms(arrays), {NEW[name]: tf.constant(weight, tf.float64)},
        tf.constant(step_seed, tf.int64))
    assert loss.shape == ()
    assert float(loss) == pytest.approx(numpy_loss(name, arrays, weight, step_seed), rel=1e-12)


def test_infovae_is_the_vae_plus_the_mmd_and_mmd_is_infovae_without_the_rate():
    rng = np.random.default_rng(21)
    terms = as_terms(random_terms(rng, (8,), latent_dim=2))
    seed = tf.constant([1, 2], tf.int64)
    weight = {"lambda": tf.constant(0.0, tf.float64)}
    vae = objectives.get("vae").loss(terms, {"beta": tf.constant(1.0, tf.float64)}, seed)
    assert float(objectives.get("infovae").loss(terms, weight, seed)) == float(vae)
    mmd = objectives.get("mmd").penalty(terms, seed)
    ten = {"lambda": tf.constant(10.0, tf.float64)}
    assert float(objectives.get("infovae").loss(terms, ten, seed)) == pytest.approx(
        float(vae) + 10.0 * float(mmd), rel=1e-12)
    assert float(objectives.get("infovae").loss(terms, ten, seed)) == pytest.approx(
        float(objectives.get("mmd").loss(terms, ten, seed)) + float(np.mean(terms.rate)),
        rel=1e-12)


def test_the_mmd_penalty_is_bounded_by_fourteen():
    """The scale of lambda: the summed IMQ MMD^2 is at most 2 per kernel scale, 14 in all.

    Codes collapsed onto one far point: each kernel's within-q term is 1 and its cross term
    about 0, so each scale contributes 1 plus the prior's within term (in [0, 1])."""
    far = tf.constant(np.full((16, 2), 1e4))
    mmd = float(objectives.get("mmd").penalty(model.Terms(None, None, z=far),
                                              tf.constant([0, 0], tf.int64)))
    assert 7.0 < mmd <= 14.0


def test_wae_codes_are_the_means_and_its_loss_matches_numpy():
    """wae's terms: z = mu(x) whatever the noise, distortion at mu, the rate of the unused
    Gaussian; the loss is the distortion plus lambda MMD^2 of the means, all from NumPy."""
    vae = model.VAE.build(data_dim=12, latent_dim=3, hidden=[8], seed=2)
    rng = np.random.default_rng(22)
    x = (rng.random((7, 12)) < 0.4).astype(np.float32)
    noise = rng.standard_normal((7, 3)).astype(np.float32)
    objective = objectives.get("wae")
    terms = objective.terms(vae, tf.constant(x), tf.constant(noise))
    same = objective.terms(vae, tf.constant(x), tf.zeros([7, 3]))
    np.testing.assert_array_equal(terms.z.numpy(), same.z.numpy())
    weights = model.get_weights(vae)
    mu, sigma = numpy_encoder(weights, x)
    np.testing.assert_allclose(terms.z.numpy(), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms.distortion.numpy(), numpy_bernoulli_nll(weights, x, mu),
                               rtol=1e-5)
    np.testing.assert_allclose(terms.rate.numpy(), 0.5 * np.sum(
        mu ** 2 + sigma ** 2 - 1 - 2 * np.log(sigma), axis=1), rtol=1e-4, atol=1e-6)
    step_seed = [3, 8]
    loss = objective.loss(terms, {"lambda": tf.constant(5.0)}, tf.constant(step_seed, tf.int64))
    prior_z = tf.random.stateless_normal(mu.shape, seed=[3, -9], dtype=tf.float32)  # (s, -t - 1)
    expected = np.mean(numpy_bernoulli_nll(weights, x, mu)) + 5.0 * numpy_imq_mmd_squared(
        mu, prior_z.numpy().astype(np.float64))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_waelogvar_penalty_is_zero_at_unit_variance_and_pulls_towards_it():
    rng = np.random.default_rng(23)
    arrays = random_terms(rng, (5,), latent_dim=2)
    objective = objectives.get("waelogvar")
    seed, weight = tf.constant([1, 1], tf.int64), {"lambda": tf.constant(1.0, tf.float64)}
    base = float(objectives.get("mmd").loss(as_terms({**arrays, "scale": np.ones((5, 2))}),
                                            weight, seed))
    unit = float(objective.loss(as_terms({**arrays, "scale": np.ones((5, 2))}), weight, seed))
    assert unit == pytest.approx(base, rel=1e-12)
    scale = tf.Variable(np.full((5, 2), 0.5))
    with tf.GradientTape() as tape:
        loss = objective.loss(as_terms(arrays)._replace(scale=scale), weight, seed)
    assert np.all(tape.gradient(loss, scale).numpy() < 0)  # small sigmas are pushed up


@pytest.mark.parametrize("name", MMD_OBJECTIVES)
def test_stacked_losses_are_the_separate_losses(name):
    rng = np.random.default_rng(24)
    arrays = random_terms(rng, (3, 7), latent_dim=2)
    weights = np.array([0.0, 2.0, 50.0])
    step_seeds = np.array([[3, 10], [4, 10], [5, 10]])
    objective = objectives.get(name)
    stacked = objective.loss(as_terms(arrays), {"lambda": tf.constant(weights[:, None])},
                             tf.constant(step_seeds, tf.int64))
    assert stacked.shape == (3,)
    for k in range(3):
        one = {key: value[k] for key, value in arrays.items()}
        assert float(stacked[k]) == pytest.approx(
            numpy_loss(name, one, weights[k], step_seeds[k]), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Descriptions


def test_every_objective_describes_itself_distinctly():
    classes = list(objectives.OBJECTIVES.values())
    assert len({cls.style[1] for cls in classes}) == len(classes)  # distinct markers
    assert len({cls.style[0] for cls in classes}) == len(classes)  # distinct colours
    assert len({cls.label for cls in classes}) == len(classes)
    for name in NEW:
        cls = objectives.OBJECTIVES[name]
        assert cls.tables == ("objectives", "convergence")
        assert list(cls.weights) == [NEW[name]] and objectives.weight_name(name) == NEW[name]
        assert cls.min_batch_size == (2 if name in MMD_OBJECTIVES else 1)
    assert {n for n, c in objectives.OBJECTIVES.items() if not c.stackable} == {"vamp",
                                                                                "classprior"}
    assert [n for n, c in objectives.OBJECTIVES.items() if c.needs_labels] == ["classprior"]


def test_schema_lists_every_objective():
    assert config_schema.properties()["objective"]["enum"] == list(objectives.OBJECTIVES)
    experiments = config_schema.properties()["experiments"]["items"]["properties"]
    assert experiments["objective"]["enum"] == list(objectives.OBJECTIVES)
    description = config_schema.description("objective")
    assert all(name in description for name in objectives.OBJECTIVES)


# ------------------------------------------------------------------------------------------
# The labels in the step, and the old objectives unchanged


def test_the_step_passes_each_batchs_labels():
    """An objective that needs labels gets y_train's rows of the batch (here: logged as rate)."""

    class LabelSpy(objectives.BetaVAE):
        needs_labels = True

        def terms(self, vae, x, noise, labels=None):
            terms = vae.terms(x, noise)
            return terms._replace(rate=tf.cast(labels, tf.float32))

        def loss(self, terms, weights, step_seed):
            return tf.reduce_mean(terms.distortion)

    vae = model.VAE.build(data_dim=6, latent_dim=2, hidden=[4], seed=0)
    rng = np.random.default_rng(25)
    x_train = tf.constant(rng.uniform(size=(20, 6)).astype(np.float32))
    y_train = rng.integers(0, 10, 20)
    step = engine.make_train_step(vae, Adam(vae.trainable_variables, 1e-3), LabelSpy(), {},
                                  x_train, y_train=tf.constant(y_train))
    batch = np.array([3, 17, 0, 9, 9])
    _, rate = step(tf.constant(batch, tf.int64), tf.constant([1, 2], tf.int64))
    assert float(rate) == y_train[batch].sum()


def tiny_arrays() -> dict:
    """A tiny synthetic dataset: 200 training and 50 test examples of 16 pixels."""
    rng = np.random.default_rng(2030)
    x_train = rng.uniform(size=(200, 16)).astype(np.float32)
    x_test = rng.uniform(size=(50, 16)).astype(np.float32)
    return {"x_train": x_train, "y_train": rng.integers(0, 10, 200),
            "x_test": x_test, "y_test": rng.integers(0, 10, 50),
            "x_test_binary": (rng.random(x_test.shape) < x_test).astype(np.uint8),
            "dataset": np.array("tiny")}


RECORDED_WEIGHTS = {"vae": {"beta": 1.0}, "mmd": {"lambda": 50.0}, "tcvae": {"beta": 4.0}}
RECORDED_HISTORIES = {  # float.hex of epochs 1-2, every column but seconds
    "vae": [
        "0x1.0000000000000p+0", "-0x1.8af74fb5c28f5p+3", "0x1.c71694f5c28f6p-1",
        "0x1.6e85e66666666p+3", "-0x1.7eb6e58000000p+3", "0x1.3f1db80000000p-1",
        "0x1.6ac50a0000000p+3", "0x1.a0e36d2cbe9b6p-2", "0x1.1e2bd697eba12p-2",
        "0x1.0000000000000p+1", "-0x1.8c90f7947ae15p+3", "0x1.73e791999999ap-1",
        "0x1.75527e7ae147bp+3", "-0x1.7888ad4000000p+3", "0x1.0176740000000p-1",
        "0x1.6871460000000p+3", "0x1.812a59069457bp-2", "0x1.7c62fb1e91052p-3",
    ],
    "mmd": [
        "0x1.0000000000000p+0", "-0x1.8c8267bd70a3dp+3", "0x1.d77ffa8f5c28fp-1",
        "0x1.6f0a68147ae14p+3", "-0x1.820b744000000p+3", "0x1.6539a40000000p-1",
        "0x1.6bb7da0000000p+3", "0x1.9ded4e78bce08p-2", "0x1.5eee263f9bbe9p-2",
        "0x1.0000000000000p+1", "-0x1.90bb7fc8f5c28p+3", "0x1.97e6b8b851eb8p-1",
        "0x1.773d143d70a3dp+3", "-0x1.7e144e0000000p+3", "0x1.40d0200000000p-1",
        "0x1.6a074c0000000p+3", "0x1.82ef3ed102ebbp-2", "0x1.27e40480d7526p-2",
    ],
    "tcvae": [
        "0x1.0000000000000p+0", "-0x1.8b22dbc8f5c29p+3", "0x1.c89846ccccccdp-1",
        "0x1.6e99575c28f5cp+3", "-0x1.7f304c6000000p+3", "0x1.440a460000000p-1",
        "0x1.6aefa80000000p+3", "0x1.a3c849b6988e8p-2", "0x1.2b382ba705604p-2",
        "0x1.0000000000000p+1", "-0x1.8d06113333334p+3", "0x1.764f4147ae148p-1",
        "0x1.75a11d1eb851fp+3", "-0x1.7940bd6000000p+3", "0x1.08af360000000p-1",
        "0x1.68b5ca0000000p+3", "0x1.8599679cabd16p-2", "0x1.a3ca0884f7dfcp-3",
    ],
}

@pytest.mark.parametrize("name", list(RECORDED_HISTORIES))
def test_old_objectives_train_as_before_the_labels_and_learned_priors(tmp_path, name):
    """Histories recorded (on this project's CPU, one thread) with the code before the labels
    and the learned priors existed: 2 epochs of 7 steps on ``tiny_arrays``, seed 5, z = 3, one
    hidden layer of 8, batch 32. Where they were recorded they agree bitwise; the tolerance only
    allows for another CPU's float32 kernels."""
    config = RunConfig(data="tiny.npz", rundir=str(tmp_path), latent_dim=3, seed=5, epochs=2,
                       objective=name, weights=RECORDED_WEIGHTS[name], batch_size=32, hidden=[8],
                       threads=1)
    vae = networks.build_model(config, (16,))
    [rows] = engine.train_models(vae, [config], tiny_arrays(), [None], 2, "tiny")
    recorded = np.array([float.fromhex(v) for v in RECORDED_HISTORIES[name]]).reshape(2, -1)
    np.testing.assert_allclose(rows[:, :-1], recorded, rtol=1e-5, atol=1e-6)
