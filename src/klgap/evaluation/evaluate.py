"""Evaluating one trained VAE: the test split, the training split, and how N matters.

Records of ``metrics.json``, one per ``split`` (see docs/interfaces.md):

- ``test``: the ELBO, rate and distortion, an importance-weighted log-likelihood
  (``klgap.evaluation.likelihood``), active units,
  the in-sample KL decomposition and its minibatch estimates. It also holds the held-out
  bracket, ``heldout_*``: the mixture of the whole training split's posteriors as q(z), at the
  test samples (``heldout_kl_decomposition``), and the fitted bound, ``fitted_*`` and
  ``test_elbo_fitted_prior`` (``klgap.evaluation.fitted_bound``): densities fitted to the whole
  training split's posteriors, scored at the test split's.
- ``train``: the training examples of a subset of the test split's size (the first of the fixed
  ``nested_order``): ELBO (one sample per example) and the in-sample decomposition as for the
  nested subsets below, to set beside the test split's at the same N.
- ``train_full``: the whole training split (ELBO from one sample per example, in-sample
  decomposition scored at ``FULL_SPLIT_SAMPLES`` of its examples' z, without the total
  correlation: the test split has it); ``train_n<N>``: the
  information, aggregate KL and class terms of nested subsets of it (scored at up to
  ``NESTED_SAMPLES`` z; no total correlation), so that they can be followed against their
  ceiling log N. Scoring a
  subsample of the z's keeps every example's posterior in the mixture q(z), so the ceiling is
  still log N; the ``_se`` keys include the subsample's Monte Carlo error.

The posteriors of ``test`` and ``train`` go to ``posterior_<split>.npz``.

The test record also says how well the model generates and where its prior has holes
(``klgap.evaluation.generation_metrics``): decoded samples from the prior and from an ex-post
Gaussian mixture, labelled by the dataset's classifier (``klgap classifier``), and
``estimators.prior_holes`` with the whole training split's mixture; 16 decoded samples of each
kind go to ``samples.npz``. With the dataset's feature network (``klgap feature-network``) it
has the field's primary judgements (``klgap.evaluation.field_metrics``): FID, KID and
precision/recall of the prior, ex-post, fitted-density and reconstructed images against the test
images, beside the dataset's floor; and for every model an AIS log-likelihood on a fixed test
subset (the label metrics are secondary). The model's prior enters every estimator through
``klgap.evaluation.model_prior``.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from klgap import atomic
from klgap.config import schema as config_schema
from klgap.data import datasets as data
from klgap import estimators
from klgap.evaluation import (feature_reference, field_metrics, fitted_bound,
                              generation_metrics, likelihood, model_prior)
from klgap.evaluation.classifier import load_classifier
from klgap.models import networks
from klgap.sweep import layout
from klgap.training import objectives
from klgap.errors import UserError

TEST_SPLIT = ("x_test_binary", "y_test")  # the arrays of the prepared data
EVAL_SEED = 2024  # seed of the importance samples; the same for every model of a sweep
# Sizes of the nested subsets of the training split (prefixes of its fixed ``nested_order``);
# those below the split's size are evaluated, and the whole split is ``train_full``.
NESTED_SIZES = (100, 300, 1000, 3000, 10000, 30000)
# Samples z scored against the mixture in the decomposition of the whole training split and of
# the nested subsets (num_z of estimators.kl_decomposition): Monte Carlo errors of a few
# hundredths of a nat (the _se keys), at a fraction of the N x N cost.
FULL_SPLIT_SAMPLES = 10_000
NESTED_SAMPLES = 2_000
MINIBATCH_METHODS = ("mws", "mss")
# Keys of the test record that time the evaluation: the only values of metrics.json that differ
# between two evaluations of the same run. ``fitted_seconds``: the wall time of the fitted bound
# (``fitted_bound``), part of ``evaluation_seconds``.
# ``quality_seconds``: the sample-quality metrics (features and scores, and the decoding of the
# fitted and reconstructed images); ``ais_seconds``: AIS and its subset's IW bound.
TIMING_KEYS = ("evaluation_seconds", "evaluation_cpu_seconds", "fitted_seconds",
               "quality_seconds", "ais_seconds")


# Keys of a record that describe the encoder's Gaussian q(z|x): for a deterministic encoder
# (objective wae) that Gaussian is never trained (its scale is an unused output), the true rate
# and information are infinite, and these keys are NaN (results/README.md). Prefixes, except
# the keys of ``DEFINED_WITHOUT_ENCODER_NOISE``.
UNDEFINED_WITHOUT_ENCODER_NOISE = (
    "elbo", "rate", "mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl",
    "moment_matched_kl", "label_info", "class_kl", "at_ceiling", "heldout_", "fitted_",
    "test_elbo_fitted_prior", "mws_", "mss_", "prior_holes_")
DEFINED_WITHOUT_ENCODER_NOISE = ("fitted_family", "fitted_seconds")


def without_encoder_noise(record: dict) -> dict:
    """The record with the keys undefined for a deterministic encoder set to NaN.

    Args:
      record: a metrics record.

    Returns:
      A new dict: ``UNDEFINED_WITHOUT_ENCODER_NOISE`` keys NaN, the others unchanged.
    """
    return {key: (math.nan if key.startswith(UNDEFINED_WITHOUT_ENCODER_NOISE)
                  and key not in DEFINED_WITHOUT_ENCODER_NOISE else value)
            for key, value in record.items()}


def split_metrics(vae, x: np.ndarray, labels: np.ndarray, iw_samples: int,
                  minibatch_sizes: list[int]) -> tuple[dict, dict]:
    """All metrics of one split (against the model's prior: ``estimator_prior``).

    Args:
      vae: a trained ``klgap.models.vae.VAE``.
      x: binary data, (N, P).
      labels: class labels, (N,).
      iw_samples: K of the importance-weighted bound.
      minibatch_sizes: batch sizes of the MWS/MSS estimates (those >= N are skipped).

    Returns:
      The flat metrics record and the posterior arrays (mu, sigma, labels).
    """
    x = x.astype(np.float32)
    iw_ll, distortion, rate, mu, sigma = likelihood.importance_weighted(
        vae, x, iw_samples, EVAL_SEED, labels=labels)
    prior = model_prior.estimator_prior(vae, rate)
    record = {
        "n": len(x), "log_n": math.log(len(x)), "iw_samples": iw_samples,
        "elbo": float(np.mean(-distortion - rate)), "iw_ll": float(np.mean(iw_ll)),
        "distortion": float(np.mean(distortion)), "active_units": estimators.active_units(mu),
    }
    decomposition = estimators.kl_decomposition(mu, sigma, labels, seed=EVAL_SEED, **prior)
    record.update(flatten(decomposition))
    record.update(model_prior.class_prior_metrics(vae, mu, sigma, labels, rate,
                                                   seed=EVAL_SEED))
    # the TF rate (float32 encoder, analytic KL) and the estimator's rate must agree
    record["rate_tf"] = float(np.mean(rate))
    for batch_size in minibatch_sizes:
        if batch_size >= len(x):
            continue
        for method in MINIBATCH_METHODS:
            estimate = estimators.minibatch_kl_decomposition(
                mu, sigma, batch_size=batch_size, method=method, seed=EVAL_SEED, **prior)
            record.update({f"{method}_{key}_b{batch_size}": float(value)
                           for key, value in estimate.items()})
    return record, {"mu": mu, "sigma": sigma, "labels": labels}


def training_split_metrics(vae, arrays: dict, test_posterior: dict,
                           return_posterior: bool = False):
    """The training split: a subset of the test split's size, the whole split, its nested
    subsets, and the held-out bracket of the test split.

    Args:
      vae: a trained ``klgap.models.vae.VAE``.
      arrays: the prepared dataset (``x_train_binary``, ``y_train``, ``nested_order``).
      test_posterior: the test split's ``mu``, ``sigma`` and ``labels``.
      return_posterior: also return the training split's posteriors.

    Returns:
      The records of ``train``, ``train_full`` and every ``train_n<N>`` (without the run's
      identifying keys), the ``heldout_<key>`` values to add to the test record (the fit set is
      the whole training split; the eval samples are the test decomposition's), and the
      posteriors of ``train`` (``mu``, ``sigma``, ``labels``); with ``return_posterior``,
      fourth, the whole training split's ``mu`` and ``sigma``, (N, D) each.
    """
    x = arrays["x_train_binary"].astype(np.float32)
    labels = arrays["y_train"]
    _, distortion, rate, mu, sigma = likelihood.importance_weighted(vae, x, 1, EVAL_SEED,
                                                                    labels=labels)

    def elbo_terms(rows) -> dict:
        return {"iw_samples": 1, "elbo": float(np.mean(-distortion[rows] - rate[rows])),
                "distortion": float(np.mean(distortion[rows])),
                "active_units": estimators.active_units(mu[rows]),
                "rate_tf": float(np.mean(rate[rows]))}

    def decomposition(rows, num_z: int | None, marginals: str = "auto") -> dict:
        return {"n": len(rows), "log_n": math.log(len(rows)),
                **flatten(estimators.kl_decomposition(mu[rows], sigma[rows], labels[rows],
                                                      num_z=num_z, seed=EVAL_SEED,
                                                      marginals=marginals,
                                                      **model_prior.estimator_prior(
                                                          vae, rate[rows])))}

    everything = np.arange(len(x))
    nested = {size: decomposition(arrays["nested_order"][:size], min(NESTED_SAMPLES, size),
                                  marginals="none")
              for size in sorted({*NESTED_SIZES, len(test_posterior["mu"])}) if size < len(x)}
    same_size = arrays["nested_order"][:len(test_posterior["mu"])]
    records = [{"split": "train", **nested[len(same_size)], **elbo_terms(same_size)},
               {"split": "train_full", **decomposition(everything, min(FULL_SPLIT_SAMPLES, len(x)),
                                                       marginals="none"),
                **elbo_terms(everything)}]
    records += [{"split": f"train_n{size}", **nested[size]} for size in NESTED_SIZES
                if size in nested]
    bracket = estimators.heldout_kl_decomposition(
        mu, sigma, test_posterior["mu"], test_posterior["sigma"], labels,
        test_posterior["labels"], seed=EVAL_SEED,  # VampPrior: the one-sample rate
        log_prior=model_prior.estimator_prior(vae, None).get("log_prior"))
    heldout = {f"heldout_{key}": value for key, value in flatten(bracket).items()
               if key != "rate"}  # the test record's own rate
    train_posterior = {"mu": mu[same_size], "sigma": sigma[same_size],
                       "labels": labels[same_size]}
    if return_posterior:
        return records, heldout, train_posterior, {"mu": mu, "sigma": sigma}
    return records, heldout, train_posterior


def flatten(decomposition: dict) -> dict:
    """Flattens ``{"class_kl": {3: v}}`` into ``{"class_kl_3": v}``; other values become floats."""
    flat = {}
    for key, value in decomposition.items():
        if isinstance(value, dict):
            flat.update({f"{key}_{label}": float(v) for label, v in value.items()})
        else:
            flat[key] = float(value)
    return flat


def evaluate(data_path: str, rundir: str, iw_samples: int, minibatch_sizes: list[int],
             threads: int | None = None, classifier_path: str | None = None, *,
             features_path: str | None = None, ais_examples: int = field_metrics.AIS_EXAMPLES,
             ais_steps: int = field_metrics.AIS_STEPS,
             ais_chains: int = field_metrics.AIS_CHAINS) -> list[dict]:
    """Evaluates a trained run; writes its posterior arrays, ``samples.npz``, ``metrics.json``.

    Args:
      data_path: the prepared dataset the run was trained on.
      rundir: the run's directory (with ``run.json`` and ``model.npz``).
      iw_samples: K of the importance-weighted bound (>= 1).
      minibatch_sizes: batch sizes of the MWS/MSS estimates.
      threads: TensorFlow intra-op threads.
      classifier_path: the dataset's classifier (``klgap classifier``); None: the test record
        has no label metrics (the prior holes and ``samples.npz`` are still made).
      features_path: the dataset's feature network (``klgap feature-network``); None: no
        sample-quality keys (``prior_fid`` ... ``recon_recall``, ``reference_*``).
      ais_examples: test examples of AIS (``field_metrics.ais_metrics``; 0: no AIS, NaN).
      ais_steps: T of AIS.
      ais_chains: counted chains per example of AIS.

    Returns:
      The metrics records, one per split.
    """
    if iw_samples < 1:
        raise UserError(f"iw_samples must be >= 1, got {iw_samples}; fix the config.")
    rundir = Path(rundir)
    run_file = rundir / "run.json"
    if not run_file.is_file():
        raise UserError(f"{run_file} not found: the run has not finished training; train it first.")
    run = json.loads(run_file.read_text())
    objective = objectives.get(run["config"]["objective"])
    classifier = (None if classifier_path is None else
                  load_classifier(classifier_path, run["dataset"], run["data_dim"]))
    if features_path is not None:  # a bad file stops here, before any work
        feature_reference.check_file(features_path, run["dataset"], run["data_dim"])
    atomic.remove_stale_temporaries(rundir)  # from a process killed mid-write
    arrays = data.load(data_path)
    if "x_train_binary" not in arrays:
        raise UserError(f"{data_path} was prepared by an older klgap (no x_train_binary); "
                        f"prepare it again (`klgap prepare`, or `--forcerun prepare`).")
    x_test_all = arrays["x_test"]  # the feature network's reference: every test image
    if run["config"].get("classes") is not None:  # a run on some classes: its test and training
        arrays = data.select_classes(arrays, run["config"]["classes"])  # splits are theirs
    from klgap.models import device
    from klgap.models import vae as vae_model

    device_name = device.configure(threads)
    reference = (None if features_path is None else feature_reference.load_reference(
        features_path, x_test_all, run["dataset"], run["data_dim"]))
    if reference is not None and run["config"].get("classes") is not None:
        # every kind of sample of a run on some classes is scored against its own test images
        reference = feature_reference.restricted(reference, arrays["x_test"])
    config = run["config"]
    vae = networks.build_model(config, (run["data_dim"],))
    vae_model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))

    [weight] = config["weights"].values()  # the objective's one weight (klgap.sweep.layout)
    identity = {"dataset": run["dataset"], "objective": config["objective"],
                "latent_dim": config["latent_dim"], "weight": weight, "seed": config["seed"],
                "classes": layout.classes_label(config.get("classes"))}
    start = time.process_time(), time.time()
    posteriors = {}
    test, posteriors["test"] = split_metrics(vae, *(arrays[key] for key in TEST_SPLIT),
                                             iw_samples, minibatch_sizes)
    records = [{**identity, "split": "test", "device": device_name, **test}]
    training, heldout, posteriors["train"], whole = training_split_metrics(
        vae, arrays, posteriors["test"], return_posterior=True)
    records[0].update(heldout)  # the test record
    prior = model_prior.estimator_prior(vae, None)  # the model's prior; {} for N(0, I)
    generated, grids = generation_metrics.generation_metrics(
        lambda z: generation_metrics.decoded_means(vae, z), whole["mu"], whole["sigma"],
        classifier, seed=EVAL_SEED, num_threads=threads,
        sample_prior=model_prior.prior_sampler(vae), log_prior=prior.get("log_prior"),
        reference=reference)
    records[0].update(generated)
    fitted_start = time.time()
    fitted, fitted_density = fitted_bound.fitted_bound_metrics(
        {**whole, "labels": arrays["y_train"]}, posteriors["test"], test["elbo"],
        seed=fitted_bound.fitted_seed(EVAL_SEED, config["seed"]), num_threads=threads,
        log_prior=prior.get("log_prior"), return_density=True)
    records[0].update(fitted)
    fitted_seconds = time.time() - fitted_start
    if reference is not None:
        records[0].update(generation_metrics.fitted_and_reconstruction_quality(
            vae, reference, fitted_density, posteriors["test"]["mu"], arrays["x_test"],
            seed=EVAL_SEED))
        records[0]["quality_seconds"] += generated["quality_seconds"]
    ais_start = time.time()
    records[0].update(field_metrics.ais_metrics(
        vae, arrays["x_test_binary"], num_examples=ais_examples, num_steps=ais_steps,
        num_chains=ais_chains, iw_samples=iw_samples, seed=EVAL_SEED,
        standard_prior=objective.prior == "standard"))
    # The evaluation's own time (wall and CPU), without start-up, loading and writing.
    records[0].update({"evaluation_seconds": time.time() - start[1],
                       "evaluation_cpu_seconds": time.process_time() - start[0],
                       "fitted_seconds": fitted_seconds, "ais_seconds": time.time() - ais_start})
    records += [{**identity, "device": device_name, **record} for record in training]
    if getattr(objective, "deterministic_encoder", False):  # wae: q(z|x) is not its encoder
        records = [without_encoder_noise(record) for record in records]
    for record in records:
        print(f"[{rundir}] {record['split']}: rate {record['rate']:.3f} = MI "
              f"{record['mutual_info']:.3f} + aggregate KL {record['aggregate_kl']:.3f} "
              f"(log N = {record['log_n']:.3f})", flush=True)
    print(f"[{rundir}] held-out: aggregate KL >= {heldout['heldout_aggregate_kl_lower']:.3f}, "
          f"MI <= {heldout['heldout_mutual_info_upper']:.3f}", flush=True)
    if classifier is not None:
        print(f"[{rundir}] generation: label KL prior {generated['prior_label_kl']:.3f}, ex-post "
              f"{generated['expost_label_kl']:.3f}; top-class probability prior "
              f"{generated['prior_top_prob']:.3f}, ex-post {generated['expost_top_prob']:.3f}",
              flush=True)
    print(f"[{rundir}] fitted: aggregate KL >= {records[0]['fitted_aggregate_kl_lower']:.3f} "
          f"({records[0]['fitted_family']}, {records[0]['fitted_seconds']:.1f} s)", flush=True)
    if reference is not None:
        print(f"[{rundir}] FID prior {records[0]['prior_fid']:.2f}, ex-post "
              f"{records[0]['expost_fid']:.2f}, fitted {records[0]['fitted_fid']:.2f}, recon "
              f"{records[0]['recon_fid']:.2f} (floor {records[0]['reference_fid']:.2f}; "
              f"{records[0]['quality_seconds']:.1f} s)", flush=True)
    print(f"[{rundir}] AIS log p(x) {records[0]['ais_ll']:.3f} +- {records[0]['ais_ll_se']:.3f} "
          f"on {records[0]['ais_examples']} examples (IW bound {records[0]['ais_iw_ll']:.3f}; "
          f"{records[0]['ais_seconds']:.1f} s)", flush=True)
    print(f"[{rundir}] prior holes: KL(p || q_N) {generated['prior_holes_kl']:.3f}, fraction "
          f"{generated['prior_holes_fraction']:.3f}", flush=True)
    for split, posterior in posteriors.items():
        atomic.savez(rundir / f"posterior_{split}.npz", **posterior)
    atomic.savez(rundir / "samples.npz", **grids)
    atomic.write_json(rundir / "metrics.json", records)
    return records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``evaluate`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundir", required=True, help="the trained run's directory")
    add_evaluation_arguments(parser)
    parser.add_argument("--threads", type=int, default=None)


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options of what an evaluation computes (``evaluate``, ``train-and-evaluate``)."""
    parser.add_argument("--iw-samples", type=int, default=config_schema.default("iw_samples"),
                        help=config_schema.description("iw_samples"))
    parser.add_argument("--minibatch-sizes", type=int, nargs="*",
                        default=config_schema.default("minibatch_sizes"),
                        help=config_schema.description("minibatch_sizes"))
    parser.add_argument("--classifier", default=None,
                        help="the dataset's label classifier (.npz, from `klgap classifier`); "
                             "without it, the generated samples are not labelled (no "
                             "prior_/expost_ label metrics); the workflow always gives it")
    parser.add_argument("--features", default=None,
                        help="the dataset's feature network (.npz, from `klgap feature-network`);"
                             " without it, no FID, KID, precision or recall (no *_fid, ..., "
                             "reference_* keys); the workflow always gives it")
    for key in ("ais_examples", "ais_steps", "ais_chains"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int,
                            default=config_schema.default(key),
                            help=config_schema.description(key))


def main(args: argparse.Namespace) -> None:
    """Runs ``evaluate``."""
    evaluate(args.data, args.rundir, args.iw_samples, args.minibatch_sizes, args.threads,
             args.classifier, **evaluation_settings(args))


def evaluation_settings(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``evaluate`` from ``add_evaluation_arguments``' options."""
    return {"features_path": args.features, "ais_examples": args.ais_examples,
            "ais_steps": args.ais_steps, "ais_chains": args.ais_chains}
