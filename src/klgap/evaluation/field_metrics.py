"""The field's judgements of one trained model: sample quality in features, AIS log-likelihood.

Used by ``klgap.evaluation.evaluate`` for the test record (issue 29; results/README.md lists the
keys):

- ``sample_quality_metrics``: FID, unbiased KID (with its standard error), improved precision
  and recall of decoded images against the grey-level test images, in the penultimate features
  of the dataset's CNN (``klgap.evaluation.feature_reference``). The images scored are the
  decoder's Bernoulli means E[x|z] in [0, 1], not binary draws: the binarized data are
  Bernoulli(grey level) draws, so the means are the model's counterpart of the grey-level test
  images on which the feature network was trained (binary samples would be scored against a
  different distribution than the test images'). Each set is cut to as many images as there are
  test images (10,000 for MNIST, 360 for digits): precision and recall, and FID's bias, depend on
  the sizes, so every row (and the floor) compares equal sizes. The dataset's floor (training
  images against the same test images) is copied in as ``reference_*``.
- ``ais_metrics``: annealed importance sampling (``klgap.evaluation.ais``) on a fixed, seeded
  subset of the binarized test split, the same for every model of a sweep, beside the
  importance-weighted bound of the same examples.
"""

import math

import numpy as np

from klgap.evaluation import ais, feature_network, feature_reference, likelihood

# AIS settings chosen by measurement (issue 29): T steps, C chains and L leapfrog steps, the most
# that fits the evaluation's budget; bench/bench_ais.py measures their bias against a ten times
# longer schedule and their cost on a trained model (results/bench/ais.csv, docs/performance.md).
AIS_EXAMPLES = 100
AIS_STEPS = 300
AIS_CHAINS = 4
AIS_STREAM = 19  # the subset's seed stream, after the fitted bound's 18
QUALITY_STREAM = 20  # KID subsets of the runs' scores (feature_reference uses 21)
AIS_KEYS = ("ais_ll", "ais_ll_se", "ais_subset_se", "ais_iw_ll", "ais_acceptance",
            "ais_effective_chains")


def sample_quality_metrics(reference: feature_reference.FeatureReference, images: dict,
                           seed: int) -> dict:
    """FID, KID (+SE), precision and recall of each set of images against the test images.

    Args:
      reference: the dataset's feature network, test features and floor.
      images: kind (e.g. ``prior``) -> decoded Bernoulli means, (M, P) in [0, 1]; the first
        N_test of them are scored (N_test the test images'; fewer if M is smaller).
      seed: seed of KID's subsets; kind k (in the order given) uses [seed, QUALITY_STREAM, k].

    Returns:
      ``<kind>_fid``, ``<kind>_kid``, ``<kind>_kid_se``, ``<kind>_precision``,
      ``<kind>_recall`` for every kind.
    """
    record = {}
    for index, (kind, x) in enumerate(images.items()):
        x = x[:len(reference.test_features)]  # equal sizes
        features = feature_network.features(reference.network, x)  # (M, F)
        scores = feature_reference.quality_scores(reference.test_features, features,
                                                  seed=[seed, QUALITY_STREAM, index],
                                                  real_radii_sq=reference.test_radii_sq)
        record.update({f"{kind}_{key}": value for key, value in scores.items()})
    return record


def reference_metrics(reference: feature_reference.FeatureReference) -> dict:
    """The dataset's floor and the feature network's accuracy, as keys of the test record."""
    record = {f"reference_{key}": float(reference.record[f"reference_{key}"])
              for key in feature_reference.QUALITY_KEYS}
    record["feature_test_accuracy"] = float(reference.record["test_accuracy"])
    return record


def ais_subset(num_test: int, num_examples: int, seed: int) -> np.ndarray:
    """The fixed test examples of AIS: the first of a seeded permutation, sorted, (n,)."""
    order = np.random.default_rng([seed, AIS_STREAM]).permutation(num_test)
    return np.sort(order[:min(num_examples, num_test)])


def ais_metrics(vae, x_test_binary: np.ndarray, *, num_examples: int = AIS_EXAMPLES,
                num_steps: int = AIS_STEPS, num_chains: int = AIS_CHAINS, iw_samples: int,
                seed: int, standard_prior: bool = True) -> dict:
    """AIS estimate of the mean log p(x) on a fixed test subset, with its errors.

    Args:
      vae: a trained ``klgap.models.vae.VAE``.
      x_test_binary: the binarized test split, (N, P).
      num_examples: n, examples of the subset (0: no AIS, every value NaN).
      num_steps: T of the schedule.
      num_chains: C, counted chains per example.
      iw_samples: K of the importance-weighted bound on the same examples.
      seed: the evaluation seed (the subset's and the chains' streams derive from it).
      standard_prior: whether the model's prior is N(0, I); AIS anneals from it, so a learned
        prior gets NaN for every value (its AIS is not implemented), the settings still recorded.

    Returns:
      ``ais_ll`` (mean over the subset of the per-example AIS estimates: a stochastic lower
      bound), ``ais_ll_se`` (its Monte Carlo error given the subset, from the chains' spread),
      ``ais_subset_se`` (sd over the subset / sqrt(n): how far the subset's mean may lie from
      the whole test split's), ``ais_iw_ll`` (the IW bound's mean on the same examples),
      ``ais_acceptance``, ``ais_effective_chains``, and the settings ``ais_examples``,
      ``ais_steps``, ``ais_chains``, ``ais_leapfrog_steps``.
    """
    settings = {"ais_examples": int(num_examples), "ais_steps": int(num_steps),
                "ais_chains": int(num_chains), "ais_leapfrog_steps": ais.NUM_LEAPFROG_STEPS}
    record = dict.fromkeys(AIS_KEYS, math.nan)
    if num_examples < 1:
        return {**record, **settings}
    rows = ais_subset(len(x_test_binary), num_examples, seed)
    x = np.asarray(x_test_binary[rows], dtype=np.float32)  # (n, P)
    settings["ais_examples"] = len(rows)
    if not standard_prior:
        return {**record, **settings}
    record["ais_iw_ll"] = float(np.mean(likelihood.importance_weighted(vae, x, iw_samples,
                                                                       seed)[0]))
    result = ais.ais_log_likelihood(vae, x, num_steps=num_steps, num_chains=num_chains,
                                    seed=seed)
    per_example = result["log_likelihood"]  # (n,)
    record.update({
        "ais_ll": result["log_likelihood_mean"], "ais_ll_se": result["log_likelihood_mean_se"],
        "ais_subset_se": (float(np.std(per_example, ddof=1) / math.sqrt(len(rows)))
                          if len(rows) > 1 else math.nan),
        "ais_acceptance": result["acceptance_rate"],
        "ais_effective_chains": result["effective_chains"]})
    return {**record, **settings}
