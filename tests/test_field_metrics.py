"""Sample quality and AIS in a tiny evaluation, and the feature-network command (digits)."""

import json

import numpy as np
import pytest

from klgap import atomic, cli
from klgap.data import datasets as data
from klgap.errors import UserError
from klgap.evaluation import evaluate, feature_reference, field_metrics, sample_quality

QUALITY = ("fid", "kid", "kid_se", "precision", "recall")
KINDS = ("prior", "expost", "fitted", "recon")


@pytest.fixture(scope="module")
def features_npz(digits_npz, tmp_path_factory):
    """The digits feature network, trained briefly by the command (no accuracy required)."""
    path = tmp_path_factory.mktemp("features") / "digits_features.npz"
    cli.main(["feature-network", "--data", str(digits_npz), "--out", str(path), "--epochs", "3",
              "--min-accuracy", "0", "--threads", "1"])
    return path


@pytest.fixture(scope="module")
def evaluated(digits_npz, features_npz, train_digits, tmp_path_factory):
    rundir = train_digits(tmp_path_factory.mktemp("run"), epochs=5)
    records = evaluate.evaluate(str(digits_npz), str(rundir), iw_samples=10, minibatch_sizes=[],
                                threads=1, features_path=str(features_npz), ais_examples=12,
                                ais_steps=30, ais_chains=3)
    return records


def test_feature_network_file_records_accuracy_seed_epochs_and_the_floor(features_npz,
                                                                         digits_npz):
    reference = feature_reference.load_reference(features_npz, data.load(digits_npz)["x_test"],
                                                 "digits", 64)
    record = reference.record
    assert record["dataset"] == "digits" and record["seed"] == 0 and record["epochs"] == 3
    assert 0.5 < record["test_accuracy"] <= 1.0  # ten classes; 3 epochs is well above chance
    assert reference.test_features.shape == (360, 128)
    np.testing.assert_array_equal(reference.test_radii_sq,  # shared by every set scored
                                  sample_quality.neighbour_radii_sq(reference.test_features))
    assert record["reference_samples"] == 360  # as many training images as test images
    assert record["reference_fid"] >= 0 and 0 <= record["reference_precision"] <= 1
    assert 0 <= record["reference_recall"] <= 1 and record["reference_kid_se"] > 0


def test_feature_network_refuses_low_accuracy_and_foreign_files(digits_npz, features_npz,
                                                                 tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["feature-network", "--data", str(digits_npz), "--out",
                  str(tmp_path / "f.npz"), "--epochs", "1", "--min-accuracy", "1.01"])
    assert exit_info.value.code == 2
    assert "below the required 1.01" in capsys.readouterr().err
    assert not (tmp_path / "f.npz").exists()
    with pytest.raises(UserError, match="trained on 'digits', not 'mnist'"):
        feature_reference.check_file(features_npz, "mnist", 64)
    with pytest.raises(UserError, match="takes 64 pixels, the model 784"):
        feature_reference.check_file(features_npz, "digits", 784)
    with pytest.raises(UserError, match="klgap feature-network"):
        feature_reference.check_file(tmp_path / "missing.npz")


def test_identical_features_score_the_floor_of_every_metric():
    features = np.random.default_rng(0).standard_normal((400, 8))
    scores = feature_reference.quality_scores(features, features, seed=1)
    assert scores["fid"] == pytest.approx(0.0, abs=1e-9)
    assert scores["precision"] == scores["recall"] == 1.0
    assert abs(scores["kid"]) < 3 * scores["kid_se"]


@pytest.mark.slow  # trains and evaluates a model: about 20-45 s
def test_evaluation_records_sample_quality_reference_and_ais(evaluated, features_npz):
    test = evaluated[0]
    reference = json.loads(str(np.load(features_npz)["record_json"]))
    for kind in KINDS:
        for key in QUALITY:
            assert np.isfinite(test[f"{kind}_{key}"]), (kind, key)
        assert test[f"{kind}_fid"] >= 0
        assert 0 <= test[f"{kind}_precision"] <= 1 and 0 <= test[f"{kind}_recall"] <= 1
    for key in QUALITY:  # the floor, copied from the feature network's file
        assert test[f"reference_{key}"] == reference[f"reference_{key}"]
    assert test["feature_test_accuracy"] == reference["test_accuracy"]
    # a 5-epoch model is farther from the test images than the training images are
    assert test["prior_fid"] > test["reference_fid"]
    assert (test["ais_examples"], test["ais_steps"], test["ais_chains"]) == (12, 30, 3)
    assert np.isfinite(test["ais_ll"]) and test["ais_ll_se"] > 0 and test["ais_subset_se"] > 0
    assert test["ais_ll"] < 0 and np.isfinite(test["ais_iw_ll"])
    for key in ("quality_seconds", "ais_seconds"):
        assert key in evaluate.TIMING_KEYS and test[key] > 0
    assert all(key not in record for record in evaluated[1:] for key in ("prior_fid", "ais_ll"))


def test_ais_subset_is_fixed_and_learned_priors_get_nan():
    rows = field_metrics.ais_subset(1000, 50, seed=2024)
    np.testing.assert_array_equal(rows, field_metrics.ais_subset(1000, 50, seed=2024))
    assert len(np.unique(rows)) == 50 and np.all(np.diff(rows) > 0)
    record = field_metrics.ais_metrics(None, np.zeros((30, 4)), iw_samples=5, seed=0,
                                       standard_prior=False)
    assert all(np.isnan(record[key]) for key in field_metrics.AIS_KEYS)
    assert record["ais_examples"] == 30 and record["ais_steps"] == field_metrics.AIS_STEPS
    off = field_metrics.ais_metrics(None, np.zeros((30, 4)), num_examples=0, iw_samples=5,
                                    seed=0)
    assert off["ais_examples"] == 0 and np.isnan(off["ais_ll"])


def test_ais_defaults_are_the_schema_defaults():
    from klgap.config import schema

    assert (schema.default("ais_examples"), schema.default("ais_steps"),
            schema.default("ais_chains")) == (field_metrics.AIS_EXAMPLES,
                                              field_metrics.AIS_STEPS, field_metrics.AIS_CHAINS)


def test_train_and_evaluate_refuses_a_foreign_feature_network_before_training(
        digits_npz, tmp_path):
    foreign = tmp_path / "foreign.npz"
    atomic.savez(foreign, test_features=np.zeros((2, 2)),
                 architecture_json=np.array(json.dumps({"image_shape": [8, 8]})),
                 record_json=np.array(json.dumps({"dataset": "mnist"})))
    with pytest.raises(SystemExit):
        cli.main(["train-and-evaluate", "--data", str(digits_npz), "--rundir",
                  str(tmp_path / "run"), "--beta", "1", "--seed", "0", "--latent-dim", "2",
                  "--epochs", "1", "--features", str(foreign)])
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_run_on_some_classes_is_scored_against_its_own_test_images(features_npz, digits_npz):
    arrays = data.load(digits_npz)
    reference = feature_reference.load_reference(features_npz, arrays["x_test"], "digits", 64)
    ones = data.select_classes(arrays, [1])["x_test"]
    restricted = feature_reference.restricted(reference, ones)
    assert restricted.test_features.shape == (len(ones), reference.test_features.shape[1])
    np.testing.assert_array_equal(restricted.test_radii_sq,
                                  sample_quality.neighbour_radii_sq(restricted.test_features))
    np.testing.assert_allclose(restricted.test_features,  # batches differ: rounding may too
                               reference.test_features[arrays["y_test"] == 1], rtol=1e-4,
                               atol=1e-5)
    floor = field_metrics.reference_metrics(restricted)
    assert all(np.isnan(floor[f"reference_{key}"]) for key in feature_reference.QUALITY_KEYS)
    assert floor["feature_test_accuracy"] == reference.record["test_accuracy"]
