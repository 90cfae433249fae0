"""The FLOP model (klgap.sweep.floor) against counts by hand and by brute force on tiny networks."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from klgap.config import schema as config_schema
from klgap.estimators import fitted_density, flow_density
from klgap.evaluation import ais, feature_network, fitted_bound, generation_metrics
from klgap.sweep import floor as flops
from klgap.errors import UserError

REPO = Path(__file__).resolve().parents[1]

TINY = flops.RunShape(data_dim=4, latent_dim=2, hidden=(3,), num_train=5, num_test=2, epochs=2,
                      batch_size=2, iw_samples=3, minibatch_sizes=(2, 8))


class CountingMatmul:
    """A matmul that adds 2 m k n to its count for every (m x k) @ (k x n) product."""

    def __init__(self):
        self.flops = 0

    def __call__(self, a, b):
        self.flops += 2 * a.shape[0] * a.shape[1] * b.shape[1]
        return a @ b


def mlp_forward(matmul, x, sizes):
    """A dense ReLU network of layer ``sizes`` (fan-ins then last fan-out) on rows x."""
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        x = np.maximum(matmul(x, np.ones((fan_in, fan_out))), 0.0)
    return x


def test_training_flops_of_a_two_layer_net_by_hand():
    # encoder 4-3-4 (2D = 4): 2*(4*3 + 3*4) = 48; decoder 2-3-4: 2*(2*3 + 3*4) = 36 per example
    forward = 48 + 36
    assert flops.training_flops(TINY) == 2 * (3 * forward * 5 + forward * 2)


def test_training_flops_add_the_vamp_pseudo_inputs_at_every_step():
    # 5 examples in batches of 2: 3 steps an epoch, each passing K = 7 pseudo-inputs through the
    # encoder (48 FLOPs forward) forward and backward, and the test pass once an epoch
    vamp = dataclasses.replace(TINY, objective="vamp", num_pseudo_inputs=7)
    extra = flops.training_flops(vamp) - flops.training_flops(TINY)
    assert extra == 2 * 7 * 48 * (3 * 3 + 1)


def test_forward_flops_match_a_brute_force_count():
    encoder, decoder = flops.layer_shapes(784, 10, [256, 128])
    matmul = CountingMatmul()
    z = mlp_forward(matmul, np.ones((7, 784)), [784, 256, 128, 20])[:, :10]
    mlp_forward(matmul, z, [10, 128, 256, 784])
    assert matmul.flops == 7 * (flops.forward_flops(encoder) + flops.forward_flops(decoder))


def test_evaluation_parts_by_hand():
    parts = flops.evaluation_parts(TINY)
    # the test split: 2 examples x (encoder 48 + K=3 decoder passes of 36); the whole training
    # split: 5 x (48 + 36); the decoded prior and ex-post samples: 2 x M decoder passes
    assert parts["networks"] == (2 * (48 + 3 * 36) + 5 * (48 + 36)
                                 + 2 * generation_metrics.GENERATION_SAMPLES * 36)
    # a set of N examples with S scored z: (S samples + S redrawn) x N components x (2D + 2 = 6)
    # x 2; the test split (N = S = 2), the whole training split (N = S = 5) and the training
    # subset of the test split's size (N = S = 2; no nested size is below 5)
    assert parts["decomposition"] == 2 * (4 * 2 * 6) + 2 * 10 * 5 * 6 + 2 * (4 * 2 * 6)
    assert parts["heldout"] == 2 * 2 * 5 * 6  # the test samples against the training split's
    assert parts["prior_holes"] == 2 * generation_metrics.HOLE_SAMPLES * 5 * 6
    assert parts["minibatch"] == 0  # batch sizes >= the sets' size (2) are skipped
    assert parts["fitted"] == flops.fitted_bound_flops(TINY)
    assert parts["quality"] == flops.quality_flops(TINY)
    assert parts["ais"] == flops.ais_flops(TINY)
    assert flops.evaluation_flops(TINY) == sum(parts.values())


def test_fitted_flops_by_hand():
    # 20 fit posteriors: 4 held out for validation, 16 in the fit part; 4 eval posteriors; D = 2
    parts = flops.fitted_flops(20, 4, 2)
    # mixture tables, 2 x codes x components x (2D + 2 = 6): three bandwidths on the 4 search
    # codes and the chosen one on all 4 validation codes, against the 16; the 4 eval codes
    # against all 20
    assert parts["mixture"] == 3 * 2 * 4 * 16 * 6 + 2 * 4 * 16 * 6 + 2 * 4 * 20 * 6
    # Gaussian mixtures of 1, 2, 4 components (the search stops after GMM_PATIENCE = 2 that do
    # not improve) on the 16 codes, with F = 3 + 2 + 1 = 6 features (x1^2, x1 x2, x2^2, x1, x2,
    # 1): an E or M step is 2 x 16 x K x 6; initial M, two (E, M); each scores the 4 validation
    # codes (2 x 4 x K x 6); the one-component mixture scores the eval codes
    assert fitted_density.GMM_PATIENCE == 2
    step = 2 * 16 * 6  # per component
    assert parts["gmm"] == 7 * (5 * step + 2 * 4 * 6) + 2 * 4 * 1 * 6
    # the flow: per coupling a 1 -> H -> H -> 2 network; 6 epochs (an early stop that never
    # improves: 2 stale epochs before each of 2 decays and before the stop) of 16 codes in one
    # batch, 3 x forward; the 4 validation codes before and after each epoch; the 4 eval codes
    hidden = flow_density.HIDDEN_UNITS
    forward = flow_density.NUM_COUPLINGS * 2 * (1 * hidden + hidden * hidden + hidden * 2)
    assert parts["flow"] == 6 * 3 * 16 * forward + 7 * 4 * forward + 4 * forward
    assert flops.fitted_flops(20, 4, 1)["flow"] == 0  # the flow needs D >= 2


def test_fitted_bound_counts_the_classes_that_have_one():
    shape = dataclasses.replace(TINY, num_train=20, num_test=4,
                                class_sizes=((12, 3), (5, 1), (30, 1)))
    overall = sum(flops.fitted_flops(20, 4, 2, fitted_bound.FAMILIES).values())
    # only the first class has MIN_CLASS_FIT training and MIN_CLASS_EVAL test posteriors
    assert (fitted_bound.MIN_CLASS_FIT, fitted_bound.MIN_CLASS_EVAL) == (10, 2)
    by_class = flops.fitted_flops(12, 3, 2, fitted_bound.CLASS_FAMILIES)
    assert set(by_class) == {"mixture", "gmm"}  # no flow per class
    assert flops.fitted_bound_flops(shape) == overall + sum(by_class.values())


@pytest.mark.parametrize("image_shape", [(8, 8), (28, 28)])
def test_feature_network_flops_match_the_keras_layers(image_shape):
    network = feature_network.build_network(image_shape, 10)
    count = 0
    for layer in network.extractor.layers:  # up to the feature layer
        if layer.__class__.__name__ == "Conv2D":
            pixels = int(np.prod(layer.output.shape[1:3]))  # "same": one output per pixel
            count += 2 * pixels * int(np.prod(layer.kernel.shape))
        elif layer.__class__.__name__ == "Dense":
            count += 2 * int(np.prod(layer.kernel.shape))
    assert flops.feature_network_flops(image_shape[0] * image_shape[1]) == count


def test_quality_flops_by_hand():
    shape = dataclasses.replace(TINY, data_dim=64, num_test=20)  # 8x8 images, 20 test images
    # the CNN on an 8x8 image: 3x3 convolutions 1 -> 32 on 8x8 and 32 -> 64 on 4x4, the dense
    # layer from 2x2x64 to 128 features
    cnn = 2 * 64 * 9 * 32 + 2 * 16 * 9 * 32 * 64 + 2 * 4 * 64 * 128
    decoder = 2 * (2 * 3 + 3 * 64)
    # four sets of 20 scored images (prior, ex-post, fitted, reconstructions) against the 20
    # test images: FID's covariances (2 x 40 x 128^2) and F x F products (3 x 2 x 128^3); KID
    # on 10 subsets of 2 rows (20 // KID_MIN_SUBSETS = 2), three 2 x 2 tables of 128-vectors
    # each; precision/recall's three 20 x 20 distance tables
    scores = 2 * 40 * 128 ** 2 + 6 * 128 ** 3 + 10 * 3 * 2 * 4 * 128 + 3 * 2 * 400 * 128
    assert flops.quality_flops(shape) == ((generation_metrics.QUALITY_SAMPLES + 20) * decoder
                                          + (20 + 4 * 20) * cnn + 4 * scores)


def test_ais_flops_by_hand_and_skipped_for_learned_priors():
    shape = dataclasses.replace(TINY, ais_examples=5, ais_steps=3, ais_chains=2)
    # 2 examples (the test split's), 2 + NUM_ADAPTATION_CHAINS chains, 1 + 2 L decoder
    # gradients of 3 x 36; then the IW bound on the 2 examples, encoder 48 and K = 3 decoders
    chains = 2 + ais.NUM_ADAPTATION_CHAINS
    assert flops.ais_flops(shape) == (2 * chains * (1 + 2 * ais.NUM_LEAPFROG_STEPS) * 3 * 36
                                      + 2 * (48 + 3 * 36))
    for objective in ("vamp", "classprior"):
        assert flops.ais_flops(dataclasses.replace(shape, objective=objective)) == 0
    assert flops.ais_flops(dataclasses.replace(shape, ais_examples=0)) == 0


def test_ais_gradients_match_a_counting_decoder():
    tf = pytest.importorskip("tensorflow")
    evaluations = tf.Variable(0, dtype=tf.int64)  # decoder rows evaluated with their gradient

    def log_likelihood(x, z):  # a linear-Gaussian decoder, counting its rows
        evaluations.assign_add(tf.cast(tf.shape(z)[0] * tf.shape(z)[1], tf.int64))
        return -0.5 * tf.reduce_sum((x[None] - tf.reduce_sum(z, -1, keepdims=True)) ** 2, -1)

    x = np.zeros((3, 2), np.float32)
    ais.ais_log_likelihood(log_likelihood, x, latent_dim=2, num_steps=4, num_chains=2)
    shape = dataclasses.replace(TINY, num_test=3, ais_examples=3, ais_steps=4, ais_chains=2)
    _, decoder = flops.layer_shapes(TINY.data_dim, TINY.latent_dim, TINY.hidden)
    per_gradient = 3 * flops.forward_flops(decoder)
    iw_bound = 3 * (48 + TINY.iw_samples * 36)
    assert flops.ais_flops(shape) == int(evaluations.numpy()) * per_gradient + iw_bound


def test_minibatch_flops_count_each_batch_table():
    # 5 examples in batches of 2: [2, 3] (a last batch of one joins the previous); MWS and MSS
    assert flops.minibatch_flops(5, 2, [2, 8]) == 2 * (2 * 2 * 2 ** 2 + 2 * 2 * 3 ** 2)


def test_sizes_come_from_a_prepared_file_else_the_table(tmp_path):
    np.savez(tmp_path / "digits.npz", x_train=np.zeros((30, 8), np.float32),
             x_test=np.zeros((7, 8), np.float32), y_train=np.repeat([0, 1, 2], 10),
             y_test=np.array([0, 0, 0, 1, 1, 1, 1]))
    assert flops.dataset_size("digits", tmp_path) == flops.DatasetSize(
        30, 7, 8, ((10, 3), (10, 4), (10, 0)))
    mnist = flops.dataset_size("mnist", tmp_path)  # the table: classes of even size
    assert (mnist.num_train, mnist.num_test, mnist.data_dim) == (60000, 10000, 784)
    assert mnist.class_sizes == ((6000, 1000),) * 10
    assert flops.even_classes(7, 3, 2) == ((4, 2), (3, 1))
    with pytest.raises(UserError, match="unknown dataset 'cifar'"):
        flops.dataset_size("cifar", tmp_path)


def test_config_runs_and_sweep_sum(tmp_path):
    config = {"outdir": str(tmp_path), "datasets": ["digits", "fashion_mnist"],
              "latent_dims": [2, 10], "betas": [1], "seeds": [0], "objective": "vae",
              "epochs": {"digits": 200, "fashion_mnist": 20}, "batch_size": 128,
              "hidden": [256, 256], "iw_samples": 100, "minibatch_sizes": [64]}
    runs = flops.config_runs(config)
    assert len(runs) == 4
    digits = runs[0][1]
    assert (digits.num_train, digits.epochs, digits.data_dim) == (1437, 200, 64)
    # AIS settings absent from the configuration (an older sweep's) are the schema's defaults
    assert (digits.objective, digits.ais_steps) == ("vae", config_schema.default("ais_steps"))
    assert sum(train for train, _ in digits.class_sizes) == 1437
    vamp = flops.config_runs({**config, "objective": "vamp", "ais_examples": 0,
                              "num_pseudo_inputs": 50})
    assert {shape.objective for _, shape in vamp} == {"vamp"}
    assert {shape.ais_examples for _, shape in vamp} == {0}
    assert {shape.num_pseudo_inputs for _, shape in vamp} == {50}
    assert {shape.num_pseudo_inputs for _, shape in runs} == {0}
    # a run on some classes is counted on their examples only (KNOWN_SIZES: even classes)
    ones = flops.config_runs({**config, "datasets": ["fashion_mnist"], "latent_dims": [10],
                              "experiments": [{"classes": [1, 3]}]})
    [selected] = [shape for run, shape in ones if run.classes == (1, 3)]
    assert (selected.num_train, selected.num_test) == (12000, 2000)
    assert selected.class_sizes == ((6000, 1000), (6000, 1000))
    total = flops.sweep_flops(runs)
    assert total["train"] == sum(flops.training_flops(shape) for _, shape in runs)
    # the figure: 3.24 MFLOP per training example of the 784-256-256-10 model
    fashion = runs[3][1]
    per_example = (flops.training_flops(fashion) / fashion.epochs
                   - flops.training_flops(fashion) / fashion.epochs / (3 * 60000 + 10000)
                   * 10000) / 60000
    assert per_example == pytest.approx(3.24096e6)


def test_an_older_sweep_is_counted_without_the_parts_it_did_not_evaluate():
    # The committed sweep's configuration as a snapshot written before the scored fields existed
    # (no ais_ keys), like the previous sweep's.
    committed = yaml.safe_load((REPO / "results" / "config.yaml").read_text())
    config = {key: value for key, value in committed.items() if not key.startswith("ais_")}
    [(_, shape), *_] = flops.config_runs(config, "/nonexistent")
    parts = flops.evaluation_parts(shape)
    assert parts["fitted"] == parts["quality"] == parts["ais"] == 0 and parts["networks"] > 0
    newer = flops.config_runs({**config, "ais_examples": 100}, "/nonexistent")[0][1]
    assert flops.evaluation_parts(newer)["ais"] > 0
