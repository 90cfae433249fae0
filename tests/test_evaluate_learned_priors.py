"""Evaluation of models with learned priors (VampPrior, class-conditional), of the WAE with a
deterministic encoder and of runs on some classes, on small digits models; the priors' log
densities against independent SciPy computations."""

import math

import numpy as np
import pytest
from scipy import special, stats

from klgap.data import datasets as data
from klgap.evaluation import evaluate, generation_metrics, model_prior
from klgap.training import train

UNDEFINED_FOR_WAE = ("elbo", "rate", "rate_tf", "mutual_info", "aggregate_kl", "label_info",
                     "heldout_aggregate_kl_lower", "fitted_aggregate_kl_lower", "prior_holes_kl")


def train_and_evaluate(digits_npz, rundir, objective, **options):
    """Trains a tiny model for one epoch and evaluates it; returns the VAE and the records."""
    from klgap.models import networks
    from klgap.models import vae as vae_model
    from klgap import atomic

    config = train.RunConfig(data=str(digits_npz), rundir=str(rundir), latent_dim=2,
                             objective=objective, seed=0, epochs=1, batch_size=64, hidden=[16],
                             threads=1, **options)
    train.train(config)
    records = evaluate.evaluate(str(digits_npz), str(rundir), iw_samples=4,
                                minibatch_sizes=[64], threads=1)
    import json

    run = json.loads((rundir / "run.json").read_text())
    vae = networks.build_model(run["config"], (run["data_dim"],))
    vae_model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))
    return vae, {record["split"]: record for record in records}


@pytest.fixture(scope="module")
def vamp_run(digits_npz, tmp_path_factory):
    return train_and_evaluate(digits_npz, tmp_path_factory.mktemp("vamp"), "vamp",
                              weights={"beta": 1.0}, num_pseudo_inputs=5)


@pytest.fixture(scope="module")
def classprior_run(digits_npz, tmp_path_factory):
    return train_and_evaluate(digits_npz, tmp_path_factory.mktemp("classprior"), "classprior",
                              weights={"beta": 1.0})


@pytest.mark.slow  # the VampPrior's fixture trains and evaluates (~25 s)
def test_vamp_log_prior_is_the_mixture_of_the_pseudo_inputs_posteriors(vamp_run):
    vae, _ = vamp_run
    posterior = vae.encode(vae.prior.pseudo_inputs())
    loc, scale = posterior.loc.numpy(), posterior.scale.diag.numpy()  # (K, D) each
    z = np.random.default_rng(3).normal(size=(50, 2)) * 1.5  # (M, D)
    per_component = stats.norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(axis=2)
    expected = special.logsumexp(per_component, axis=1) - math.log(len(loc))
    np.testing.assert_allclose(model_prior.numpy_log_prior(vae)(z), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # the VampPrior's fixture trains and evaluates (~25 s)
def test_vamp_run_is_scored_against_its_prior(vamp_run):
    _, records = vamp_run
    test = records["test"]
    assert np.isfinite(test["iw_ll"]) and np.isfinite(test["elbo"])
    # the decomposition's rate is the importance samples' Monte Carlo rate (float64 vs float32)
    assert test["rate"] == pytest.approx(test["rate_tf"], rel=1e-5)
    assert test["rate"] == pytest.approx(test["mutual_info"] + test["aggregate_kl"])
    assert test["elbo"] == pytest.approx(-test["distortion"] - test["rate_tf"], rel=1e-5)
    for key in ("total_correlation", "dimwise_kl", "moment_matched_kl"):
        assert math.isnan(test[key])
    assert np.isfinite(test["prior_holes_kl"]) and np.isfinite(test["heldout_aggregate_kl_lower"])
    assert np.isfinite(test["mss_aggregate_kl_b64"])
    assert np.isfinite(test["fitted_aggregate_kl_lower"])


def test_class_prior_log_density_and_per_class_kl(classprior_run, digits_npz):
    vae, records = classprior_run
    z = np.random.default_rng(4).normal(size=(30, 2))
    loc, scale = vae.prior.loc.numpy(), np.exp(vae.prior.log_scale.numpy())  # (C, D)
    for label in (0, 7):
        expected = stats.norm.logpdf(z, loc[label], scale[label]).sum(axis=1)
        np.testing.assert_allclose(model_prior.numpy_log_prior(vae, label)(z), expected, rtol=1e-5)
    marginal = special.logsumexp(stats.norm.logpdf(z[:, None], loc[None], scale[None]).sum(
        axis=2), axis=1) - math.log(len(loc))
    np.testing.assert_allclose(model_prior.numpy_log_prior(vae)(z), marginal, rtol=1e-5)
    test = records["test"]
    labels = data.load(str(digits_npz))["y_test"]
    for label in range(10):
        share = np.mean(labels == label)
        assert test[f"class_prior_bound_{label}"] == pytest.approx(math.log(1 / share))
        assert np.isfinite(test[f"class_prior_kl_{label}"])
    assert test["rate"] == pytest.approx(test["mutual_info"] + test["aggregate_kl"])


def test_the_standard_prior_sampler_keeps_the_old_draws():
    class Standard:
        prior_kind, latent_dim = "standard", 3

    stream = [2024, generation_metrics.GENERATION_STREAM, 0]
    draws = model_prior.prior_sampler(Standard())(7, stream)
    expected = np.random.default_rng(stream).standard_normal((7, 3))
    np.testing.assert_array_equal(draws, expected)


def test_wae_metrics_of_the_unused_gaussian_are_nan(digits_npz, tmp_path):
    _, records = train_and_evaluate(digits_npz, tmp_path / "wae", "wae",
                                    weights={"lambda": 10.0})
    for record in records.values():
        for key in UNDEFINED_FOR_WAE:
            if key in record:
                assert math.isnan(record[key]), key
    test = records["test"]
    assert np.isfinite(test["iw_ll"]) and np.isfinite(test["distortion"])
    assert np.isfinite(test["prior_label_kl"] if "prior_label_kl" in test else 0.0)


def test_a_run_on_the_ones_is_evaluated_on_the_ones(digits_npz, tmp_path):
    _, records = train_and_evaluate(digits_npz, tmp_path / "ones", "vae",
                                    weights={"beta": 1.0}, classes=[1])
    arrays = data.load(str(digits_npz))
    assert records["test"]["n"] == int(np.sum(arrays["y_test"] == 1))
    assert records["train_full"]["n"] == int(np.sum(arrays["y_train"] == 1))
    assert {record["classes"] for record in records.values()} == {"1"}
    assert "class_kl_1" in records["test"] and "class_kl_0" not in records["test"]
