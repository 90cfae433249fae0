"""The FLOP floor of a configuration, and this machine's one-thread matrix-product rate.

What is counted: matrix-product FLOPs only, 2 per multiply-add (an (m x k) @ (k x n) product
is 2 m k n). Elementwise work (activations, the Bernoulli log-likelihood, sampling, exp and
logsumexp, Adam) is not counted, so the floor is a lower bound on the work of a run.

* Training, per epoch: every training example once through encoder and decoder, forward and
  backward (the backward pass is two products per layer, so 3 x forward), plus the per-epoch
  test pass (encoder and decoder forward once per test example; ``klgap.training.engine``).
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

The run list comes from a configuration (``config/*.yaml``); dataset sizes from a
prepared data file (``<outdir>/data/<dataset>.npz``) if there is one, else from ``KNOWN_SIZES``.

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

from klgap.evaluation import evaluate
from klgap.sweep import layout
from klgap.estimators import mixture_numerics
from klgap.errors import UserError


@dataclass(frozen=True)
class DatasetSize:
    """The sizes of a prepared dataset that the FLOP count needs."""

    num_train: int
    num_test: int
    data_dim: int


# Sizes of the datasets klgap prepares (``klgap.data.datasets``): used when no prepared file is
# at hand.
KNOWN_SIZES = {
    "digits": DatasetSize(1437, 360, 64),
    "fashion_mnist": DatasetSize(60000, 10000, 784),
    "mnist": DatasetSize(60000, 10000, 784),
}
LARGE_SQUARE = 2048  # side of the square product whose rate is measured


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
    """FLOPs of training one run: 3 x forward per training example and epoch, plus the test pass.

    Args:
      shape: the run.

    Returns:
      Matrix-product FLOPs.
    """
    encoder, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    forward = forward_flops(encoder) + forward_flops(decoder)
    return shape.epochs * (3 * forward * shape.num_train + forward * shape.num_test)


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


def evaluation_parts(shape: RunShape) -> dict[str, int]:
    """FLOPs of evaluating one run (``klgap.evaluation.evaluate``), by part.

    Args:
      shape: the run.

    Returns:
      ``{"networks": encoder and decoder passes (K importance samples on the test split, one on
      the training split, the decoded prior and ex-post samples), "decomposition": in-sample
      decompositions (test; the whole training split and its subsets at their numbers of
      scored z), "heldout": the held-out bracket, "prior_holes": prior samples against the
      training mixture, "minibatch": MWS/MSS estimators on the test split}``.
    """
    encoder, decoder = layer_shapes(shape.data_dim, shape.latent_dim, shape.hidden)
    test = shape.num_test * (forward_flops(encoder) + shape.iw_samples * forward_flops(decoder))
    whole_train = shape.num_train * (forward_flops(encoder) + forward_flops(decoder))
    generated = 2 * evaluate.GENERATION_SAMPLES * forward_flops(decoder)  # prior and ex-post
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
        "prior_holes": mixture_flops(evaluate.HOLE_SAMPLES, shape.num_train, shape.latent_dim),
        "minibatch": minibatch_flops(shape.num_test, shape.latent_dim, shape.minibatch_sizes),
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
      The sizes.

    Raises:
      UserError: no prepared file and the dataset is not in ``KNOWN_SIZES``.
    """
    path = Path(data_dir, f"{dataset}.npz") if data_dir is not None else None
    if path is not None and path.is_file():
        train = _npz_shape(path, "x_train")
        return DatasetSize(train[0], _npz_shape(path, "x_test")[0], train[1])
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
      config: a validated workflow configuration (``config/*.yaml``).
      data_dir: where prepared data files are looked for (default ``<outdir>/data``).

    Returns:
      A list of (``layout.Run``, ``RunShape``).
    """
    data_dir = Path(config["outdir"], "data") if data_dir is None else data_dir
    runs = []
    for run in layout.sweep(config):
        size = dataset_size(run.dataset, data_dir)
        epochs = config["epochs"]
        runs.append((run, RunShape(
            data_dim=size.data_dim, latent_dim=int(run.latent_dim),
            hidden=tuple(config["hidden"]), num_train=size.num_train, num_test=size.num_test,
            epochs=int(epochs[run.dataset] if isinstance(epochs, dict) else epochs),
            batch_size=int(config["batch_size"]), iw_samples=int(config["iw_samples"]),
            minibatch_sizes=tuple(config["minibatch_sizes"]))))
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
