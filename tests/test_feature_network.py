"""Tests of the feature network on scikit-learn's 8x8 digits (fast, bundled)."""

import numpy as np
import pytest

from klgap.errors import UserError
from klgap.evaluation import feature_network

IMAGE_SHAPE = (8, 8)
EPOCHS = 15  # about 170 Adam steps on the 1,437 training digits


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # (1797, 64) in [0, 1]
    return train_test_split(x, bunch.target, test_size=0.2, stratify=bunch.target,
                            random_state=0)  # x_train, x_test, y_train, y_test


@pytest.fixture(scope="module")
def trained(digits):
    x_train, x_test, y_train, y_test = digits
    return feature_network.train_feature_network(x_train, y_train, x_test, y_test,
                                                 image_shape=IMAGE_SHAPE, seed=0, epochs=EPOCHS)


def test_training_reaches_high_accuracy_on_digits(trained):
    _, record = trained
    assert record["test_accuracy"] > 0.95
    assert record["train_accuracy"] > 0.97
    assert len(record["train_loss"]) == EPOCHS
    assert record["train_loss"][-1] < record["train_loss"][0] / 5
    assert record["n_train"] == 1437 and record["n_test"] == 360


def test_features_are_the_penultimate_activations(trained, digits):
    network, _ = trained
    x_test = digits[1]
    features = feature_network.features(network, x_test)
    assert features.shape == (len(x_test), feature_network.FEATURE_DIM)
    assert features.dtype == np.float32
    assert np.all(features >= 0)  # ReLU outputs
    # the logits are the last layer applied to the features (dropout is off at inference)
    last = network.classifier.get_layer("logits")
    kernel, bias = (np.asarray(w) for w in last.get_weights())
    np.testing.assert_allclose(features @ kernel + bias,
                               feature_network.logits(network, x_test), rtol=1e-4, atol=1e-4)


def test_save_and_load_give_the_same_features_and_record(trained, digits, tmp_path):
    network, record = trained
    path = tmp_path / "features.npz"
    feature_network.save(network, path, record)
    loaded, loaded_record = feature_network.load(path)
    assert loaded_record == record
    assert loaded.architecture == network.architecture
    x_test = digits[1]
    np.testing.assert_array_equal(feature_network.features(loaded, x_test),
                                  feature_network.features(network, x_test))
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())  # written atomically


def test_training_is_deterministic_given_the_seed(digits):
    x_train, x_test, y_train, y_test = digits
    runs = [feature_network.train_feature_network(x_train[:300], y_train[:300], x_test[:50],
                                                  y_test[:50], image_shape=IMAGE_SHAPE,
                                                  seed=seed, epochs=2, batch_size=64)[0]
            for seed in (4, 4, 5)]
    same = [np.array_equal(a, b) for a, b in zip(runs[0].classifier.get_weights(),
                                                 runs[1].classifier.get_weights())]
    assert all(same)
    assert not np.array_equal(runs[0].classifier.get_weights()[0],
                              runs[2].classifier.get_weights()[0])


def test_bad_inputs_are_refused_with_the_fix(digits, tmp_path):
    x_train, x_test, y_train, y_test = digits
    with pytest.raises(UserError, match="image_shape"):
        feature_network.train_feature_network(x_train, y_train, x_test, y_test,
                                              image_shape=(28, 28), epochs=1)
    with pytest.raises(UserError, match="one label per image"):
        feature_network.train_feature_network(x_train, y_train[:10], x_test, y_test,
                                              image_shape=IMAGE_SHAPE, epochs=1)
    with pytest.raises(UserError, match="integer labels"):
        feature_network.train_feature_network(x_train, y_train - 1, x_test, y_test,
                                              image_shape=IMAGE_SHAPE, epochs=1)
    with pytest.raises(UserError, match="not found"):
        feature_network.load(tmp_path / "missing.npz")
