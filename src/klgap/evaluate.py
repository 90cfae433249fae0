"""Evaluating one trained VAE: the test split, the training split, and how N matters.

Records of ``metrics.json``, one per ``split`` (see docs/interfaces.md):

- ``test`` and ``train`` (a fixed train subset of the test split's size): the ELBO, rate and
  distortion, an importance-weighted log-likelihood, active units, the in-sample KL
  decomposition and its minibatch estimates; their posteriors go to ``posterior_<split>.npz``.
  The test record also holds the held-out bracket, ``heldout_*``: the mixture of the whole
  training split's posteriors as q(z), at the test samples (``heldout_kl_decomposition``).
- ``train_full``: the whole training split (ELBO from one sample per example, in-sample
  decomposition); ``train_n<N>``: the in-sample decomposition of nested subsets of it, so that
  the information and aggregate KL can be followed against their ceiling log N.
"""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from klgap import atomic, config_schema, data, estimators
from klgap.errors import UserError

SPLITS = {"test": ("x_test_binary", "y_test"), "train": ("x_train_eval_binary", "y_train_eval")}
EVAL_SEED = 2024  # seed of the importance samples; the same for every model of a sweep
# Sizes of the nested subsets of the training split (prefixes of its fixed ``nested_order``);
# those below the split's size are evaluated, and the whole split is ``train_full``.
NESTED_SIZES = (100, 300, 1000, 3000, 10000, 30000)
MINIBATCH_METHODS = ("mws", "mss")


def importance_weighted(vae, x, num_samples: int, seed: int, batch_size: int = 500):
    """Importance-weighted log-likelihood bound and its ELBO terms, per example.

    log p(x) >= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x);
    K = 1 gives the ELBO.

    Args:
      vae: a ``klgap.model.VAE``.
      x: binary data, (N, P) float32.
      num_samples: K.
      seed: seed of the stateless samples (batch b uses (seed, b)).
      batch_size: examples per batch.

    Returns:
      Arrays of shape (N,): iw_ll, distortion (mean over the K samples of -log p(x|z)),
      rate (analytic KL), and the posterior parameters mu and sigma, (N, D) each.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    @tf.function
    def batch_terms(x_batch, batch_seed):
        posterior = vae.encode(x_batch)
        z = posterior.sample(num_samples, seed=batch_seed)  # (K, B, D), stateless
        log_likelihood = vae.decode(z).log_prob(x_batch)  # (K, B)
        log_weight = log_likelihood + vae.prior.log_prob(z) - posterior.log_prob(z)  # (K, B)
        iw_ll = tf.reduce_logsumexp(log_weight, axis=0) - tf.math.log(float(num_samples))
        rate = tfp.distributions.kl_divergence(posterior, vae.prior)  # (B,)
        return (iw_ll, -tf.reduce_mean(log_likelihood, axis=0), rate, posterior.loc,
                posterior.scale.diag)

    outputs = []
    for index, first in enumerate(range(0, len(x), batch_size)):
        x_batch = tf.constant(x[first:first + batch_size])
        outputs.append([t.numpy() for t in batch_terms(x_batch, tf.constant([seed, index]))])
    iw_ll, distortion, rate, mu, sigma = (np.concatenate(parts) for parts in zip(*outputs))
    return iw_ll, distortion, rate, mu.astype(np.float64), sigma.astype(np.float64)


def split_metrics(vae, x: np.ndarray, labels: np.ndarray, iw_samples: int,
                  minibatch_sizes: list[int]) -> tuple[dict, dict]:
    """All metrics of one split.

    Args:
      vae: a trained ``klgap.model.VAE``.
      x: binary data, (N, P).
      labels: class labels, (N,).
      iw_samples: K of the importance-weighted bound.
      minibatch_sizes: batch sizes of the MWS/MSS estimates (those >= N are skipped).

    Returns:
      The flat metrics record and the posterior arrays (mu, sigma, labels).
    """
    x = x.astype(np.float32)
    iw_ll, distortion, rate, mu, sigma = importance_weighted(vae, x, iw_samples, EVAL_SEED)
    record = {
        "n": len(x), "log_n": math.log(len(x)), "iw_samples": iw_samples,
        "elbo": float(np.mean(-distortion - rate)), "iw_ll": float(np.mean(iw_ll)),
        "distortion": float(np.mean(distortion)), "active_units": estimators.active_units(mu),
    }
    decomposition = estimators.kl_decomposition(mu, sigma, labels, seed=EVAL_SEED)
    record.update(flatten(decomposition))
    # the TF rate (float32 encoder, analytic KL) and the estimator's rate must agree
    record["rate_tf"] = float(np.mean(rate))
    for batch_size in minibatch_sizes:
        if batch_size >= len(x):
            continue
        for method in MINIBATCH_METHODS:
            estimate = estimators.minibatch_kl_decomposition(
                mu, sigma, batch_size=batch_size, method=method, seed=EVAL_SEED)
            record.update({f"{method}_{key}_b{batch_size}": float(value)
                           for key, value in estimate.items()})
    return record, {"mu": mu, "sigma": sigma, "labels": labels}


def training_split_metrics(vae, arrays: dict, test_posterior: dict) -> tuple[list[dict], dict]:
    """The whole training split, its nested subsets, and the held-out bracket of the test split.

    Args:
      vae: a trained ``klgap.model.VAE``.
      arrays: the prepared dataset (``x_train_binary``, ``y_train``, ``nested_order``).
      test_posterior: the test split's ``mu``, ``sigma`` and ``labels``.

    Returns:
      The records of ``train_full`` and of every ``train_n<N>`` (without the run's identifying
      keys), and the ``heldout_<key>`` values to add to the test record (the fit set is the whole
      training split; the eval samples are the test decomposition's).
    """
    x = arrays["x_train_binary"].astype(np.float32)
    labels = arrays["y_train"]
    _, distortion, rate, mu, sigma = importance_weighted(vae, x, 1, EVAL_SEED)
    full = {"split": "train_full", "n": len(x), "log_n": math.log(len(x)), "iw_samples": 1,
            "elbo": float(np.mean(-distortion - rate)), "distortion": float(np.mean(distortion)),
            "active_units": estimators.active_units(mu),
            **flatten(estimators.kl_decomposition(mu, sigma, labels, seed=EVAL_SEED)),
            "rate_tf": float(np.mean(rate))}
    records = [full]
    for size in NESTED_SIZES:
        if size >= len(x):
            break
        subset = arrays["nested_order"][:size]
        decomposition = estimators.kl_decomposition(mu[subset], sigma[subset], labels[subset],
                                                    seed=EVAL_SEED)
        records.append({"split": f"train_n{size}", "n": size, "log_n": math.log(size),
                        **flatten(decomposition)})
    bracket = estimators.heldout_kl_decomposition(
        mu, sigma, test_posterior["mu"], test_posterior["sigma"], labels,
        test_posterior["labels"], seed=EVAL_SEED)
    heldout = {f"heldout_{key}": value for key, value in flatten(bracket).items()
               if key != "rate"}  # the test record's own rate
    return records, heldout


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
             threads: int | None = None) -> list[dict]:
    """Evaluates a trained run and writes its posterior arrays and ``metrics.json``.

    Args:
      data_path: the prepared dataset the run was trained on.
      rundir: the run's directory (with ``run.json`` and ``model.npz``).
      iw_samples: K of the importance-weighted bound (>= 1).
      minibatch_sizes: batch sizes of the MWS/MSS estimates.
      threads: TensorFlow intra-op threads.

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
    atomic.remove_stale_temporaries(rundir)  # from a process killed mid-write
    arrays = data.load(data_path)
    if "x_train_binary" not in arrays:
        raise UserError(f"{data_path} was prepared by an older klgap (no x_train_binary); "
                        f"prepare it again (`klgap prepare`, or `--forcerun prepare`).")
    from klgap import device, model as vae_model

    device_name = device.configure(threads)
    config = run["config"]
    vae = vae_model.VAE.build(run["data_dim"], config["latent_dim"], config["hidden"],
                              config["seed"])
    vae_model.set_weights(vae, atomic.load_npz(rundir / "model.npz"))

    [weight] = config["weights"].values()  # the objective's one weight (klgap.layout)
    identity = {"dataset": run["dataset"], "objective": config["objective"],
                "latent_dim": config["latent_dim"], "weight": weight, "seed": config["seed"]}
    records, posteriors = [], {}
    for split, (x_key, y_key) in SPLITS.items():
        record, posteriors[split] = split_metrics(vae, arrays[x_key], arrays[y_key], iw_samples,
                                                  minibatch_sizes)
        records.append({**identity, "split": split, "device": device_name, **record})
    training, heldout = training_split_metrics(vae, arrays, posteriors["test"])
    records[0].update(heldout)  # the test record
    records += [{**identity, "device": device_name, **record} for record in training]
    for record in records:
        print(f"[{rundir}] {record['split']}: rate {record['rate']:.3f} = MI "
              f"{record['mutual_info']:.3f} + aggregate KL {record['aggregate_kl']:.3f} "
              f"(log N = {record['log_n']:.3f})", flush=True)
    print(f"[{rundir}] held-out: aggregate KL >= {heldout['heldout_aggregate_kl_lower']:.3f}, "
          f"MI <= {heldout['heldout_mutual_info_upper']:.3f}", flush=True)
    for split, posterior in posteriors.items():
        atomic.savez(rundir / f"posterior_{split}.npz", **posterior)
    atomic.write_json(rundir / "metrics.json", records)
    return records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``evaluate`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundir", required=True, help="the trained run's directory")
    parser.add_argument("--iw-samples", type=int, default=config_schema.default("iw_samples"),
                        help=config_schema.description("iw_samples"))
    parser.add_argument("--minibatch-sizes", type=int, nargs="*",
                        default=config_schema.default("minibatch_sizes"),
                        help=config_schema.description("minibatch_sizes"))
    parser.add_argument("--threads", type=int, default=None)


def main(args: argparse.Namespace) -> None:
    """Runs ``evaluate``."""
    evaluate(args.data, args.rundir, args.iw_samples, args.minibatch_sizes, args.threads)
