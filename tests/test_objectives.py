"""Tests of the training objectives (the interface the training core calls)."""

import numpy as np
import pytest
import tensorflow as tf

from klgap import model, objectives
from klgap.errors import UserError


def test_beta_vae_loss_weights_rate_by_beta():
    terms = model.Terms(distortion=tf.constant([1.0, 3.0]), rate=tf.constant([2.0, 4.0]))
    loss = objectives.get("vae").loss
    assert float(loss(terms, {"beta": tf.constant(0.0)})) == pytest.approx(2.0)
    assert float(loss(terms, {"beta": tf.constant(0.5)})) == pytest.approx(3.5)


def test_beta_vae_loss_of_stacked_models_is_each_models_loss():
    """K models' (K, B) terms with (K, 1) weights give the K separate losses."""
    rng = np.random.default_rng(0)
    distortion, rate = rng.uniform(size=(2, 3, 5)).astype(np.float32)  # (K, B) each
    betas = np.array([0.1, 1.0, 4.0], np.float32)
    loss = objectives.get("vae").loss
    stacked = loss(model.Terms(tf.constant(distortion), tf.constant(rate)),
                   {"beta": tf.constant(betas[:, None])})
    expected = (distortion + betas[:, None] * rate).mean(axis=1)
    np.testing.assert_allclose(stacked.numpy(), expected, rtol=1e-6)


def test_beta_vae_checks_its_weight_and_unknown_objectives_are_refused():
    vae = objectives.get("vae")
    assert vae.check({"beta": 0.0}) == []
    assert vae.check({"beta": -1.0}) == ["beta must be >= 0, got -1.0"]
    assert vae.check({"beta": float("nan")})
    with pytest.raises(UserError, match="unknown objective 'ae'.*vae"):
        objectives.get("ae")
