"""Tests of the generation metrics on cases whose answers are known."""

import math

import numpy as np
import pytest

from klgap import generation
from klgap.errors import UserError

CLASSES = 10


def one_hot_images(labels: np.ndarray) -> np.ndarray:
    """Images that show their class as one bright pixel: a classifier can always be right."""
    return np.eye(CLASSES)[labels]


@pytest.fixture(scope="module")
def perfect_classifier():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, 2000)
    return generation.fit_classifier(one_hot_images(labels), labels), labels


def test_a_classifier_of_separable_images_is_always_right(perfect_classifier):
    classifier, labels = perfect_classifier
    assert generation.accuracy(classifier, one_hot_images(labels), labels) == 1.0


def test_probabilities_are_sklearns(perfect_classifier):
    from sklearn.linear_model import LogisticRegression

    _, labels = perfect_classifier
    x = one_hot_images(labels)
    model = LogisticRegression(max_iter=200, random_state=0).fit(x, labels)
    classifier = generation.Classifier(model.coef_, model.intercept_, model.classes_)
    np.testing.assert_allclose(generation.predict_probabilities(classifier, x[:50]),
                               model.predict_proba(x[:50]), rtol=1e-10)


def test_a_generator_with_the_datas_balance_scores_zero(perfect_classifier):
    classifier, _ = perfect_classifier
    frequencies = np.full(CLASSES, 1 / CLASSES)
    generated = one_hot_images(np.repeat(np.arange(CLASSES), 30))  # the data's class balance
    metrics = generation.label_metrics(generation.predict_probabilities(classifier, generated),
                                       frequencies)
    assert metrics["label_kl"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(metrics["label_histogram"], frequencies)
    assert metrics["top_class_probability"] > 0.5


def test_a_decoder_that_ignores_z_scores_log_one_over_the_class_frequency(perfect_classifier):
    classifier, _ = perfect_classifier
    frequencies = np.array([0.05, 0.15] + [0.1] * 8)
    generated = one_hot_images(np.full(500, 1))  # every prior sample decodes to one image
    metrics = generation.label_metrics(generation.predict_probabilities(classifier, generated),
                                       frequencies)
    assert metrics["label_kl"] == pytest.approx(math.log(1 / 0.15), rel=1e-12)
    assert metrics["label_histogram"][1] == 1.0


def test_unsure_labels_lower_the_top_class_probability():
    uniform = np.full((100, CLASSES), 1 / CLASSES)
    metrics = generation.label_metrics(uniform, np.full(CLASSES, 1 / CLASSES))
    assert metrics["top_class_probability"] == pytest.approx(1 / CLASSES)


def test_label_metrics_refuse_mismatched_shapes():
    with pytest.raises(UserError, match="do not match"):
        generation.label_metrics(np.ones((4, 3)) / 3, np.full(4, 0.25))
    with pytest.raises(UserError, match="sum to 1"):
        generation.label_metrics(np.ones((4, 2)) / 2, np.array([0.5, 0.6]))


def test_expost_density_recovers_separated_clusters():
    rng = np.random.default_rng(3)
    centres = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
    weights = np.array([0.2, 0.3, 0.5])
    which = rng.choice(3, size=6000, p=weights)
    codes = centres[which] + 0.3 * rng.standard_normal((6000, 2))
    density = generation.fit_expost_density(codes, num_components=3, seed=0)
    order = np.argsort(density.means[:, 0] + 0.1 * density.means[:, 1])  # (-4,0), (0,5), (4,0)
    np.testing.assert_allclose(density.weights[order], weights[[0, 2, 1]], atol=0.02)
    samples = generation.sample_density(density, 20000, seed=4)
    nearest = np.argmin(((samples[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_allclose(np.bincount(nearest) / len(samples), weights, atol=0.02)
    np.testing.assert_allclose(samples[nearest == 2].std(axis=0), [0.3, 0.3], rtol=0.05)
