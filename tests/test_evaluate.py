"""Tests of per-run evaluation on a small trained digits model."""

import json

import numpy as np
import pytest

from klgap import atomic, evaluate, train
from klgap.errors import UserError


@pytest.fixture(scope="module")
def trained_run(digits_npz, tmp_path_factory):
    rundir = tmp_path_factory.mktemp("run")
    train.train(train.RunConfig(data=str(digits_npz), rundir=str(rundir), latent_dim=2,
                                weights={"beta": 1.0}, seed=0, epochs=10, batch_size=64,
                                hidden=[32], threads=1))
    records = evaluate.evaluate(str(digits_npz), str(rundir), iw_samples=20,
                                minibatch_sizes=[32, 100, 10_000], threads=1)
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
                    "iw_ll",
                    "rate", "distortion", "mutual_info", "aggregate_kl", "total_correlation",
                    "dimwise_kl", "moment_matched_kl", "label_info", "active_units",
                    "mutual_info_se", "mss_mutual_info_b32", "mws_aggregate_kl_b100"):
            assert key in record, key
        assert "mss_mutual_info_b10000" not in record  # batch larger than N is skipped
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
    for record in records[:2]:
        assert record["iw_ll"] > record["elbo"]  # the IW bound (K=20) is tighter
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
    np.testing.assert_array_equal(train_split["labels"], arrays["y_train_eval"])


def test_k1_iw_bound_is_the_elbo(trained_run, digits_npz):
    from klgap import model

    rundir, _ = trained_run
    run = json.loads((rundir / "run.json").read_text())
    vae = model.VAE.build(run["data_dim"], 2, [32], seed=0)
    model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))
    x = atomic.load_npz(digits_npz)["x_test_binary"].astype(np.float32)
    iw_ll, distortion, rate, _, _ = evaluate.importance_weighted(vae, x, 1, seed=9)
    # with K = 1, log w = log p(x|z) + [log p(z) - log q(z|x)]: the bracket is a one-sample
    # estimate of -KL, so the difference to -(distortion + rate) has mean zero
    difference = iw_ll + distortion + rate  # (N,)
    assert abs(difference.mean()) < 4 * difference.std() / np.sqrt(len(x))
    assert difference.std() > 0


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
