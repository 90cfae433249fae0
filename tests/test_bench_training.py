"""bench/bench_training.py's JAX/Flax/Optax model is klgap's: the same loss for the same weights,
bits and noise, the same initialisation scheme and Adam's hyperparameters.

The JAX worker runs in its own interpreter (``--jax-python``, $KLGAP_JAX_PYTHON, else this one):
the tests that need it are skipped when that interpreter cannot import jax, flax and optax.
"""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import bench_training  # noqa: E402


@pytest.fixture(scope="module")
def jax_python():
    """The JAX worker's interpreter, or a skip naming why there is none."""
    python, found = bench_training.jax_interpreter(None)
    if python is None:
        pytest.skip(f"no JAX interpreter: {found} (set ${bench_training.JAX_PYTHON_ENV})")
    return python


def klgap_terms(tmp_path: Path):
    """klgap's model (seed 0) on a tiny batch: its weights, bits, noise and loss terms, with the
    inputs of the jax_loss worker written to an .npz."""
    import tensorflow as tf

    from klgap.models import vae as model
    from klgap.training import engine, objectives

    vae = model.VAE.build(784, bench_training.LATENT_DIM, bench_training.HIDDEN, seed=0)
    x_grey = np.random.default_rng(0).uniform(size=(8, 784)).astype(np.float32)
    x, noise = engine.draw_batch(tf.constant(x_grey), tf.constant([3, 14], tf.int64),
                                 bench_training.LATENT_DIM)
    terms = objectives.get("vae").terms(vae, x, noise)
    loss = objectives.get("vae").loss(terms, {"beta": tf.constant(1.0)}, None)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=x.numpy(), noise=noise.numpy(), **model.get_weights(vae))
    return inputs, {"distortion": terms.distortion.numpy(), "rate": terms.rate.numpy(),
                    "loss": float(loss)}


def run_jax_loss(python: str, inputs: Path) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    output = subprocess.run([python, str(BENCH / "bench_training.py"), "--worker", "jax_loss",
                             "--inputs", str(inputs)], check=True, capture_output=True,
                            text=True, env=env, timeout=600).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_the_jax_model_has_klgaps_loss_for_the_same_weights_bits_and_noise(tmp_path,
                                                                            jax_python):
    inputs, ours = klgap_terms(tmp_path)
    theirs = run_jax_loss(jax_python, inputs)
    assert theirs["loss"] == pytest.approx(ours["loss"], rel=1e-4)
    np.testing.assert_allclose(theirs["distortion"], ours["distortion"], rtol=1e-4)
    np.testing.assert_allclose(theirs["rate"], ours["rate"], rtol=1e-4, atol=1e-4)
    # Glorot-uniform kernels (largest |w| and the standard deviation as the uniform's) and zero
    # biases, in every layer of the mirrored 784-256-256-20 / 10-256-256-784 networks.
    assert len(theirs["init"]) == 6
    for layer, (largest, spread, bias) in theirs["init"].items():
        assert 0.99 < largest <= 1.0, layer
        assert spread == pytest.approx(1.0, abs=0.05), layer
        assert bias == 0.0, layer


def test_the_jax_worker_uses_klgaps_hyperparameters():
    from klgap.config import schema
    from klgap.models import vae as model
    from klgap.training.adam import Adam

    defaults = {name: parameter.default
                for name, parameter in inspect.signature(Adam.__init__).parameters.items()}
    assert (defaults["beta1"], defaults["beta2"], defaults["epsilon"]) == (
        bench_training.BETA1, bench_training.BETA2, bench_training.EPSILON)
    assert bench_training.SCALE_FLOOR == model.SCALE_FLOOR
    assert bench_training.LEARNING_RATE == schema.default("learning_rate")


def test_without_jax_the_benchmark_skips_it_and_says_why(tmp_path):
    missing = tmp_path / "no-python"
    python, why = bench_training.jax_interpreter(str(missing))
    assert python is None and str(missing) in why
