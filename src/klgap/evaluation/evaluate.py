"""Evaluating one trained VAE: the test split, the training split, and how N matters.

Records of ``metrics.json``, one per ``split`` (see docs/interfaces.md):

- ``test``: the ELBO, rate and distortion, an importance-weighted log-likelihood, active units,
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
(``generation_metrics``): decoded samples from the prior and from an ex-post Gaussian mixture,
labelled by the dataset's classifier (``klgap classifier``), and ``estimators.prior_holes`` with
the whole training split's mixture; 16 decoded samples of each kind go to ``samples.npz``. With the
dataset's feature network (``klgap feature-network``) it has the field's primary judgements
(``klgap.evaluation.field_metrics``): FID, KID and precision/recall of the prior, ex-post,
fitted-density and reconstructed images against the test images, beside the dataset's floor; and
for every model an AIS log-likelihood on a fixed test subset (the label metrics are secondary).
"""

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from klgap import atomic
from klgap.config import schema as config_schema
from klgap.data import datasets as data
from klgap.estimators import decomposition as estimators
from klgap.evaluation import (feature_reference, field_metrics, fitted_bound,
                              generation)
from klgap.evaluation.classifier import StoredClassifier, load_classifier
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
# Generation and prior holes. Their draws come from their own streams, [EVAL_SEED,
# GENERATION_STREAM, k], so the metrics above do not move; M = 10,000 keeps the Monte Carlo
# errors of the label metrics near 0.003 and of the hole fraction below 0.005.
GENERATION_SAMPLES = 10_000  # decoded and labelled codes, from the prior and from the ex-post
HOLE_SAMPLES = 10_000  # prior samples of ``estimators.prior_holes``
EXPOST_COMPONENTS = 10  # of the ex-post Gaussian mixture (full covariances)
EXPOST_FIT_CODES = 10_000  # training codes (a seeded random subset) the mixture is fitted to
GRID_SAMPLES = 16  # decoded samples of each kind kept in samples.npz
GENERATION_STREAM = 17
# Sample quality (issue 29; ``klgap.evaluation.field_metrics``): FID, KID, precision and recall in
# the dataset's CNN features of QUALITY_SAMPLES decoded images of each kind (the first of the
# GENERATION_SAMPLES prior and ex-post images; fitted-density codes from stream
# [EVAL_SEED, GENERATION_STREAM, 5]) against all test images (10,000 for MNIST): KID's standard
# error over ten disjoint subsets of 1,000 is then a few percent of its value for a model and
# FID's Monte Carlo spread a few hundredths.
QUALITY_SAMPLES = 10_000
# Keys of the test record that time the evaluation: the only values of metrics.json that differ
# between two evaluations of the same run. ``fitted_seconds``: the wall time of the fitted bound
# (``fitted_bound``), part of ``evaluation_seconds``.
# ``quality_seconds``: the sample-quality metrics (features and scores, and the decoding of the
# fitted and reconstructed images); ``ais_seconds``: AIS and its subset's IW bound.
TIMING_KEYS = ("evaluation_seconds", "evaluation_cpu_seconds", "fitted_seconds",
               "quality_seconds", "ais_seconds")


# Importance samples decoded together in ``importance_weighted`` (a speed setting only: the
# values do not depend on it; tests/test_evaluate.py checks that).
IW_CHUNK = 5


def importance_weighted(vae, x, num_samples: int, seed: int, batch_size: int = 500,
                        labels=None):
    """Importance-weighted log-likelihood bound and its ELBO terms, per example.

    log p(x) >= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x);
    K = 1 gives the ELBO. p is the model's prior (``VAE.log_prior``): N(0, I), the VampPrior,
    or, for the class-conditional prior, p(z|y) of each example's class, so that the bound is
    on log p(x|y), as the training objective's ELBO is. The rate is KL(q(z|x) || p) in closed
    form for N(0, I) and p(z|y); the VampPrior's has none, and its rate is the Monte Carlo mean
    over the same K samples, (1/K) sum_k [log q(z_k|x) - log p(z_k)] (unbiased; one sample for
    K = 1).

    Args:
      vae: a ``klgap.models.vae.VAE``.
      x: binary data, (N, P) float32.
      num_samples: K.
      seed: seed of the stateless samples (batch b uses (seed, b)).
      batch_size: examples per batch.
      labels: the examples' classes, (N,) int (needed by the class-conditional prior only).

    Returns:
      Arrays of shape (N,): iw_ll, distortion (mean over the K samples of -log p(x|z)),
      rate, and the posterior parameters mu and sigma, (N, D) each.

    Raises:
      UserError: a class-conditional prior without labels.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    from klgap.models import vae as vae_model

    if labels is None:
        if vae.prior_kind == vae_model.CLASS_CONDITIONAL:
            raise UserError("the class-conditional prior scores each example against its "
                            "class's prior; pass the labels.")
        labels = np.zeros(len(x), dtype=np.int32)

    @tf.function
    def batch_terms(x_batch, label_batch, batch_seed):
        posterior = vae.encode(x_batch)
        z = posterior.sample(num_samples, seed=batch_seed)  # (K, B, D), stateless
        # The decoder's logits, a (K, B, P) tensor, taken a few samples at a time so that the
        # elementwise passes over them stay in cache (each sample's value is computed as before);
        # the prior too (the VampPrior's components make a (K, B, K_u, D) tensor otherwise).
        chunks = [z[first:first + IW_CHUNK] for first in range(0, num_samples, IW_CHUNK)]
        log_likelihood = tf.concat([vae.log_likelihood(x_batch, chunk) for chunk in chunks],
                                   axis=0)  # (K, B)
        log_prior = tf.concat([vae.log_prior(chunk, label_batch) for chunk in chunks],
                              axis=0)  # (K, B)
        log_posterior = posterior.log_prob(z)  # (K, B)
        log_weight = log_likelihood + log_prior - log_posterior  # (K, B)
        iw_ll = tf.reduce_logsumexp(log_weight, axis=0) - tf.math.log(float(num_samples))
        if vae.prior_kind == vae_model.STANDARD:
            rate = tfp.distributions.kl_divergence(posterior, vae.prior)  # (B,)
        elif vae.prior_kind == vae_model.VAMP:  # Monte Carlo over the K samples
            rate = tf.reduce_mean(log_posterior - log_prior, axis=0)  # (B,)
        else:
            rate = vae.rate(posterior, z[0], label_batch)  # (B,) closed form against p(z|y)
        return (iw_ll, -tf.reduce_mean(log_likelihood, axis=0), rate, posterior.loc,
                posterior.scale.diag)

    outputs = []
    for index, first in enumerate(range(0, len(x), batch_size)):
        x_batch = tf.constant(x[first:first + batch_size])
        label_batch = tf.constant(np.asarray(labels[first:first + batch_size], dtype=np.int32))
        outputs.append([t.numpy() for t in batch_terms(x_batch, label_batch,
                                                       tf.constant([seed, index]))])
    iw_ll, distortion, rate, mu, sigma = (np.concatenate(parts) for parts in zip(*outputs))
    return iw_ll, distortion, rate, mu.astype(np.float64), sigma.astype(np.float64)


# Codes whose log p(z) a learned prior evaluates at once (``numpy_log_prior``): the VampPrior's
# (M, K, D) table of components stays near 20 MB for K = 500, D = 10.
PRIOR_CHUNK = 1000
# Keys of a record that describe the encoder's Gaussian q(z|x): for a deterministic encoder
# (objective wae) that Gaussian is never trained (its scale is an unused output), the true rate
# and information are infinite, and these keys are NaN (results/README.md). Prefixes, except
# the keys of ``DEFINED_WITHOUT_ENCODER_NOISE``.
UNDEFINED_WITHOUT_ENCODER_NOISE = (
    "elbo", "rate", "mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl",
    "moment_matched_kl", "label_info", "class_kl", "at_ceiling", "heldout_", "fitted_",
    "test_elbo_fitted_prior", "mws_", "mss_", "prior_holes_")
DEFINED_WITHOUT_ENCODER_NOISE = ("fitted_family", "fitted_seconds")


def numpy_log_prior(vae, labels: int | None = None):
    """The model's log p(z) as a NumPy function, (M, D) float64 -> (M,) float64.

    Args:
      vae: a ``klgap.models.vae.VAE``.
      labels: a class y: log p(z|y) of the class-conditional prior; None: the marginal p(z)
        (``VAE.prior_distribution``).
    """
    import tensorflow as tf

    def log_prior(z: np.ndarray) -> np.ndarray:
        parts = []
        for first in range(0, len(z), PRIOR_CHUNK):
            chunk = tf.constant(z[first:first + PRIOR_CHUNK], tf.float32)  # (C, D)
            label = None if labels is None else tf.fill([len(chunk)], int(labels))
            parts.append(vae.log_prior(chunk, label).numpy())
        return np.concatenate(parts).astype(np.float64)

    return log_prior


def prior_sampler(vae):
    """Draws from the model's prior, as ``estimators.prior_holes`` takes them.

    N(0, I): ``estimators.standard_normal_sampler`` (NumPy draws from the seed's stream, the
    draws of models evaluated before learned priors existed). A learned prior:
    ``VAE.prior_distribution().sample``, stateless, its TensorFlow seed derived from the seed.

    Returns:
      A callable (num_samples, seed) -> (M, D) float64, seed a list of ints.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind == vae_model.STANDARD:
        return estimators.standard_normal_sampler(vae.latent_dim)

    def sample(num_samples: int, seed) -> np.ndarray:
        import tensorflow as tf

        tf_seed = np.random.default_rng(seed).integers(0, 2 ** 31 - 1, size=2)
        codes = vae.prior_distribution().sample(num_samples, seed=tf.constant(tf_seed, tf.int32))
        return codes.numpy().astype(np.float64)  # (M, D)

    return sample


def estimator_prior(vae, rate: np.ndarray | None) -> dict:
    """The prior options of the estimators (``log_prior``, ``rate``) for a model.

    N(0, I): none (the estimators' closed forms). The VampPrior: its log density and the
    per-example rate of ``importance_weighted`` (the Monte Carlo mean over its K samples). The
    class-conditional prior: the marginal (1/C) sum_y p(z|y) (``VAE.prior_distribution``),
    whose rate has no closed form, so the estimators use the single-sample rate at their own
    z (the per-class KL against p(z|y) is ``class_prior_metrics``').

    Args:
      vae: a ``klgap.models.vae.VAE``.
      rate: ``importance_weighted``'s rate of the examples, (N,), or None.

    Returns:
      Keyword arguments for ``estimators.kl_decomposition`` and its kin.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind == vae_model.STANDARD:
        return {}
    given = (None if rate is None or vae.prior_kind != vae_model.VAMP
             else np.asarray(rate, dtype=np.float64))
    return {"log_prior": numpy_log_prior(vae), "rate": given}


def class_prior_metrics(vae, mu: np.ndarray, sigma: np.ndarray, labels: np.ndarray,
                        rate: np.ndarray) -> dict:
    """Per class c, KL(q(z|y=c) || p(z|y=c)) against a learned class-conditional prior.

    ``class_prior_kl_<c>`` is the aggregate KL of ``estimators.kl_decomposition`` on the
    examples of class c alone, with p(z|c) as the prior and the closed-form rate
    KL(q(z|x) || p(z|c)): the rate of class c = I(x; z | y=c) + KL(q(z|c) || p(z|c)). The paper's
    bound for a prior shared by all classes, log(1/pi_c) (pi_c the class's share of the
    split), is ``class_prior_bound_<c>``, to set beside it.

    Args:
      vae: a ``klgap.models.vae.VAE``.
      mu, sigma: the split's posteriors, (N, D) each.
      labels: their classes, (N,).
      rate: ``importance_weighted``'s rate, (N,) (closed form against p(z|y) here).

    Returns:
      ``class_prior_kl_<c>``, ``class_prior_kl_se_<c>`` and ``class_prior_bound_<c>`` for each
      class (NaN for a class with fewer than two examples); empty for other priors.
    """
    from klgap.models import vae as vae_model

    if vae.prior_kind != vae_model.CLASS_CONDITIONAL:
        return {}
    record = {}
    for label in np.unique(labels).tolist():
        rows = np.flatnonzero(labels == label)  # (N_c,)
        value = error = math.nan
        if len(rows) >= 2:
            with warnings.catch_warnings():  # a class at its ceiling log N_c is recorded as is
                warnings.simplefilter("ignore", estimators.CeilingWarning)
                by_class = estimators.kl_decomposition(
                    mu[rows], sigma[rows], seed=EVAL_SEED, marginals="none",
                    log_prior=numpy_log_prior(vae, label),
                    rate=np.asarray(rate[rows], dtype=np.float64))
            value, error = by_class["aggregate_kl"], by_class["aggregate_kl_se"]
        record[f"class_prior_kl_{label}"] = float(value)
        record[f"class_prior_kl_se_{label}"] = float(error)
        record[f"class_prior_bound_{label}"] = math.log(len(labels) / len(rows))
    return record


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
    iw_ll, distortion, rate, mu, sigma = importance_weighted(vae, x, iw_samples, EVAL_SEED,
                                                             labels=labels)
    prior = estimator_prior(vae, rate)
    record = {
        "n": len(x), "log_n": math.log(len(x)), "iw_samples": iw_samples,
        "elbo": float(np.mean(-distortion - rate)), "iw_ll": float(np.mean(iw_ll)),
        "distortion": float(np.mean(distortion)), "active_units": estimators.active_units(mu),
    }
    decomposition = estimators.kl_decomposition(mu, sigma, labels, seed=EVAL_SEED, **prior)
    record.update(flatten(decomposition))
    record.update(class_prior_metrics(vae, mu, sigma, labels, rate))
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
    _, distortion, rate, mu, sigma = importance_weighted(vae, x, 1, EVAL_SEED, labels=labels)

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
                                                      **estimator_prior(vae, rate[rows])))}

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
        test_posterior["labels"], seed=EVAL_SEED,
        log_prior=estimator_prior(vae, None).get("log_prior"))  # VampPrior: one-sample rate
    heldout = {f"heldout_{key}": value for key, value in flatten(bracket).items()
               if key != "rate"}  # the test record's own rate
    train_posterior = {"mu": mu[same_size], "sigma": sigma[same_size],
                       "labels": labels[same_size]}
    if return_posterior:
        return records, heldout, train_posterior, {"mu": mu, "sigma": sigma}
    return records, heldout, train_posterior


def decoded_means(vae, z: np.ndarray, batch_size: int = 5000) -> np.ndarray:
    """The decoder's Bernoulli means E[x|z] (``VAE.decode``), (M, P) float64, for z (M, D)."""
    import tensorflow as tf

    means = [vae.decode(tf.constant(z[first:first + batch_size], tf.float32)).mean().numpy()
             for first in range(0, len(z), batch_size)]
    return np.concatenate(means).astype(np.float64)


def image_shape(num_pixels: int) -> tuple[int, int]:
    """(side, side) for square images, else (1, num_pixels)."""
    side = math.isqrt(num_pixels)
    return (side, side) if side * side == num_pixels else (1, num_pixels)


def generation_metrics(decode_means, mu: np.ndarray, sigma: np.ndarray,
                       classifier: StoredClassifier | None, *,
                       num_samples: int = GENERATION_SAMPLES, hole_samples: int = HOLE_SAMPLES,
                       num_components: int = EXPOST_COMPONENTS, seed: int = EVAL_SEED,
                       num_threads: int | None = None, sample_prior=None,
                       log_prior=None, reference=None) -> tuple[dict, dict]:
    """How well a model generates, and the holes its aggregate posterior leaves in the prior.

    Decodes M codes z ~ p(z) = N(0, I) and M codes from the ex-post density, a Gaussian mixture
    (``num_components`` full-covariance components, scikit-learn, ``random_state=seed``) fitted
    to the posterior means E_q[z|x] of up to ``EXPOST_FIT_CODES`` examples of the training
    split (Ghosh et al. 2020 fit the codes' means, not samples of q(z|x)). The decoded
    Bernoulli means are labelled by the classifier (``generation.label_metrics``). Label metrics
    are plain Monte Carlo estimates, not bounds; their ``_se`` is the error of the M samples
    given the model, the classifier and the fitted mixture. The prior holes use the training
    split's mixture q_N
    (``estimators.prior_holes``): ``prior_holes_kl`` estimates KL(p || q_N), in expectation an
    upper bound on the population's KL(p || q); ``prior_holes_fraction`` (prior samples with
    q_N(z) / p(z) < 0.01) is an upper estimate of the population's fraction.

    Args:
      decode_means: maps codes (M, D) to Bernoulli means (M, P) in [0, 1].
      mu: posterior means of the whole training split, (N, D).
      sigma: its posterior standard deviations, (N, D).
      classifier: the dataset's classifier; None: no label metrics.
      num_samples: M, decoded codes of each kind.
      hole_samples: prior samples of the holes.
      num_components: components of the ex-post mixture.
      seed: seed of every draw (streams [seed, GENERATION_STREAM, k]) and of the mixture's fit.
      num_threads: worker threads of the holes; None: the CPUs available.
      sample_prior: draws of the model's prior p(z), (num_samples, seed) -> (M, D)
        (``prior_sampler``); None: N(0, I) from NumPy's stream [seed, GENERATION_STREAM, 0].
        The prior samples and the holes use it.
      log_prior: the model's log p(z) for the holes (``numpy_log_prior``); None: N(0, I).
      reference: the dataset's ``feature_reference.FeatureReference``: adds FID, KID (+SE),
        precision and recall of the first ``QUALITY_SAMPLES`` prior and ex-post images
        (``prior_fid``, ..., ``expost_recall``; ``field_metrics.sample_quality_metrics``) and
        their wall time ``quality_seconds``; None: none of these.

    Returns:
      The test record's keys (``prior_*``, ``expost_*``, ``classifier_test_accuracy``,
      ``prior_holes_*``; see results/README.md) and the sample grids for ``samples.npz``:
      ``prior`` and ``expost`` uint8 (G, P), ``image_shape`` (2,).
    """
    latent_dim = mu.shape[1]
    z_prior = (sample_prior or estimators.standard_normal_sampler(latent_dim))(
        num_samples, [seed, GENERATION_STREAM, 0])  # (M, D)
    fit_rows = np.random.default_rng([seed, GENERATION_STREAM, 4]).permutation(len(mu))[
        :EXPOST_FIT_CODES]
    density = generation.fit_expost_density(mu[fit_rows], num_components=num_components,
                                            seed=seed)
    z_expost = generation.sample_density(density, num_samples,
                                         seed=[seed, GENERATION_STREAM, 1])  # (M, D)
    images = {"prior": decode_means(z_prior), "expost": decode_means(z_expost)}  # (M, P) each
    record = {}
    if classifier is not None:
        record["classifier_test_accuracy"] = classifier.test_accuracy
        for stream, (kind, x) in enumerate(images.items(), start=2):
            labels = generation.label_metrics(
                generation.predict_probabilities(classifier.classifier, x),
                classifier.label_frequencies, seed=[seed, GENERATION_STREAM, stream])
            record.update({f"{kind}_label_kl": labels["label_kl"],
                           f"{kind}_label_kl_se": labels["label_kl_se"],
                           f"{kind}_top_prob": labels["top_class_probability"],
                           f"{kind}_top_prob_se": labels["top_class_probability_se"]})
    holes = estimators.prior_holes(mu, sigma, num_samples=hole_samples, seed=seed,
                                   num_threads=num_threads, log_prior=log_prior,
                                   sample_prior=None if log_prior is None else sample_prior)
    record.update({"prior_holes_kl": holes["prior_kl"], "prior_holes_kl_se": holes["prior_kl_se"],
                   "prior_holes_fraction": holes["hole_fraction"],
                   "prior_holes_fraction_se": holes["hole_fraction_se"]})
    if reference is not None:
        quality_start = time.time()
        record.update(field_metrics.sample_quality_metrics(
            reference, {kind: x[:QUALITY_SAMPLES] for kind, x in images.items()}, seed))
        record["quality_seconds"] = time.time() - quality_start
    grids = {kind: generation.to_uint8(x[:GRID_SAMPLES]) for kind, x in images.items()}
    grids["image_shape"] = np.array(image_shape(images["prior"].shape[1]), dtype=np.int64)
    return record, grids


def fitted_and_reconstruction_quality(vae, reference, fitted_density, mu_test: np.ndarray,
                                      x_test: np.ndarray) -> dict:
    """Sample quality of the fitted density's samples and of the reconstructions, with the floor.

    ``fitted_*``: ``QUALITY_SAMPLES`` codes of the density r chosen by the fitted bound
    (``fitted_density.FittedDensity``; the family "prior" is the model's own prior,
    ``prior_sampler``), decoded. ``recon_*``: the test images' reconstructions, the Bernoulli
    means decoded at the posterior means E_q[z|x] (not at samples of q(z|x)). ``reference_*`` and
    ``feature_test_accuracy``: the dataset's floor (``field_metrics.reference_metrics``); NaN for a
    run on some classes, whose reference holds its own test images
    (``feature_reference.restricted``).

    Args:
      vae: the trained model.
      reference: the run's ``feature_reference.FeatureReference`` (its test split's features).
      fitted_density: the fitted bound's chosen density.
      mu_test: the test posteriors' means, (N, D).
      x_test: the grey-level test images of the run's split, (N, P).

    Returns:
      ``fitted_``, ``recon_`` quality keys, ``reference_*``, ``feature_test_accuracy`` and the
      wall time ``quality_seconds``.
    """
    start = time.time()
    seed = [EVAL_SEED, GENERATION_STREAM, 5]
    sampler = prior_sampler(vae) if fitted_density.family == "prior" else fitted_density.sample
    z_fitted = sampler(QUALITY_SAMPLES, seed)  # (M, D)
    images = {"fitted": decoded_means(vae, z_fitted), "recon": decoded_means(vae, mu_test)}
    if len(x_test) != len(reference.test_features):
        raise ValueError(f"the reference has {len(reference.test_features)} test features, the "
                         f"run's test split {len(x_test)} images: restrict it to the run's classes")
    record = {**field_metrics.reference_metrics(reference), **field_metrics.sample_quality_metrics(
        reference, images, EVAL_SEED + 1)}  # streams apart from generation_metrics' kinds
    record["quality_seconds"] = time.time() - start
    return record


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
    prior = estimator_prior(vae, None)  # the model's prior; {} for N(0, I)
    generated, grids = generation_metrics(lambda z: decoded_means(vae, z), whole["mu"],
                                          whole["sigma"], classifier, num_threads=threads,
                                          sample_prior=prior_sampler(vae),
                                          log_prior=prior.get("log_prior"), reference=reference)
    records[0].update(generated)
    fitted_start = time.time()
    fitted, fitted_density = fitted_bound.fitted_bound_metrics(
        {**whole, "labels": arrays["y_train"]}, posteriors["test"], test["elbo"],
        seed=fitted_bound.fitted_seed(EVAL_SEED, config["seed"]), num_threads=threads,
        log_prior=prior.get("log_prior"), return_density=True)
    records[0].update(fitted)
    fitted_seconds = time.time() - fitted_start
    if reference is not None:
        records[0].update(fitted_and_reconstruction_quality(
            vae, reference, fitted_density, posteriors["test"]["mu"], arrays["x_test"]))
        records[0]["quality_seconds"] += generated["quality_seconds"]
    ais_start = time.time()
    records[0].update(field_metrics.ais_metrics(
        vae, arrays["x_test_binary"], num_examples=ais_examples, num_steps=ais_steps,
        num_chains=ais_chains, iw_samples=iw_samples, seed=EVAL_SEED,
        standard_prior=objective.prior == "standard", importance_weighted=importance_weighted))
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
