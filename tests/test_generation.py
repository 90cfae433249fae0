"""Tests of the generation metrics on cases whose answers are known."""

import math

import numpy as np
import pytest

from klgap.evaluation import generation
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


def test_label_kl_standard_error_matches_the_spread_over_independent_draws():
    from scipy import special

    rng = np.random.default_rng(5)
    frequencies = np.full(CLASSES, 1 / CLASSES)
    generator = np.array([0.2, 0.2] + [0.075] * 8)  # a generator with a skewed class balance
    histograms = rng.multinomial(2000, generator, size=20000) / 2000  # (R, C)
    spread = np.std(special.rel_entr(histograms, frequencies).sum(axis=1), ddof=1)  # ~ 0.0107
    ses = [generation.label_metrics(np.eye(CLASSES)[rng.choice(CLASSES, 2000, p=generator)],
                                    frequencies, seed=draw, num_bootstrap=300)["label_kl_se"]
           for draw in range(40)]
    assert np.mean(ses) == pytest.approx(spread, rel=0.1)


def test_top_class_probability_standard_error():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.8, 0.2]])
    metrics = generation.label_metrics(probabilities, np.array([0.5, 0.5]))
    top = np.array([0.9, 0.6, 0.5, 0.8])
    assert metrics["top_class_probability_se"] == pytest.approx(top.std(ddof=1) / 2)


def test_images_become_bytes():
    np.testing.assert_array_equal(generation.to_uint8(np.array([[0.0, 0.5, 1.0, 1.2, -0.1]])),
                                  [[0, 128, 255, 255, 0]])


def test_sample_grids_are_stacked_per_run(tmp_path):
    from klgap import atomic

    rundirs = []
    for index in range(3):
        rundir = tmp_path / f"run{index}"
        rundir.mkdir()
        atomic.savez(rundir / "samples.npz", prior=np.full((16, 4), index, np.uint8),
                     expost=np.full((16, 4), 10 + index, np.uint8), image_shape=np.array([2, 2]))
        rundirs.append(rundir)
    stacked = generation.stack_sample_grids(rundirs)
    assert stacked["prior"].shape == stacked["expost"].shape == (3, 16, 4)
    assert stacked["prior"].dtype == np.uint8 and stacked["expost"][2, 0, 0] == 12
    np.testing.assert_array_equal(stacked["image_shape"], [2, 2])
    assert list(stacked["rundir"]) == [str(r) for r in rundirs]
    with pytest.raises(UserError, match="evaluate the run first"):
        generation.stack_sample_grids([tmp_path / "missing"])


def test_classifier_command_on_digits(digits_npz, tmp_path):
    from klgap import atomic
    from klgap import cli
    from klgap.evaluation import classifier

    out = tmp_path / "digits_classifier.npz"
    cli.main(["classifier", "--data", str(digits_npz), "--out", str(out)])
    stored = atomic.load_npz(out)
    assert set(stored) == set(classifier.KEYS)
    arrays = atomic.load_npz(digits_npz)
    np.testing.assert_allclose(stored["label_frequencies"],
                               np.bincount(arrays["y_train"]) / len(arrays["y_train"]))
    assert stored["coef"].shape == (CLASSES, 64) and str(stored["dataset"]) == "digits"
    assert 0.9 < float(stored["test_accuracy"]) <= float(stored["train_accuracy"]) + 0.05
    loaded = classifier.load_classifier(out, "digits", 64)
    assert loaded.test_accuracy == float(stored["test_accuracy"])
    assert generation.accuracy(loaded.classifier, arrays["x_test"], arrays["y_test"]) == (
        loaded.test_accuracy)


def test_classifier_refuses_bad_input(digits_npz, tmp_path):
    from klgap import atomic
    from klgap.evaluation import classifier
    from klgap import cli

    arrays = dict(atomic.load_npz(digits_npz))
    with pytest.raises(UserError, match="at least two"):
        classifier.train_classifier({**arrays, "y_train": np.zeros_like(arrays["y_train"])})
    del arrays["x_train"]
    with pytest.raises(UserError, match="no x_train"):
        classifier.train_classifier(arrays)
    out = tmp_path / "out.npz"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["classifier", "--data", str(tmp_path / "missing.npz"), "--out", str(out)])
    assert exit_info.value.code == 2 and not out.exists()
    with pytest.raises(UserError, match="train it first with `klgap classifier"):
        classifier.load_classifier(tmp_path / "missing_classifier.npz")
    atomic.savez(out, coef=np.zeros((2, 3)))
    with pytest.raises(UserError, match="lacks"):
        classifier.load_classifier(out)
