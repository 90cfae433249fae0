"""The test record's judgements of decoded samples (``klgap.evaluation.evaluate``'s test split).

``generation_metrics``: decoded samples of the prior and of an ex-post Gaussian mixture, labelled
by the dataset's classifier (``klgap.evaluation.generation``), the holes the aggregate posterior
leaves in the prior (``estimators.prior_holes``), and, with the dataset's feature network, their
FID, KID and precision/recall (``klgap.evaluation.field_metrics``).
``fitted_and_reconstruction_quality``: the same quality scores for samples of the density the
fitted bound chose and for the test images' reconstructions.
"""

import math
import time

import numpy as np

from klgap import estimators
from klgap.evaluation import field_metrics, generation, model_prior
from klgap.evaluation.classifier import StoredClassifier

# Generation and prior holes. Their draws come from their own streams, [seed, GENERATION_STREAM,
# k] (seed: the evaluation's, ``evaluate.EVAL_SEED``), so the evaluation's other metrics do not
# move; M = 10,000 keeps the Monte Carlo errors of the label metrics near 0.003 and of the hole
# fraction below 0.005.
GENERATION_SAMPLES = 10_000  # decoded and labelled codes, from the prior and from the ex-post
HOLE_SAMPLES = 10_000  # prior samples of ``estimators.prior_holes``
EXPOST_COMPONENTS = 10  # of the ex-post Gaussian mixture (full covariances)
EXPOST_FIT_CODES = 10_000  # training codes (a seeded random subset) the mixture is fitted to
GRID_SAMPLES = 16  # decoded samples of each kind kept in samples.npz
GENERATION_STREAM = 17
# Sample quality (issue 29; ``klgap.evaluation.field_metrics``): FID, KID, precision and recall in
# the dataset's CNN features of QUALITY_SAMPLES decoded images of each kind (the first of the
# GENERATION_SAMPLES prior and ex-post images; fitted-density codes from stream
# [seed, GENERATION_STREAM, 5]) against all test images (10,000 for MNIST): KID's standard
# error over ten disjoint subsets of 1,000 is then a few percent of its value for a model and
# FID's Monte Carlo spread a few hundredths.
QUALITY_SAMPLES = 10_000


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
                       num_components: int = EXPOST_COMPONENTS, seed: int,
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
        (``model_prior.prior_sampler``); None: N(0, I) from NumPy's stream
        [seed, GENERATION_STREAM, 0]. The prior samples and the holes use it.
      log_prior: the model's log p(z) for the holes (``model_prior.numpy_log_prior``); None:
        N(0, I).
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
                                      x_test: np.ndarray, *, seed: int) -> dict:
    """Sample quality of the fitted density's samples and of the reconstructions, with the floor.

    ``fitted_*``: ``QUALITY_SAMPLES`` codes of the density r chosen by the fitted bound
    (``fitted_density.FittedDensity``; the family "prior" is the model's own prior,
    ``model_prior.prior_sampler``), decoded. ``recon_*``: the test images' reconstructions, the
    Bernoulli means decoded at the posterior means E_q[z|x] (not at samples of q(z|x)).
    ``reference_*`` and ``feature_test_accuracy``: the dataset's floor
    (``field_metrics.reference_metrics``); NaN for a run on some classes, whose reference holds
    its own test images (``feature_reference.restricted``).

    Args:
      vae: the trained model.
      reference: the run's ``feature_reference.FeatureReference`` (its test split's features).
      fitted_density: the fitted bound's chosen density.
      mu_test: the test posteriors' means, (N, D).
      x_test: the grey-level test images of the run's split, (N, P).
      seed: the evaluation's seed: codes from stream [seed, GENERATION_STREAM, 5], KID's subsets
        from seed + 1 (streams apart from ``generation_metrics``' kinds).

    Returns:
      ``fitted_``, ``recon_`` quality keys, ``reference_*``, ``feature_test_accuracy`` and the
      wall time ``quality_seconds``.
    """
    start = time.time()
    sampler = (model_prior.prior_sampler(vae) if fitted_density.family == "prior"
               else fitted_density.sample)
    z_fitted = sampler(QUALITY_SAMPLES, [seed, GENERATION_STREAM, 5])  # (M, D)
    images = {"fitted": decoded_means(vae, z_fitted), "recon": decoded_means(vae, mu_test)}
    if len(x_test) != len(reference.test_features):
        raise ValueError(f"the reference has {len(reference.test_features)} test features, the "
                         f"run's test split {len(x_test)} images: restrict it to the run's classes")
    record = {**field_metrics.reference_metrics(reference), **field_metrics.sample_quality_metrics(
        reference, images, seed + 1)}  # streams apart from generation_metrics' kinds
    record["quality_seconds"] = time.time() - start
    return record
