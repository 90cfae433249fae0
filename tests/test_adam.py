"""Tests of the hand-written Adam against Keras's."""

import numpy as np
import tensorflow as tf
import keras

from klgap.training.adam import Adam


def test_adam_matches_keras_adam_over_many_steps():
    """Same start, same gradients of a noisy quadratic: the same trajectory within float32."""
    rng = np.random.default_rng(7)
    start = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    ours = [tf.Variable(w) for w in start]
    theirs = [tf.Variable(w) for w in start]
    adam = Adam(ours, learning_rate=1e-2)
    reference = keras.optimizers.Adam(learning_rate=1e-2)  # beta 0.9, 0.999, epsilon 1e-7
    targets = [rng.normal(size=w.shape).astype(np.float32) for w in start]

    def gradients(variables, step):
        noise = np.random.default_rng([7, step])
        return [tf.constant(2.0 * (v.numpy() - t)
                            + noise.normal(scale=0.5, size=t.shape).astype(np.float32))
                for v, t in zip(variables, targets)]

    apply = tf.function(adam.apply)
    for step in range(300):
        apply(gradients(ours, step))
        reference.apply_gradients(zip(gradients(theirs, step), theirs))
        if step in (0, 9):  # the first steps move every weight by about lr
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b, w in zip(ours, theirs, start):
        assert not np.allclose(a.numpy(), w, atol=0.1)  # the weights did move
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    assert int(adam.step.numpy()) == int(reference.iterations.numpy()) == 300


def test_state_round_trip_continues_identically():
    """Restoring the saved state into a fresh optimizer continues bit for bit."""
    rng = np.random.default_rng(3)
    grads = [[tf.constant(rng.normal(size=(2, 2)).astype(np.float32))] for _ in range(6)]
    first = tf.Variable(np.ones((2, 2), np.float32))
    adam = Adam([first], learning_rate=1e-3)
    for g in grads[:3]:
        adam.apply(g)
    second = tf.Variable(first.numpy())
    resumed = Adam([second], learning_rate=1e-3)
    resumed.restore(adam.state())
    for g in grads[3:]:
        adam.apply(g)
        resumed.apply(g)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert sorted(adam.state()) == ["adam/m0", "adam/step", "adam/v0"]
