"""Training one VAE: Adam, dynamic binarization, a checkpoint per epoch, exact resumption.

All randomness is stateless and keyed by (seed, epoch) or (seed, step), and the checkpoint holds
the weights, the optimizer state and the history. A run killed at any point and started again
therefore ends with bitwise the same weights and metrics as one that was never interrupted (CPU).
"""

import argparse
import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from klgap import atomic, data
from klgap.adam import Adam  # noqa: F401 (train.Adam, used by klgap.batched and bench/)
from klgap.errors import UserError

HISTORY_COLUMNS = ("epoch", "train_elbo", "train_rate", "train_distortion", "test_elbo",
                   "test_rate", "test_distortion", "seconds")
EVAL_NOISE_SEED = 12345  # fixed reparameterisation noise for the per-epoch test metrics


@dataclass
class RunConfig:
    """Everything that defines one training run."""

    data: str
    rundir: str
    latent_dim: int
    beta: float
    seed: int
    epochs: int
    batch_size: int = 128
    learning_rate: float = 1e-3
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    threads: int | None = None

    def identity(self) -> str:
        """What a checkpoint must match to be resumed: the data and every hyperparameter."""
        keys = ("latent_dim", "beta", "seed", "batch_size", "learning_rate", "hidden")
        return json.dumps({"data": Path(self.data).name, **{k: getattr(self, k) for k in keys}},
                          sort_keys=True)

    def validate(self) -> None:
        """Raises UserError for out-of-range values, before any expensive work."""
        checks = [
            (self.latent_dim >= 1, f"latent size must be >= 1, got {self.latent_dim}"),
            (math.isfinite(self.beta) and self.beta >= 0, f"beta must be >= 0, got {self.beta}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0,
             f"learning rate must be > 0, got {self.learning_rate}"),
            (len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden),
             f"hidden sizes must be a non-empty list of positive ints, got {self.hidden}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message + "; fix the value in the config or command line.")


def history_row(epoch: int, train_distortion: float, train_rate: float, test_distortion: float,
                test_rate: float, seconds: float) -> list[float]:
    """Returns one row of the history, in the order of HISTORY_COLUMNS (ELBO = -(D + R))."""
    return [epoch, -(train_distortion + train_rate), train_rate, train_distortion,
            -(test_distortion + test_rate), test_rate, test_distortion, seconds]


def history_to_csv(history: np.ndarray) -> str:
    """Formats the history array (epochs, len(HISTORY_COLUMNS)) as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in history:
        writer.writerow([int(row[0])] + [repr(float(v)) for v in row[1:]])
    return out.getvalue()


def make_train_step(vae, optimizer: Adam, x_train, beta, jit_compile: bool = False):
    """Compiles one training step: dynamic binarization, the loss, its gradient, an Adam update.

    Args:
      vae: the model (``klgap.model.VAE``).
      optimizer: Adam over ``vae.trainable_variables``.
      x_train: the training images, (N, P) grey levels in [0, 1] (a tf.Tensor).
      beta: the KL weight (a scalar tensor).
      jit_compile: compile the step with XLA (changes float rounding; see README, Performance).

    Returns:
      ``train_step(batch_index, step_seed)``: batch_index (B,) int64 rows of x_train, step_seed
      (2,) int64 seed of the step's binarization noise (and, offset by [0, 1], of its
      reparameterisation noise); returns the batch sums of distortion and rate.
    """
    import tensorflow as tf

    from klgap import model as vae_model

    variables = vae.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([2], tf.int64)],
                 jit_compile=jit_compile)
    def train_step(batch_index, step_seed):
        x_grey = tf.gather(x_train, batch_index)  # (B, P)
        uniform = tf.random.stateless_uniform(tf.shape(x_grey), seed=step_seed)
        x = tf.cast(uniform < x_grey, tf.float32)  # dynamic binarization, (B, P)
        noise = tf.random.stateless_normal([tf.shape(x)[0], vae.latent_dim],
                                           seed=step_seed + [0, 1])  # (B, D)
        with tf.GradientTape() as tape:
            terms = vae.terms(x, noise)
            objective = vae_model.loss(terms, beta)
        optimizer.apply(tape.gradient(objective, variables))
        return tf.reduce_sum(terms.distortion), tf.reduce_sum(terms.rate)

    return train_step


def train_epoch(train_step, num_train: int, batch_size: int, seed: int, epoch: int,
                step: int) -> tuple[float, float]:
    """Runs one epoch of training steps over a permutation keyed by (seed, epoch).

    Args:
      train_step: as returned by ``make_train_step``.
      num_train: number of training examples N.
      batch_size: B (the last batch holds the remainder).
      seed: the run's seed.
      epoch: the epoch's number, from 1.
      step: the optimizer's step count before this epoch (step t's noise is keyed by
        (seed, 2t)).

    Returns:
      The sums over the epoch's examples of distortion and of rate.
    """
    import tensorflow as tf

    order = np.random.default_rng([seed, epoch]).permutation(num_train)
    distortion_sum = rate_sum = 0.0
    for first in range(0, num_train, batch_size):
        step += 1
        batch = tf.constant(order[first:first + batch_size], tf.int64)
        distortion, rate = train_step(batch, tf.constant([seed, 2 * step], tf.int64))
        distortion_sum += float(distortion)
        rate_sum += float(rate)
    return distortion_sum, rate_sum


def read_checkpoint(config: RunConfig) -> dict[str, np.ndarray] | None:
    """Reads a run's checkpoint, if any, after checking that it belongs to this configuration.

    Args:
      config: the run's configuration.

    Returns:
      The checkpoint's arrays (weights, ``adam/*``, ``history``, ``identity``), or None.

    Raises:
      UserError: the checkpoint was written for other data or hyperparameters, or for more
        epochs than asked for.
    """
    checkpoint_path = Path(config.rundir) / "checkpoint.npz"
    if not checkpoint_path.exists():
        return None
    state = atomic.load_npz(checkpoint_path)
    if str(state["identity"]) != config.identity() or len(state["history"]) > config.epochs:
        raise UserError(f"{checkpoint_path} belongs to a different configuration "
                        f"({state['identity']}, {len(state['history'])} epochs); delete "
                        f"{config.rundir} to train this one from scratch.")
    return state


def save_checkpoint(config: RunConfig, weights: dict[str, np.ndarray],
                    optimizer_state: dict[str, np.ndarray], history: np.ndarray) -> None:
    """Writes a run's checkpoint (weights, optimizer state, history, identity) atomically."""
    atomic.savez(Path(config.rundir) / "checkpoint.npz", history=history,
                 identity=np.array(config.identity()), **weights, **optimizer_state)


def check_finite(run_name: str, epoch: int, distortion: float, rate: float,
                 checkpoint_path: Path) -> None:
    """Raises UserError, naming the last good checkpoint, if an epoch's loss is not finite."""
    if not (math.isfinite(distortion) and math.isfinite(rate)):
        raise UserError(f"[{run_name}] non-finite loss in epoch {epoch} (distortion "
                        f"{distortion}, rate {rate}); the last good checkpoint "
                        f"(epoch {epoch - 1}) is kept in {checkpoint_path}. Lower the "
                        "learning rate or beta.")


def finish_run(config: RunConfig, arrays: dict, weights: dict[str, np.ndarray],
               history: np.ndarray, device_name: str, start_time: float, **extra) -> dict:
    """Writes a finished run's model, history and, last, its ``run.json``.

    Args:
      config: the run's configuration.
      arrays: the prepared dataset, as from ``klgap.data.load``.
      weights: the final weights, as from ``klgap.model.get_weights``.
      history: (epochs, len(HISTORY_COLUMNS)).
      device_name: as from ``klgap.device.configure``.
      start_time: ``time.time()`` when this process started on the run.
      **extra: further metadata.

    Returns:
      The run metadata written to ``run.json``.
    """
    from klgap import provenance

    rundir = Path(config.rundir)
    atomic.savez(rundir / "model.npz", **weights)
    atomic.write_text(rundir / "history.csv", history_to_csv(history))
    metadata = {
        "config": asdict(config),
        "dataset": str(arrays["dataset"]),
        "data_dim": int(arrays["x_train"].shape[1]),
        "num_train": int(arrays["x_train"].shape[0]),
        "device": device_name,
        "wall_time_seconds_this_process": time.time() - start_time,
        "train_seconds_all_epochs": float(history[:, -1].sum()),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_sources": json.loads(str(arrays["sources_json"])),
        **extra,
        **provenance.describe(),
    }
    atomic.write_json(rundir / "run.json", metadata)  # written last: marks the run complete
    return metadata


def train(config: RunConfig) -> dict:
    """Trains (or resumes) one run and writes its outputs into ``config.rundir``.

    Args:
      config: the run's configuration.

    Returns:
      The run metadata also written to ``run.json``.

    Raises:
      UserError: bad configuration, missing data, or a non-finite loss (the last good
        checkpoint is kept).
    """
    config.validate()
    arrays = data.load(config.data)
    from klgap import device, model as vae_model  # TensorFlow imports are slow

    device_name = device.configure(config.threads)
    import tensorflow as tf

    start_time = time.time()
    rundir = Path(config.rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    atomic.remove_stale_temporaries(rundir)  # from a process killed mid-write
    checkpoint_path = rundir / "checkpoint.npz"
    run_name = f"{arrays['dataset']} z={config.latent_dim} beta={config.beta} seed={config.seed}"

    x_train = tf.constant(arrays["x_train"])  # (N, P) grey levels in [0, 1]
    x_test = tf.constant(arrays["x_test_binary"].astype(np.float32))  # (M, P) fixed bits
    num_train, data_dim = arrays["x_train"].shape
    vae = vae_model.VAE(data_dim, config.latent_dim, config.hidden, seed=config.seed)
    variables = vae.trainable_variables
    optimizer = Adam(variables, config.learning_rate)
    beta = tf.constant(config.beta, tf.float32)

    train_step = make_train_step(vae, optimizer, x_train, beta)

    @tf.function
    def test_terms():
        noise = tf.random.stateless_normal([tf.shape(x_test)[0], config.latent_dim],
                                           seed=[EVAL_NOISE_SEED, 0])
        terms = vae.terms(x_test, noise)
        return tf.reduce_mean(terms.distortion), tf.reduce_mean(terms.rate)

    history = np.zeros((0, len(HISTORY_COLUMNS)))
    state = read_checkpoint(config)
    if state is not None:
        vae_model.set_weights(vae, state)
        optimizer.restore(state)
        history = state["history"]
        print(f"[{run_name}] resuming after epoch {len(history)} from {checkpoint_path}",
              flush=True)

    for epoch in range(len(history) + 1, config.epochs + 1):
        epoch_start = time.time()
        distortion_sum, rate_sum = train_epoch(train_step, num_train, config.batch_size,
                                               config.seed, epoch, int(optimizer.step.numpy()))
        train_distortion, train_rate = distortion_sum / num_train, rate_sum / num_train
        check_finite(run_name, epoch, train_distortion, train_rate, checkpoint_path)
        test_distortion, test_rate = (float(t) for t in test_terms())
        row = history_row(epoch, train_distortion, train_rate, test_distortion, test_rate,
                          time.time() - epoch_start)
        history = np.vstack([history, row])
        save_checkpoint(config, vae_model.get_weights(vae), optimizer.state(), history)
        print(f"[{run_name}] epoch {epoch}/{config.epochs} train ELBO {row[1]:.3f} "
              f"(rate {train_rate:.3f}, distortion {train_distortion:.3f}) test ELBO "
              f"{row[4]:.3f} ({row[7]:.1f} s)", flush=True)

    return finish_run(config, arrays, vae_model.get_weights(vae), history, device_name,
                      start_time)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundir", required=True, help="output directory of the run")
    parser.add_argument("--beta", type=float, required=True, help="KL weight (>= 0)")
    parser.add_argument("--seed", type=int, required=True)
    add_shape_arguments(parser)


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the arguments that runs trained together share (``train``, ``train-together``)."""
    parser.add_argument("--latent-dim", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256],
                        help="hidden layer widths of the encoder (decoder mirrors them)")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow intra-op threads (default: all cores)")


def main(args: argparse.Namespace) -> None:
    """Runs ``train``."""
    config = RunConfig(data=args.data, rundir=args.rundir, latent_dim=args.latent_dim,
                       beta=args.beta, seed=args.seed, epochs=args.epochs,
                       batch_size=args.batch_size, learning_rate=args.learning_rate,
                       hidden=args.hidden, threads=args.threads)
    train(config)
