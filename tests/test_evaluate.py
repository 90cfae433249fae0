"""Tests of per-run evaluation on a small trained digits model."""

import json

import numpy as np
import pytest

from klgap import atomic
from klgap.evaluation import classifier
from klgap import estimators
from klgap.evaluation import evaluate, fitted_bound, generation, generation_metrics, likelihood
from klgap.errors import UserError

CLASSES = 10
GENERATION_KEYS = ("prior_label_kl", "prior_label_kl_se", "prior_top_prob", "prior_top_prob_se",
                   "expost_label_kl", "expost_label_kl_se", "expost_top_prob",
                   "expost_top_prob_se", "classifier_test_accuracy", "prior_holes_kl",
                   "prior_holes_kl_se", "prior_holes_fraction", "prior_holes_fraction_se")


@pytest.fixture(scope="module")
def classifier_npz(digits_npz, tmp_path_factory):
    path = tmp_path_factory.mktemp("classifier") / "digits_classifier.npz"
    atomic.savez(path, **classifier.train_classifier(atomic.load_npz(digits_npz)))
    return path


@pytest.fixture(scope="module")
def trained_run(digits_npz, classifier_npz, train_digits, tmp_path_factory):
    rundir = train_digits(tmp_path_factory.mktemp("run"), epochs=10)
    records = evaluate.evaluate(str(digits_npz), str(rundir), iw_samples=20,
                                minibatch_sizes=[32, 100, 10_000], threads=1,
                                classifier_path=str(classifier_npz))
    return rundir, records


def test_metrics_file_has_one_record_per_split_with_contract_keys(trained_run):
    rundir, records = trained_run
    assert json.loads((rundir / "metrics.json").read_text()) == records
    # digits: 1,437 training images, so the nested subsets of 100, 300 and 1,000 and the whole
    assert [r["split"] for r in records] == ["test", "train", "train_full", "train_n100",
                                            "train_n300", "train_n1000"]
    assert [r["n"] for r in records[2:]] == [1437, 100, 300, 1000]
    for record in records[2:]:
        assert record["log_n"] == pytest.approx(np.log(record["n"]))
        assert 0 <= record["mutual_info"] <= record["log_n"] + 1e-9
        assert record["rate"] == pytest.approx(record["mutual_info"] + record["aggregate_kl"])
    for record in records[:2]:
        for key in ("dataset", "objective", "latent_dim", "weight", "seed", "n", "log_n", "elbo",
                    "rate", "distortion", "mutual_info", "aggregate_kl", "moment_matched_kl",
                    "label_info", "active_units", "mutual_info_se"):
            assert key in record, key
    test, train = records[:2]
    for key in ("iw_ll", "mss_mutual_info_b32", "mws_aggregate_kl_b100", "total_correlation",
                "dimwise_kl"):  # the test split's, not the training subset's
        assert key in test and key not in train, key
    assert "mss_mutual_info_b10000" not in test  # batch larger than N is skipped
    for record in [train] + records[2:]:  # no marginals, so no total correlation
        assert "total_correlation" not in record and "class_kl_1" in record
    for record in records[:2]:
        assert sorted(k for k in record if k.startswith("class_kl_") and "se" not in k) == [
            f"class_kl_{c}" for c in sorted(range(10), key=str)]
        assert record["n"] == 360 and record["log_n"] == pytest.approx(np.log(360))


def test_metrics_are_consistent(trained_run):
    rundir, records = trained_run
    history = (rundir / "history.csv").read_text().splitlines()
    last_test_elbo = float(history[-1].split(",")[4])
    test = records[0]
    # the TF rate (float32) and the estimator's closed-form rate agree
    assert test["rate"] == pytest.approx(test["rate_tf"], rel=1e-4)
    assert test["elbo"] == pytest.approx(-(test["rate"] + test["distortion"]), rel=1e-5)
    # the same model and fixed test bits: ELBO close to the last epoch's test ELBO
    assert test["elbo"] == pytest.approx(last_test_elbo, abs=1.0)
    assert test["iw_ll"] > test["elbo"]  # the IW bound (K=20) is tighter
    for record in records[:2]:
        assert record["rate"] == pytest.approx(record["mutual_info"] + record["aggregate_kl"])
        assert 0 <= record["mutual_info"] <= record["log_n"] + 1e-9
        assert 0 <= record["active_units"] <= 2


def test_posterior_arrays(trained_run, digits_npz):
    rundir, _ = trained_run
    arrays = atomic.load_npz(digits_npz)
    test = atomic.load_npz(rundir / "posterior_test.npz")
    assert test["mu"].shape == test["sigma"].shape == (360, 2)
    assert np.all(test["sigma"] > 0)
    np.testing.assert_array_equal(test["labels"], arrays["y_test"])
    train_split = atomic.load_npz(rundir / "posterior_train.npz")
    np.testing.assert_array_equal(train_split["labels"],
                                  arrays["y_train"][arrays["nested_order"][:360]])


def test_k1_iw_bound_is_the_elbo(trained_run, digits_npz):
    from klgap.models import vae as model

    rundir, _ = trained_run
    run = json.loads((rundir / "run.json").read_text())
    vae = model.VAE.build(run["data_dim"], 2, [32], seed=0)
    model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))
    x = atomic.load_npz(digits_npz)["x_test_binary"].astype(np.float32)
    iw_ll, distortion, rate, _, _ = likelihood.importance_weighted(vae, x, 1, seed=9)
    # with K = 1, log w = log p(x|z) + [log p(z) - log q(z|x)]: the bracket is a one-sample
    # estimate of -KL, so the difference to -(distortion + rate) has mean zero
    difference = iw_ll + distortion + rate  # (N,)
    assert abs(difference.mean()) < 4 * difference.std() / np.sqrt(len(x))
    assert difference.std() > 0


def test_iw_values_do_not_depend_on_how_many_samples_are_decoded_together(
        trained_run, digits_npz, monkeypatch):
    from klgap.models import vae as model

    rundir, _ = trained_run
    run = json.loads((rundir / "run.json").read_text())
    vae = model.VAE.build(run["data_dim"], 2, [32], seed=0)
    model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))
    x = atomic.load_npz(digits_npz)["x_test_binary"][:120].astype(np.float32)
    # K = 13 with chunks of 5: two full chunks and a remainder of 3
    chunked = likelihood.importance_weighted(vae, x, 13, seed=4, batch_size=50)
    monkeypatch.setattr(likelihood, "IW_CHUNK", 13)
    together = likelihood.importance_weighted(vae, x, 13, seed=4, batch_size=50)
    for a, b in zip(chunked, together):  # bitwise on one machine (docs/reproducibility.md)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert not np.allclose(chunked[0], likelihood.importance_weighted(vae, x, 13, seed=5)[0])


def test_untrained_run_is_refused(digits_npz, tmp_path):
    with pytest.raises(UserError, match="has not finished training"):
        evaluate.evaluate(str(digits_npz), str(tmp_path), 5, [])


def test_heldout_bracket_of_the_test_split(trained_run):
    _, records = trained_run
    test, full = records[0], records[2]
    # the training mixture at the test samples: aggregate KL from below, information from above
    assert test["heldout_aggregate_kl_lower"] + test["heldout_mutual_info_upper"] == (
        pytest.approx(test["rate"]))
    assert test["heldout_log_n_fit"] == pytest.approx(np.log(full["n"]))
    margin = 4 * test["heldout_aggregate_kl_lower_se"]
    assert test["heldout_aggregate_kl_lower"] <= test["aggregate_kl"] + margin
    assert test["heldout_label_info_lower"] <= test["heldout_label_info_upper"]
    assert sorted(k for k in test if k.startswith("heldout_class_kl_lower_") and "se" not in k) == [
        f"heldout_class_kl_lower_{c}" for c in sorted(range(10), key=str)]


def test_whole_training_split_uses_every_image(trained_run, digits_npz):
    _, records = trained_run
    arrays = atomic.load_npz(digits_npz)
    full = records[2]
    assert full["n"] == len(arrays["y_train"]) == len(arrays["x_train_binary"])
    assert full["iw_samples"] == 1 and "iw_ll" not in full
    assert full["rate"] == pytest.approx(full["rate_tf"], rel=1e-4)
    # nested subsets are prefixes of one fixed order
    order = arrays["nested_order"]
    assert sorted(order) == list(range(len(order)))


def test_data_prepared_by_an_older_version_is_refused(trained_run, digits_npz, tmp_path):
    rundir, _ = trained_run
    arrays = dict(atomic.load_npz(digits_npz))
    del arrays["x_train_binary"]
    old = tmp_path / "old.npz"
    atomic.savez(old, **arrays)
    with pytest.raises(UserError, match="prepare it again"):
        evaluate.evaluate(str(old), str(rundir), 5, [])


def one_hot_classifier(frequencies: np.ndarray) -> classifier.StoredClassifier:
    """A classifier of one-hot images that is always right and sure (p(y|x) ~ 1 - 1e-8)."""
    return classifier.StoredClassifier(
        generation.Classifier(20.0 * np.eye(CLASSES), np.zeros(CLASSES), np.arange(CLASSES)),
        frequencies, 1.0, "one_hot")


def training_codes(num: int = 3000, dim: int = 2, seed: int = 0):
    """Posteriors of a training split: means around N(0, I), sd 0.3; (N, D) each."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((num, dim)), np.full((num, dim), 0.3)


def test_a_decoder_that_ignores_z_scores_log_one_over_its_class_frequency():
    frequencies = np.array([0.05, 0.15] + [0.1] * 8)
    mu, sigma = training_codes()
    record, grids = generation_metrics.generation_metrics(
        lambda z: np.tile(np.eye(CLASSES)[1], (len(z), 1)), mu, sigma,
        one_hot_classifier(frequencies), seed=3)
    for kind in ("prior", "expost"):
        assert record[f"{kind}_label_kl"] == pytest.approx(np.log(1 / 0.15), rel=1e-12)
        assert record[f"{kind}_label_kl_se"] < 1e-12  # every sample has the same label
        assert record[f"{kind}_top_prob"] == pytest.approx(1.0, abs=1e-6)
        assert grids[kind].shape == (generation_metrics.GRID_SAMPLES, CLASSES)
        assert grids[kind].dtype == np.uint8
        np.testing.assert_array_equal(grids[kind][:, 1], 255)
    np.testing.assert_array_equal(grids["image_shape"], [1, CLASSES])
    assert record["classifier_test_accuracy"] == 1.0


def class_of_code(z: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """One-hot images of the class whose share of N(0, 1) holds Phi(z_0): the data's balance."""
    from scipy import stats

    classes = np.searchsorted(np.cumsum(frequencies), stats.norm.cdf(z[:, 0]))
    return np.eye(CLASSES)[np.minimum(classes, CLASSES - 1)]


def test_prior_samples_with_the_datas_class_balance_score_zero():
    frequencies = np.array([0.05, 0.15] + [0.1] * 8)
    mu, sigma = training_codes()
    record, _ = generation_metrics.generation_metrics(
        lambda z: class_of_code(z, frequencies), mu, sigma, one_hot_classifier(frequencies), seed=4)
    # the plug-in KL of 10,000 labels drawn from f has mean (C - 1) / (2M) = 0.00045
    assert 0 <= record["prior_label_kl"] < 0.002
    assert record["prior_label_kl_se"] < 0.001
    assert record["prior_top_prob"] == pytest.approx(1.0, abs=1e-6)
    # codes whose means follow N(0, I): the ex-post mixture nearly reproduces the balance too
    assert record["expost_label_kl"] < 0.01


def test_the_expost_density_follows_the_codes_where_the_prior_does_not():
    rng = np.random.default_rng(5)
    centres = np.array([[-3.0, 0.0], [3.0, 0.0]])
    labels = rng.integers(0, 2, 4000)
    mu = centres[labels] + 0.2 * rng.standard_normal((4000, 2))  # (N, 2) two tight clusters
    sigma = np.full_like(mu, 0.1)
    frequencies = np.array([0.5, 0.5] + [1e-9] * 8)
    frequencies /= frequencies.sum()

    def decode(z):
        # class 0 or 1 near its centre, class 2 (never in the data) anywhere else
        distance = np.linalg.norm(z[:, None, :] - centres[None], axis=2)  # (M, 2)
        classes = np.where(distance.min(axis=1) < 1.0, distance.argmin(axis=1), 2)
        return np.eye(CLASSES)[classes]

    record, _ = generation_metrics.generation_metrics(
        decode, mu, sigma, one_hot_classifier(frequencies), num_components=2, seed=6)
    assert record["expost_label_kl"] < 0.01
    assert record["prior_label_kl"] > 1.0  # most prior samples decode to the unseen class
    assert record["prior_holes_fraction"] > 0.5  # the prior's mass between the clusters


def test_prior_holes_are_the_estimators_with_the_training_mixture():
    mu, sigma = training_codes(dim=3)
    record, _ = generation_metrics.generation_metrics(
        lambda z: np.zeros((len(z), 4)), mu, sigma, None, hole_samples=2000, seed=7)
    holes = estimators.prior_holes(mu, sigma, num_samples=2000, seed=7)
    assert record["prior_holes_kl"] == holes["prior_kl"]
    assert record["prior_holes_kl_se"] == holes["prior_kl_se"]
    assert record["prior_holes_fraction"] == holes["hole_fraction"]
    assert record["prior_holes_fraction_se"] == holes["hole_fraction_se"]
    assert not any(key.endswith(("label_kl", "top_prob")) for key in record)  # no classifier


def test_generation_metrics_of_the_trained_run(trained_run, classifier_npz):
    rundir, records = trained_run
    test = records[0]
    for key in GENERATION_KEYS:
        assert np.isfinite(test[key]), key
        assert all(key not in record for record in records[1:]), key
    assert test["classifier_test_accuracy"] == float(
        atomic.load_npz(classifier_npz)["test_accuracy"])
    for kind in ("prior", "expost"):
        assert 0 <= test[f"{kind}_label_kl"] <= np.log(1 / 0.09)  # at most one class's log(1/f)
        assert 0.1 <= test[f"{kind}_top_prob"] <= 1.0
        assert 0 < test[f"{kind}_top_prob_se"] < 0.01
    assert 0 <= test["prior_holes_fraction"] <= 1
    samples = atomic.load_npz(rundir / "samples.npz")
    grid_shape = (generation_metrics.GRID_SAMPLES, 64)
    assert samples["prior"].shape == samples["expost"].shape == grid_shape
    assert samples["prior"].dtype == np.uint8
    np.testing.assert_array_equal(samples["image_shape"], [8, 8])


def test_existing_metrics_do_not_depend_on_the_generation_metrics(trained_run, digits_npz,
                                                                  tmp_path):
    rundir, records = trained_run
    for name in ("run.json", "model.npz"):
        (tmp_path / name).write_bytes((rundir / name).read_bytes())
    again = evaluate.evaluate(str(digits_npz), str(tmp_path), iw_samples=20,
                              minibatch_sizes=[32, 100, 10_000], threads=1)
    def without_generation(records):  # nor the evaluation's time
        return [{k: v for k, v in r.items() if k not in GENERATION_KEYS
                 and k not in evaluate.TIMING_KEYS} for r in records]

    assert without_generation(records) == without_generation(again)
    assert {k: v for k, v in again[0].items() if k.startswith("prior_holes")} == {
        k: v for k, v in records[0].items() if k.startswith("prior_holes")}


def test_a_missing_or_foreign_classifier_is_refused_before_any_work(trained_run, digits_npz,
                                                                    tmp_path, monkeypatch):
    rundir, _ = trained_run
    for name in ("run.json", "model.npz"):
        (tmp_path / name).write_bytes((rundir / name).read_bytes())

    def no_work(*args, **kwargs):
        raise AssertionError("the data were loaded before the classifier was checked")

    monkeypatch.setattr(evaluate.data, "load", no_work)
    with pytest.raises(UserError, match="train it first with `klgap classifier"):
        evaluate.evaluate(str(digits_npz), str(tmp_path), 5, [],
                          classifier_path=str(tmp_path / "digits_classifier.npz"))
    foreign = tmp_path / "mnist_classifier.npz"
    atomic.savez(foreign, **{**classifier.train_classifier(atomic.load_npz(digits_npz)),
                             "dataset": np.array("mnist")})
    with pytest.raises(UserError, match="trained on 'mnist', not 'digits'"):
        evaluate.evaluate(str(digits_npz), str(tmp_path), 5, [], classifier_path=str(foreign))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist_classifier.npz", "model.npz",
                                                          "run.json"]


FITTED_KEYS = ("fitted_aggregate_kl_lower", "fitted_aggregate_kl_lower_se",
               "test_elbo_fitted_prior", "test_elbo_fitted_prior_se", "fitted_seconds") + tuple(
    f"fitted_{family}_{key}" for family in fitted_bound.FAMILIES
    for key in ("aggregate_kl_lower", "aggregate_kl_lower_se"))


def test_the_fitted_bound_of_the_trained_run(trained_run):
    _, records = trained_run
    test = records[0]
    for key in FITTED_KEYS:
        assert np.isfinite(test[key]), key
        assert all(key not in record for record in records[1:]), key
    assert test["fitted_family"] in (*fitted_bound.FAMILIES, "prior")
    assert "fitted_flow_aggregate_kl_lower" not in test  # the flow is not fitted per run
    assert "fitted_seconds" in evaluate.TIMING_KEYS
    assert 0 < test["fitted_seconds"] < test["evaluation_seconds"]
    lower, se = test["fitted_aggregate_kl_lower"], test["fitted_aggregate_kl_lower_se"]
    # By construction: the chosen family's value, or 0 for the prior; never below the prior's 0
    # by more than noise, since the prior is a candidate judged on the same validation codes.
    family = test["fitted_family"]
    assert lower == (0.0 if family == "prior" else test[f"fitted_{family}_aggregate_kl_lower"])
    assert lower >= -3 * se
    # The in-sample estimate is an upper bound in expectation; the fitted one a lower bound.
    assert lower <= test["aggregate_kl"] + 3 * se
    # Each family's value is a bound on its own, so none exceeds the in-sample value by much.
    for name in fitted_bound.FAMILIES:
        assert test[f"fitted_{name}_aggregate_kl_lower"] <= test["aggregate_kl"] + 3 * test[
            f"fitted_{name}_aggregate_kl_lower_se"], name
    # The ELBO with the fitted density as the prior, encoder and decoder unchanged.
    assert test["test_elbo_fitted_prior"] - test["elbo"] == pytest.approx(lower, abs=1e-9)
    assert test["test_elbo_fitted_prior_se"] == se


def test_the_fitted_class_bounds_and_local_terms(trained_run, digits_npz):
    _, records = trained_run
    test = records[0]
    labels = atomic.load_npz(digits_npz)["y_test"]
    classes = sorted(np.unique(labels).tolist(), key=str)
    for prefix in ("fitted_class_kl_lower_", "fitted_class_kl_lower_se_",
                   "fitted_class_local_term_", "fitted_class_local_term_se_"):
        names = sorted((k for k in test if k.startswith(prefix) and (
            "_se_" in prefix or "_se_" not in k)), key=lambda k: k.removeprefix(prefix))
        assert names == [f"{prefix}{c}" for c in classes], prefix
        for name in names:
            assert np.isfinite(test[name]), name
    counts = np.array([np.sum(labels == c) for c in classes])
    local = np.array([test[f"fitted_class_local_term_{c}"] for c in classes])
    # The per-class means of the overall bound's terms average back to the bound.
    assert np.sum(counts * local) / counts.sum() == pytest.approx(
        test["fitted_aggregate_kl_lower"], abs=1e-9)
    for c in classes:  # a lower bound on KL(q(z|y=c) || p): the in-sample value is an upper one
        margin = 3 * test[f"fitted_class_kl_lower_se_{c}"]
        assert test[f"fitted_class_kl_lower_{c}"] <= test[f"class_kl_{c}"] + margin, c
        assert test[f"fitted_class_kl_lower_{c}"] >= -margin, c


def test_the_fitted_bound_is_fitted_density_kl_with_the_training_split_as_fit_set():
    from klgap.estimators import fitted_density_kl

    rng = np.random.default_rng(21)
    def split(num):
        labels = rng.integers(0, 3, num)
        mu = np.array([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.5]])[labels] + 0.4 * rng.standard_normal(
            (num, 2))
        return {"mu": mu, "sigma": np.full((num, 2), 0.2), "labels": labels}

    train_split, test_split = split(1200), split(400)
    record = fitted_bound.fitted_bound_metrics(train_split, test_split, -50.0, seed=5,
                                               families=("mixture", "gmm"))
    overall = fitted_density_kl(train_split["mu"], train_split["sigma"], test_split["mu"],
                                test_split["sigma"], seed=5, families=("mixture", "gmm"))
    assert record["fitted_aggregate_kl_lower"] == overall["aggregate_kl_lower"]
    assert record["fitted_family"] == overall["family"] != "prior"
    assert record["test_elbo_fitted_prior"] == -50.0 + overall["aggregate_kl_lower"]
    for c in range(3):
        rows, fit_rows = test_split["labels"] == c, train_split["labels"] == c
        by_class = fitted_density_kl(train_split["mu"][fit_rows], train_split["sigma"][fit_rows],
                                     test_split["mu"][rows], test_split["sigma"][rows],
                                     seed=fitted_bound.fitted_seed(5, c, 1),
                                     families=fitted_bound.CLASS_FAMILIES)
        assert record[f"fitted_class_kl_lower_{c}"] == by_class["aggregate_kl_lower"]
        # three separated clusters: each class's own density beats the prior by much
        assert record[f"fitted_class_kl_lower_{c}"] > 0.5
    assert fitted_bound.fitted_bound_metrics(train_split, test_split, -50.0, seed=5,
                                             families=("mixture", "gmm")) == record
