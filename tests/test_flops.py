"""The FLOP model (klgap.sweep.floor) against counts by hand and by brute force on tiny networks."""

import numpy as np
import pytest

from klgap.evaluation import evaluate
from klgap.sweep import floor as flops
from klgap.errors import UserError

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
                                 + 2 * evaluate.GENERATION_SAMPLES * 36)
    # a set of N examples with S scored z: (S samples + S redrawn) x N components x (2D + 2 = 6)
    # x 2; the test split (N = S = 2), the whole training split (N = S = 5) and the training
    # subset of the test split's size (N = S = 2; no nested size is below 5)
    assert parts["decomposition"] == 2 * (4 * 2 * 6) + 2 * 10 * 5 * 6 + 2 * (4 * 2 * 6)
    assert parts["heldout"] == 2 * 2 * 5 * 6  # the test samples against the training split's
    assert parts["prior_holes"] == 2 * evaluate.HOLE_SAMPLES * 5 * 6
    assert parts["minibatch"] == 0  # batch sizes >= the sets' size (2) are skipped
    assert flops.evaluation_flops(TINY) == sum(parts.values())


def test_minibatch_flops_count_each_batch_table():
    # 5 examples in batches of 2: [2, 3] (a last batch of one joins the previous); MWS and MSS
    assert flops.minibatch_flops(5, 2, [2, 8]) == 2 * (2 * 2 * 2 ** 2 + 2 * 2 * 3 ** 2)


def test_sizes_come_from_a_prepared_file_else_the_table(tmp_path):
    np.savez(tmp_path / "digits.npz", x_train=np.zeros((30, 8), np.float32),
             x_test=np.zeros((7, 8), np.float32))
    assert flops.dataset_size("digits", tmp_path) == flops.DatasetSize(30, 7, 8)
    assert flops.dataset_size("mnist", tmp_path) == flops.DatasetSize(60000, 10000, 784)
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
    total = flops.sweep_flops(runs)
    assert total["train"] == sum(flops.training_flops(shape) for _, shape in runs)
    # the figure: 3.24 MFLOP per training example of the 784-256-256-10 model
    fashion = runs[3][1]
    per_example = (flops.training_flops(fashion) / fashion.epochs
                   - flops.training_flops(fashion) / fashion.epochs / (3 * 60000 + 10000)
                   * 10000) / 60000
    assert per_example == pytest.approx(3.24096e6)
