"""The FLOP floor of a configuration, and this machine's one-thread matrix-product rate.

What is counted: matrix-product FLOPs only, 2 per multiply-add (an (m x k) @ (k x n) product
is 2 m k n). Elementwise work (activations, the Bernoulli log-likelihood, sampling, exp and
logsumexp, Adam) is not counted, so the floor is a lower bound on the work of a run.

* Training, per epoch: every training example once through encoder and decoder, forward and
  backward (the backward pass is two products per layer, so 3 x forward), plus the per-epoch
  test pass (encoder and decoder forward once per test example; ``klgap.training.engine``).
  With the VampPrior, every step also passes the K pseudo-inputs through the encoder, forward
  and backward (3 x the encoder's forward per pseudo-input and step), and the test pass once
  (the B x K table of log q(z_i|u_k) is not counted).
* Evaluation (``klgap.evaluation.evaluate``): the K-sample importance-weighted bound on the test
  split and on the train subset of the same size (encoder once, decoder K times per example),
  one sample per example on the whole training split; the in-sample KL decomposition of each
  evaluated set (test, train subset, whole training split and its nested subsets): the M x N
  table of log q(z_i|x_n) is one (M x (2D + 2)) @ ((2D + 2) x N) product, for the M = N samples
  and again for the redrawn ones (up to ``REPEAT_SAMPLES``); the held-out bracket (test samples
  against the training split's mixture); the minibatch estimators (MWS and MSS per batch size
  below the set's size), whose per-batch M x M x D density tables are counted as the product of
  that shape. The per-dimension marginals (one-dimensional mixtures, evaluated elementwise or by
  interpolation) are not counted.
* The fitted bound (``klgap.evaluation.fitted_bound``, ``fitted_density_kl`` with the whole
  training split as fit set and the test split as eval set, and again per class with the
  families ``CLASS_FAMILIES``) where its work depends on choices made at run time, at its
  least: the widened mixture's bandwidth search stops after three bandwidths (0 the best, the
  next two worse), each a table of ``MIXTURE_SEARCH_CODES`` validation codes against the fit
  part's components, then all validation codes against the fit part and the eval codes against
  all N; the Gaussian mixture tries the first ``GMM_PATIENCE`` + 1 component counts and keeps
  one, each fit two EM iterations (the first cannot converge) after the initial M step (each
  step one (n x F) @ (F x K) product of the fit codes' second-order features, F = D (D + 1) / 2 +
  D + 1; k-means' initialisation is not counted); the flow
  trains the epochs of an early stop that never improves, ``PATIENCE`` x (``MAX_DECAYS`` + 1),
  3 x forward per trained code, and scores the validation codes before and after every epoch
  and the eval codes once. Drawing from the chosen density and a learned prior's log p(z) are
  not counted.
* Sample quality (``klgap.evaluation.field_metrics``): the fitted density's and the
  reconstructions' decoding, the feature CNN (``feature_network.build_network``: its convolutions
  as (pixels x 9 C_in) @ (9 C_in x C_out) and its dense feature layer) on the test images and
  on every scored set, and per scored set FID (covariances (F x n) @ (n x F) and three F x F
  products; eigendecompositions not counted), KID (three m x m kernel tables per subset) and
  precision/recall (the real-real, fake-fake and fake-real distance tables).
* AIS (``klgap.evaluation.ais`` on ``ais_examples`` test examples; none for learned priors):
  per example and chain (counted and adaptation), one decoder gradient at the start and L
  (leapfrog) per transition on f_1 .. f_{T-1}, each 3 x forward; and the IW bound on the subset.

The run list comes from a configuration (``config/*.yaml``); dataset sizes (and class sizes)
from a prepared data file (``<outdir>/data/<dataset>.npz``) if there is one, else from
``KNOWN_SIZES`` (classes of even size there). A run on some classes (``classes``) is counted on
those classes' examples.

``klgap machine --out machine.json`` measures the rate (the workflow's ``machine`` rule, at the
start of a sweep); ``klgap provenance`` copies it into ``provenance.json``.
"""

import argparse
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from klgap.config import schema as config_schema
from klgap.errors import UserError
from klgap.estimators import fitted_density, flow_density, gaussian_mixture, mixture_numerics
from klgap.evaluation import (ais, evaluate, feature_network, feature_reference, field_metrics,
                              fitted_bound, generation_metrics, sample_quality)
from klgap.sweep import layout
from klgap.training import objectives


@dataclass(frozen=True)
class DatasetSize:
    """The sizes of a prepared dataset that the FLOP count needs."""

    num_train: int
    num_test: int
    data_dim: int
    class_sizes: tuple[tuple[int, int], ...] = ()  # (training, test) examples of each class


def even_classes(num_train: int, num_test: int, num_classes: int) -> tuple[tuple[int, int], ...]:
    """(training, test) sizes of ``num_classes`` classes as even as the totals allow."""
    def split(total):
        return [total // num_classes + (label < total % num_classes)
                for label in range(num_classes)]

    return tuple(zip(split(num_train), split(num_test)))


def known_size(num_train: int, num_test: int, data_dim: int, num_classes: int) -> DatasetSize:
    """A ``DatasetSize`` with ``num_classes`` classes of even size."""
    return DatasetSize(num_train, num_test, data_dim,
                       even_classes(num_train, num_test, num_classes))


# Sizes of the datasets klgap prepares (``klgap.data.datasets``): used when no prepared file is
# at hand (the classes' sizes are then taken as even).
KNOWN_SIZES = {
    "digits": known_size(1437, 360, 64, 10),
    "fashion_mnist": known_size(60000, 10000, 784, 10),
    "mnist": known_size(60000, 10000, 784, 10),
}
LARGE_SQUARE = 2048  # side of the square product whose rate is measured
# ``fitted_density``'s bandwidth search stops after this many tries in a row that do not improve
# on the best, so it makes at least one more (its Gaussian-mixture search: ``GMM_PATIENCE``).
SEARCH_STOP = 2
# The Gaussian mixture's EM cannot converge at its first iteration (the change from -inf is
# infinite).
GMM_MIN_ITERATIONS = 2
# ``feature_network.build_network``'s convolution kernels (side) and max pooling (side).
CONV_KERNEL = 3
POOL_SIZE = 2


@dataclass(frozen=True)
class RunShape:
    """What the FLOP count of one run depends on.

    Attributes:
      data_dim: P, pixels per image.
      latent_dim: D.
      hidden: hidden layer sizes of the encoder (the decoder mirrors them).
      num_train: training examples N.
      num_test: test examples (also the size of the evaluated train subset).
      epochs: training epochs.
      batch_size: examples per step (every example is seen once an epoch, so the count does not
        depend on it; kept for the record).
      iw_samples: K of the importance-weighted bound.
      minibatch_sizes: batch sizes of the MWS/MSS estimators.
      objective: the training objective (its prior decides whether AIS runs).
      ais_examples, ais_steps, ais_chains: AIS's test examples, steps T and counted chains.
      class_sizes: (training, test) examples of each class (per-class fitted bounds); empty: none
        counted.
      num_pseudo_inputs: K of a VampPrior, whose encoder pass every step adds; 0: no VampPrior.
      scored_fields: the evaluation had the fitted bound, the sample quality and AIS (False for
        a sweep evaluated before they existed: its configuration snapshot has no ais_examples).
    """

    data_dim: int
    latent_dim: int
    hidden: tuple[int, ...]
    num_train: int
    num_test: int
    epochs: int
    batch_size: int
    iw_samples: int
    minibatch_sizes: tuple[int, ...]
    objective: str = "vae"
    ais_examples: int = field_metrics.AIS_EXAMPLES
    ais_steps: int = field_metrics.AIS_STEPS
    ais_chains: int = field_metrics.AIS_CHAINS
    class_sizes: tuple[tuple[int, int], ...] = ()
    scored_fields: bool = True
    num_pseudo_inputs: int = 0


def layer_shapes(data_dim: int, latent_dim: int, hidden) -> tuple[list, list]:
    """Returns the (fan_in, fan_out) of every weight matrix of the encoder and of the decoder.

    Args:
      data_dim: P.
      latent_dim: D (the encoder's last layer has 2D outputs: mean and scale).
      hidden: the encoder's hidden sizes; the decoder's are reversed.

    Returns:
      (encoder shapes, decoder shapes).
    """
    encoder = [data_dim, *hidden, 2 * latent_dim]
    decoder = [latent_dim, *list(hidden)[::-1], data_dim]
    return list(zip(encoder[:-1], encoder[1:])), list(zip(decoder[:-1], decoder[1:]))


def forward_flops(shapes) -> int:
    """Matrix-product FLOPs of one example's forward pass through layers of ``shapes``."""
    return sum(2 * fan_in * fan_out for fan_in, fan_out in shapes)


def training_flops(shape: RunShape) -> int:
    """FLOPs of training one run: 3 x forward per training example and epoch, plus the test pass;
    with a VampPrior, its pseudo-inputs through the encoder at every step and test pass.

    Args:
      shape: the run.

    Returns:
      Matrix-product FLOPs.
    """
    encoder, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    forward = forward_flops(encoder) + forward_flops(decoder)
    steps = -(-shape.num_train // shape.batch_size)  # per epoch, the last batch partial
    pseudo_inputs = shape.num_pseudo_inputs * forward_flops(encoder) * (3 * steps + 1)
    return shape.epochs * (3 * forward * shape.num_train + forward * shape.num_test
                           + pseudo_inputs)


def mixture_flops(num_samples: int, num_components: int, latent_dim: int) -> int:
    """FLOPs of the table log q(z_i|x_n): (M x (2D + 2)) @ ((2D + 2) x N)."""
    return 2 * num_samples * num_components * (2 * latent_dim + 2)


def decomposition_flops(num_examples: int, latent_dim: int, num_z: int | None = None) -> int:
    """FLOPs of ``estimators.kl_decomposition`` of N examples: the num_z samples scored (all N by
    default) and the redrawn ones, each against the N components."""
    samples = num_examples if num_z is None else num_z
    repeats = min(samples, mixture_numerics.REPEAT_SAMPLES)
    return mixture_flops(samples + repeats, num_examples, latent_dim)


def minibatch_flops(num_examples: int, latent_dim: int, batch_sizes) -> int:
    """FLOPs of the MWS and MSS estimates: per batch of M, an M x M x D table as a product."""
    total = 0
    for batch_size in batch_sizes:
        if batch_size >= num_examples:
            continue
        batches = mixture_numerics.batches(np.arange(num_examples), batch_size)
        per_method = sum(2 * len(batch) ** 2 * latent_dim for batch in batches)
        total += len(evaluate.MINIBATCH_METHODS) * per_method
    return total


def validation_size(num_fit: int) -> int:
    """Fit posteriors ``fitted_density_kl`` holds out for validation (its own rule)."""
    return max(2, min(round(fitted_density.VALIDATION_FRACTION * num_fit),
                      fitted_density.MAX_VALIDATION))


def gmm_fit_flops(num_codes: int, num_components: int, latent_dim: int) -> int:
    """FLOPs of one EM fit (``estimators.gaussian_mixture``) of K components to n codes in D
    dimensions at its fewest iterations: the initial M step and ``GMM_MIN_ITERATIONS`` E and M
    steps, each a 2 n K F product with the codes' F second-order features."""
    step = gmm_score_flops(num_codes, num_components, latent_dim)
    return step + GMM_MIN_ITERATIONS * 2 * step


def gmm_score_flops(num_points: int, num_components: int, latent_dim: int) -> int:
    """FLOPs of a Gaussian mixture's log-densities at num_points points: 2 n K F."""
    return 2 * num_points * num_components * gaussian_mixture.num_features(latent_dim)


def flow_forward_flops(latent_dim: int) -> int:
    """FLOPs of one code through the flow (``flow_density``): each coupling's network, once."""
    masked = latent_dim // 2
    hidden = flow_density.HIDDEN_UNITS
    network = forward_flops([(masked, hidden), (hidden, hidden),
                             (hidden, 2 * (latent_dim - masked))])
    return flow_density.NUM_COUPLINGS * network


def flow_min_epochs() -> int:
    """Epochs the flow trains at least: an early stop whose validation never improves."""
    return min(flow_density.MAX_EPOCHS, flow_density.PATIENCE * (flow_density.MAX_DECAYS + 1))


def fitted_flops(num_fit: int, num_eval: int, latent_dim: int,
                 families=fitted_density.FAMILIES) -> dict[str, int]:
    """FLOPs of one ``fitted_density_kl`` (one eval code per example), by family, at its least.

    Run-time choices are taken at their cheapest (module doc): three bandwidths, the first
    ``GMM_PATIENCE`` + 1 Gaussian-mixture component counts with the first kept,
    ``flow_min_epochs`` epochs.

    Args:
      num_fit: fit posteriors N (split into the fit part and ``validation_size(N)``).
      num_eval: eval posteriors M.
      latent_dim: D.
      families: the families fitted.

    Returns:
      ``{family: FLOPs}`` for each of ``families``.
    """
    num_validation = validation_size(num_fit)
    num_part = num_fit - num_validation
    parts = {}
    if "mixture" in families:
        search = min(SEARCH_STOP + 1, len(fitted_density.MIXTURE_BANDWIDTHS))
        search_codes = min(fitted_density.MIXTURE_SEARCH_CODES, num_validation)
        parts["mixture"] = (search * mixture_flops(search_codes, num_part, latent_dim)
                            + mixture_flops(num_validation, num_part, latent_dim)
                            + mixture_flops(num_eval, num_fit, latent_dim))
    if "gmm" in families:
        codes = min(num_part, fitted_density.GMM_MAX_CODES)
        tried = [k for k in fitted_density.GMM_COMPONENTS
                 if k <= codes // 2][:fitted_density.GMM_PATIENCE + 1]
        parts["gmm"] = sum(gmm_fit_flops(codes, k, latent_dim)
                           + gmm_score_flops(num_validation, k, latent_dim) for k in tried)
        parts["gmm"] += gmm_score_flops(num_eval, tried[0] if tried else 0, latent_dim)
    if "flow" in families:
        parts["flow"] = 0
        if latent_dim >= 2:  # the flow needs two dimensions
            forward = flow_forward_flops(latent_dim)
            batch = min(flow_density.BATCH_SIZE, num_part)
            trained = num_part // batch * batch  # whole batches
            epochs = flow_min_epochs()
            parts["flow"] = (epochs * 3 * forward * trained
                             + (epochs + 1) * num_validation * forward + num_eval * forward)
    return parts


def fitted_bound_flops(shape: RunShape) -> int:
    """FLOPs of ``fitted_bound.fitted_bound_metrics``: the overall fit and each class's."""
    total = sum(fitted_flops(shape.num_train, shape.num_test, shape.latent_dim,
                             fitted_bound.FAMILIES).values())
    for num_fit, num_eval in shape.class_sizes:
        if num_fit >= fitted_bound.MIN_CLASS_FIT and num_eval >= fitted_bound.MIN_CLASS_EVAL:
            total += sum(fitted_flops(num_fit, num_eval, shape.latent_dim,
                                      fitted_bound.CLASS_FAMILIES).values())
    return total


def feature_network_flops(data_dim: int, channels=feature_network.CHANNELS,
                          feature_dim: int = feature_network.FEATURE_DIM) -> int:
    """FLOPs of one image through the feature CNN up to its feature layer.

    Args:
      data_dim: P, pixels of a square image.
      channels: the convolution blocks' output channels.
      feature_dim: F.

    Returns:
      Per convolution ("same" padding), 2 x pixels x kernel^2 x C_in x C_out; the dense
      feature layer, 2 x (pooled pixels x C) x F.
    """
    height, width = feature_reference.image_shape_of(data_dim)
    total, depth = 0, 1
    for width_out in channels:
        total += 2 * height * width * CONV_KERNEL ** 2 * depth * width_out
        height, width, depth = height // POOL_SIZE, width // POOL_SIZE, width_out
    return total + 2 * height * width * depth * feature_dim


def quality_score_flops(num_real: int, num_fake: int,
                        feature_dim: int = feature_network.FEATURE_DIM) -> int:
    """FLOPs of ``feature_reference.quality_scores`` of R real and G fake feature vectors.

    FID: the two covariances, 2 (R + G) F^2, and three F x F products (the square root's
    reconstruction and S C S), 6 F^3; KID: per subset of m rows, three m x m kernel tables,
    6 m^2 F; precision and recall: the R x R, G x G and G x R distance tables, 2 F (R^2 + G^2 +
    G R).
    """
    fid = 2 * (num_real + num_fake) * feature_dim ** 2 + 6 * feature_dim ** 3
    smaller = min(num_real, num_fake)
    subset = max(2, min(sample_quality.KID_SUBSET_SIZE,
                        smaller // feature_reference.KID_MIN_SUBSETS))
    kid = smaller // subset * 6 * subset ** 2 * feature_dim
    distances = 2 * feature_dim * (num_real ** 2 + num_fake ** 2 + num_fake * num_real)
    return fid + kid + distances


def quality_flops(shape: RunShape) -> int:
    """FLOPs of the sample-quality metrics (``field_metrics.sample_quality_metrics``).

    The test images' features (the reference, computed where it is loaded), the decoding of
    ``QUALITY_SAMPLES`` fitted-density codes and of the test posteriors' means (the prior and
    ex-post images are decoded in ``networks``), and for each scored set (prior, ex-post, fitted,
    reconstructions; each cut to the test split's size) its features and scores.
    """
    _, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    decoded = (generation_metrics.QUALITY_SAMPLES + shape.num_test) * forward_flops(decoder)
    generated = min(generation_metrics.QUALITY_SAMPLES, generation_metrics.GENERATION_SAMPLES)
    kinds = [generated, generated, generation_metrics.QUALITY_SAMPLES, shape.num_test]
    scored = [min(size, shape.num_test) for size in kinds]
    features = (shape.num_test + sum(scored)) * feature_network_flops(shape.data_dim)
    return decoded + features + sum(quality_score_flops(shape.num_test, size) for size in scored)


def ais_flops(shape: RunShape) -> int:
    """FLOPs of ``field_metrics.ais_metrics``: AIS and the IW bound on its subset.

    Per example and chain (``ais_chains`` + ``ais.NUM_ADAPTATION_CHAINS``), 1 + (T - 1) L decoder
    gradients of 3 x forward; none for a learned prior (its AIS is skipped) or 0 examples.
    """
    if shape.ais_examples < 1 or objectives.get(shape.objective).prior != "standard":
        return 0
    encoder, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    examples = min(shape.ais_examples, shape.num_test)
    chains = shape.ais_chains + ais.NUM_ADAPTATION_CHAINS
    gradients = 1 + max(shape.ais_steps - 1, 0) * ais.NUM_LEAPFROG_STEPS
    annealing = examples * chains * gradients * 3 * forward_flops(decoder)
    bound = examples * (forward_flops(encoder) + shape.iw_samples * forward_flops(decoder))
    return annealing + bound


def evaluation_parts(shape: RunShape) -> dict[str, int]:
    """FLOPs of evaluating one run (``klgap.evaluation.evaluate``), by part.

    Args:
      shape: the run.

    Returns:
      ``{"networks": encoder and decoder passes (K importance samples on the test split, one on
      the training split, the decoded prior and ex-post samples), "decomposition": in-sample
      decompositions (test; the whole training split and its subsets at their numbers of
      scored z), "heldout": the held-out bracket, "prior_holes": prior samples against the
      training mixture, "minibatch": MWS/MSS estimators on the test split, "fitted": the
      fitted bound, overall and per class (``fitted_bound_flops``, at its least), "quality":
      decoding, features and scores of the sample-quality metrics (``quality_flops``), "ais": AIS
      and its subset's IW bound (``ais_flops``)}``.
    """
    encoder, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    test = shape.num_test * (forward_flops(encoder) + shape.iw_samples * forward_flops(decoder))
    whole_train = shape.num_train * (forward_flops(encoder) + forward_flops(decoder))
    # the prior and the ex-post samples
    generated = 2 * generation_metrics.GENERATION_SAMPLES * forward_flops(decoder)
    nested = {size for size in (*evaluate.NESTED_SIZES, shape.num_test) if size < shape.num_train}
    decompositions = (
        decomposition_flops(shape.num_test, shape.latent_dim)  # test
        + decomposition_flops(shape.num_train, shape.latent_dim,
                              min(evaluate.FULL_SPLIT_SAMPLES, shape.num_train))  # train_full
        + sum(decomposition_flops(size, shape.latent_dim, min(evaluate.NESTED_SAMPLES, size))
              for size in nested))  # train and train_n<N>
    return {
        "networks": test + whole_train + generated,
        "decomposition": decompositions,
        "heldout": mixture_flops(shape.num_test, shape.num_train, shape.latent_dim),
        "prior_holes": mixture_flops(generation_metrics.HOLE_SAMPLES, shape.num_train,
                                     shape.latent_dim),
        "minibatch": minibatch_flops(shape.num_test, shape.latent_dim, shape.minibatch_sizes),
        "fitted": fitted_bound_flops(shape) if shape.scored_fields else 0,
        "quality": quality_flops(shape) if shape.scored_fields else 0,
        "ais": ais_flops(shape) if shape.scored_fields else 0,
    }


def evaluation_flops(shape: RunShape) -> int:
    """FLOPs of evaluating one run: the sum of ``evaluation_parts``."""
    return sum(evaluation_parts(shape).values())


def dataset_size(dataset: str, data_dir: str | Path | None = None) -> DatasetSize:
    """Sizes of a dataset: from its prepared file ``<data_dir>/<dataset>.npz`` if present.

    Args:
      dataset: the dataset's name.
      data_dir: the directory of prepared files (``<outdir>/data``), or None.

    Returns:
      The sizes, with the classes' sizes counted from the file's labels.

    Raises:
      UserError: no prepared file and the dataset is not in ``KNOWN_SIZES``.
    """
    path = Path(data_dir, f"{dataset}.npz") if data_dir is not None else None
    if path is not None and path.is_file():
        train = _npz_shape(path, "x_train")
        with np.load(path) as arrays:  # the labels only
            y_train, y_test = arrays["y_train"], arrays["y_test"]
        labels = np.union1d(y_train, y_test)
        class_sizes = tuple((int(np.sum(y_train == label)), int(np.sum(y_test == label)))
                            for label in labels)
        return DatasetSize(train[0], _npz_shape(path, "x_test")[0], train[1], class_sizes)
    if dataset not in KNOWN_SIZES:
        raise UserError(f"unknown dataset {dataset!r} and no prepared file {path}; prepare it "
                        f"(`klgap prepare`) or add its sizes to klgap.sweep.floor.KNOWN_SIZES.")
    return KNOWN_SIZES[dataset]


def _npz_shape(path: Path, key: str) -> tuple[int, ...]:
    """Reads an array's shape from an .npz file's header without loading the array."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as file:
        version = np.lib.format.read_magic(file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        return read_header(file)[0]


def config_runs(config: dict, data_dir: str | Path | None = None) -> list[tuple]:
    """The runs of a configuration, each with its shape.

    Args:
      config: a validated workflow configuration (``config/*.yaml``), or the snapshot of an
        older sweep: without ``ais_examples`` it was evaluated without the fitted bound, the
        sample quality and AIS, which are then not counted.
      data_dir: where prepared data files are looked for (default ``<outdir>/data``).

    Returns:
      A list of (``layout.Run``, ``RunShape``).
    """
    data_dir = Path(config["outdir"], "data") if data_dir is None else data_dir
    runs = []
    for run in layout.sweep(config):
        size = dataset_size(run.dataset, data_dir)
        class_sizes = size.class_sizes
        num_train, num_test = size.num_train, size.num_test
        if run.classes is not None and class_sizes:  # the run's own classes only
            class_sizes = tuple(class_sizes[label] for label in run.classes)
            num_train = sum(train for train, _ in class_sizes)
            num_test = sum(test for _, test in class_sizes)
        epochs = config["epochs"]
        vamp = objectives.get(run.objective).prior == "vamp"
        runs.append((run, RunShape(
            data_dim=size.data_dim, latent_dim=int(run.latent_dim),
            hidden=tuple(config["hidden"]), num_train=num_train, num_test=num_test,
            epochs=int(epochs[run.dataset] if isinstance(epochs, dict) else epochs),
            batch_size=int(config["batch_size"]), iw_samples=int(config["iw_samples"]),
            minibatch_sizes=tuple(config["minibatch_sizes"]), objective=run.objective,
            class_sizes=class_sizes, scored_fields="ais_examples" in config,
            num_pseudo_inputs=(int(config.get("num_pseudo_inputs",
                                              config_schema.default("num_pseudo_inputs")))
                               if vamp else 0),
            **{key: int(config.get(key, config_schema.default(key)))
               for key in ("ais_examples", "ais_steps", "ais_chains")})))
    return runs


def sweep_flops(runs) -> dict[str, int]:
    """FLOPs of a list of runs, by rule.

    Args:
      runs: (run, ``RunShape``) pairs, as from ``config_runs``.

    Returns:
      ``{"train": ..., "evaluate": ...}``.
    """
    return {"train": sum(training_flops(shape) for _, shape in runs),
            "evaluate": sum(evaluation_flops(shape) for _, shape in runs)}


def matmul_rate(trials: int = 3) -> dict:
    """Measures the float32 rate of one large square tf.matmul at one thread.

    Configures TensorFlow to one intra-op thread, so call it before TensorFlow runs anything in
    this process. Products are chained (each feeds the next), about a second per trial.

    Args:
      trials: timed trials after a warm-up; the best is kept.

    Returns:
      ``{"matmul_gflops_per_thread": GFLOP per CPU-second of the best trial (a busy machine
      delays a thread but does not slow it while it runs), "matmul_gflops_wall": GFLOP per wall
      second of the same trial, "matmul_shape": ...}``.
    """
    from klgap.models import device

    device.configure(1, deterministic=False)
    import resource

    import tensorflow as tf

    size = LARGE_SQUARE
    a = tf.random.stateless_normal([size, size], seed=[1, 2])
    w = tf.random.stateless_normal([size, size], seed=[3, 4]) / np.sqrt(size)
    flops = 2.0 * size ** 3
    repeats = max(5, int(8e10 / flops))

    @tf.function
    def chain(a, w):
        def body(i, x):
            return i + 1, x + 1e-6 * tf.reduce_mean(tf.matmul(x, w))
        return tf.while_loop(lambda i, x: i < repeats, body, [tf.constant(0), a])[1]

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    chain(a, w).numpy()  # trace and warm up
    best = None
    for _ in range(trials):
        wall, cpu = time.perf_counter(), cpu_seconds()
        chain(a, w).numpy()
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        if best is None or cpu < best[1]:
            best = (wall, cpu)
    return {"matmul_gflops_per_thread": round(flops * repeats / best[1] / 1e9, 2),
            "matmul_gflops_wall": round(flops * repeats / best[0] / 1e9, 2),
            "matmul_shape": f"({size}x{size}) @ ({size}x{size}) float32, 1 thread"}


def machine_record() -> dict:
    """This machine: host name, CPUs available to the process, CPU model and features
    (``provenance.cpu_description``), matmul rate, and the time, UTC."""
    import os
    import platform

    from klgap.sweep import provenance

    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "cpus_available": len(os.sched_getaffinity(0)),
            "cpu": provenance.cpu_description(), **matmul_rate()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``machine`` command's arguments."""
    parser.add_argument("--out", required=True, type=Path, help="output JSON (machine.json)")


def main(args: argparse.Namespace) -> None:
    """Runs ``machine``: measures the rate and writes the record."""
    from klgap import atomic

    record = machine_record()
    atomic.write_json(args.out, record)
    print(json.dumps(record))
