"""Training K VAEs of one shape as one batched computation: weights stacked on a leading axis.

Runs that share data, latent size, hidden sizes, batch size, learning rate and epochs (e.g. the
seeds of one cell of the sweep, or several betas) are trained together: every weight matrix is
stacked to (K, fan_in, fan_out) and each layer is one batched matrix product. Model k is
initialised exactly as ``klgap train`` initialises it with seed_k, sees the same minibatch order
and the same binarization and reparameterisation noise (all keyed by seed_k), and has its own
Adam state; so its history matches the separate run's within float32 rounding (batched and plain
matrix products may sum in different orders).

Each run keeps its own directory, checkpoint (in the format of ``klgap train``, so either path
can resume it), history and ``run.json``. A checkpoint is written per run and epoch; if a kill
leaves the runs at different epochs, the runs behind are first brought level.

This fills a GPU that one small model cannot; on a 2-core CPU separate single-thread processes
are faster (README, Performance), so the workflow uses it only with ``batched_training: true``.
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from klgap import atomic, data, train
from klgap.errors import UserError

SHARED_FIELDS = ("data", "latent_dim", "batch_size", "learning_rate", "hidden", "epochs",
                 "threads")


def stacked_mlp_class():
    """Returns the StackedMLP class (defined lazily: TensorFlow imports are slow)."""
    import tensorflow as tf

    class StackedMLP(tf.Module):
        """K MLPs of one shape with their weights stacked: (K, fan_in, fan_out) per layer."""

        def __init__(self, mlps, name: str):
            """Stacks the weights of K ``klgap.model.MLP``s.

            Args:
              mlps: K MLPs with equal layer sizes.
              name: module name (prefix of the variable names, as in the MLPs).
            """
            super().__init__(name=name)
            with self.name_scope:
                self.weights = [tf.Variable(tf.stack([mlp.weights[i] for mlp in mlps]),
                                            name=f"w{i}") for i in range(len(mlps[0].weights))]
                self.biases = [tf.Variable(tf.stack([mlp.biases[i] for mlp in mlps]),
                                           name=f"b{i}") for i in range(len(mlps[0].biases))]

        def __call__(self, x):
            """Applies model k to x[k]: x is (K, B, fan_in), or (B, fan_in) shared by all."""
            for w, b in zip(self.weights[:-1], self.biases[:-1]):
                x = tf.nn.relu(tf.matmul(x, w) + b[:, None, :])  # (K, B, H)
            return tf.matmul(x, self.weights[-1]) + self.biases[-1][:, None, :]

    return StackedMLP


def stacked_vae(data_dim: int, latent_dim: int, hidden: list[int], seeds: list[int]):
    """Builds K VAEs as ``klgap.model.VAE`` does for each seed, with their weights stacked.

    Args:
      data_dim: number of pixels P.
      latent_dim: D.
      hidden: hidden layer widths of the encoder; the decoder mirrors them.
      seeds: the K seeds of the weight initialisation.

    Returns:
      A ``klgap.model.VAE`` whose networks map (K, B, P) to (K, B, .) and whose variables have
      the same names and order as one VAE's, with a leading axis K.
    """
    import tensorflow as tf

    from klgap import model

    stacked_mlp = stacked_mlp_class()
    models = [model.VAE(data_dim, latent_dim, hidden, seed=seed) for seed in seeds]
    # A VAE whose networks are the stacked ones: its encode, decode and terms work unchanged on
    # (K, B, .) tensors, and its variables keep the names ``get_weights`` writes.
    vae = model.VAE.__new__(model.VAE)
    tf.Module.__init__(vae, name="vae")
    vae.latent_dim = latent_dim
    vae.encoder_net = stacked_mlp([m.encoder_net for m in models], name="encoder")
    vae.decoder_net = stacked_mlp([m.decoder_net for m in models], name="decoder")
    vae.prior = models[0].prior
    return vae


def make_train_step(vae, optimizer: train.Adam, x_train, betas, seeds: list[int]):
    """Compiles one batched training step (as ``train.make_train_step``, for K models).

    Args:
      vae: from ``stacked_vae``.
      optimizer: Adam over ``vae.trainable_variables`` (its state stacked like them).
      x_train: the training images, (N, P) grey levels in [0, 1].
      betas: the K KL weights, a (K,) tensor.
      seeds: the K seeds (fixes K).

    Returns:
      ``train_step(batch_index, step_seeds)``: batch_index (K, B) int64, model k's rows of
      x_train; step_seeds (K, 2) int64, model k's step seed; returns the (K,) batch sums of
      distortion and rate.
    """
    import tensorflow as tf

    num_models = len(seeds)
    variables = vae.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([num_models, None], tf.int64),
                                  tf.TensorSpec([num_models, 2], tf.int64)])
    def train_step(batch_index, step_seeds):
        x_grey = tf.gather(x_train, batch_index)  # (K, B, P)
        batch_shape = tf.shape(x_grey)[1:]
        # Model k's noise is drawn exactly as its separate run draws it.
        x = tf.stack([tf.cast(tf.random.stateless_uniform(batch_shape, seed=step_seeds[k])
                              < x_grey[k], tf.float32)
                      for k in range(num_models)])  # (K, B, P)
        noise = tf.stack([tf.random.stateless_normal([batch_shape[0], vae.latent_dim],
                                                     seed=step_seeds[k] + [0, 1])
                          for k in range(num_models)])  # (K, B, D)
        with tf.GradientTape() as tape:
            terms = vae.terms(x, noise)  # (K, B) each
            # The sum of the K models' losses: its gradient for model k is model k's gradient.
            objective = tf.reduce_sum(tf.reduce_mean(
                terms.distortion + betas[:, None] * terms.rate, axis=-1))
        optimizer.apply(tape.gradient(objective, variables))
        return tf.reduce_sum(terms.distortion, -1), tf.reduce_sum(terms.rate, -1)

    return train_step


def train_epoch(train_step, num_train: int, batch_size: int, seeds: list[int], epoch: int,
                step: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs one epoch of batched steps; model k's order and noise are keyed by seeds[k].

    Returns:
      The (K,) sums over the epoch's examples of distortion and of rate.
    """
    import tensorflow as tf

    orders = np.stack([np.random.default_rng([seed, epoch]).permutation(num_train)
                       for seed in seeds])  # (K, N)
    distortion_sums = np.zeros(len(seeds))
    rate_sums = np.zeros(len(seeds))
    for first in range(0, num_train, batch_size):
        step += 1
        batch = tf.constant(orders[:, first:first + batch_size], tf.int64)  # (K, B)
        step_seeds = tf.constant([[seed, 2 * step] for seed in seeds], tf.int64)  # (K, 2)
        distortion, rate = train_step(batch, step_seeds)
        distortion_sums += distortion.numpy().astype(np.float64)
        rate_sums += rate.numpy().astype(np.float64)
    return distortion_sums, rate_sums


def check_compatible(configs: list[train.RunConfig]) -> None:
    """Raises UserError unless the runs can be stacked: same shapes and schedule, own rundirs."""
    if not configs:
        raise UserError("no runs to train.")
    for config in configs:
        config.validate()
        for name in SHARED_FIELDS:
            if getattr(config, name) != getattr(configs[0], name):
                raise UserError(f"runs trained together must share {name}: "
                                f"{getattr(configs[0], name)!r} != {getattr(config, name)!r}.")
    rundirs = [str(Path(config.rundir).resolve()) for config in configs]
    if len(set(rundirs)) != len(rundirs):
        raise UserError("each run needs its own run directory.")


def train_together(configs: list[train.RunConfig]) -> list[dict]:
    """Trains (or resumes) K runs as one batched computation; writes each run's outputs.

    Args:
      configs: the runs, compatible as ``check_compatible`` requires.

    Returns:
      The K runs' metadata, also written to their ``run.json``.

    Raises:
      UserError: incompatible runs, missing data, a foreign checkpoint or a non-finite loss.
    """
    check_compatible(configs)
    arrays = data.load(configs[0].data)
    from klgap import device

    device_name = device.configure(configs[0].threads)
    start_time = time.time()
    for config in configs:
        Path(config.rundir).mkdir(parents=True, exist_ok=True)
        atomic.remove_stale_temporaries(config.rundir)  # from a process killed mid-write
    while True:
        states = [train.read_checkpoint(config) for config in configs]
        done = [0 if state is None else len(state["history"]) for state in states]
        if min(done) == configs[0].epochs:
            break
        behind = [i for i, epochs in enumerate(done) if epochs == min(done)]
        level = min([epochs for epochs in done if epochs > min(done)],
                    default=configs[0].epochs)
        _train_group([configs[i] for i in behind], [states[i] for i in behind], arrays, level)
    return [train.finish_run(config, arrays,
                             {k: v for k, v in state.items()
                              if k not in ("history", "identity") and not k.startswith("adam/")},
                             state["history"], device_name, start_time,
                             trained_with=[str(c.rundir) for c in configs])
            for config, state in zip(configs, states)]


def _train_group(configs, states, arrays, last_epoch: int) -> None:
    """Trains runs that stand at the same epoch up to ``last_epoch``, checkpointing each epoch.

    Args:
      configs: the runs.
      states: their checkpoints (None: not started), all after the same number of epochs.
      arrays: the prepared dataset.
      last_epoch: the epoch to stop after.
    """
    import tensorflow as tf

    from klgap import model

    seeds = [config.seed for config in configs]
    x_train = tf.constant(arrays["x_train"])  # (N, P) grey levels in [0, 1]
    x_test = tf.constant(arrays["x_test_binary"].astype(np.float32))  # (M, P) fixed bits
    num_train, data_dim = arrays["x_train"].shape
    first = configs[0]
    vae = stacked_vae(data_dim, first.latent_dim, first.hidden, seeds)
    optimizer = train.Adam(vae.trainable_variables, first.learning_rate)
    betas = tf.constant([config.beta for config in configs], tf.float32)  # (K,)
    histories = [np.zeros((0, len(train.HISTORY_COLUMNS)))] * len(configs)
    if states[0] is not None:
        model.set_weights(vae, {key: np.stack([state[key] for state in states])
                                for key in states[0] if key not in ("history", "identity")})
        optimizer.restore({key: (np.stack([state[key] for state in states])
                                 if key != "adam/step" else states[0][key])
                           for key in states[0] if key.startswith("adam/")})
        histories = [state["history"] for state in states]
    train_step = make_train_step(vae, optimizer, x_train, betas, seeds)

    @tf.function
    def test_terms():
        noise = tf.random.stateless_normal([tf.shape(x_test)[0], first.latent_dim],
                                           seed=[train.EVAL_NOISE_SEED, 0])  # (M, D), shared
        terms = vae.terms(x_test, noise)  # (K, M) each
        return tf.reduce_mean(terms.distortion, -1), tf.reduce_mean(terms.rate, -1)

    for epoch in range(len(histories[0]) + 1, last_epoch + 1):
        epoch_start = time.time()
        distortion_sums, rate_sums = train_epoch(train_step, num_train, first.batch_size, seeds,
                                                 epoch, int(optimizer.step.numpy()))
        test_distortion, test_rate = (t.numpy() for t in test_terms())
        seconds = time.time() - epoch_start  # of the batched epoch, shared by the K runs
        weights = model.get_weights(vae)
        optimizer_state = optimizer.state()
        for k, config in enumerate(configs):
            run_name = f"{arrays['dataset']} z={config.latent_dim} beta={config.beta} " \
                       f"seed={config.seed}"
            train_distortion, train_rate = distortion_sums[k] / num_train, rate_sums[k] / num_train
            train.check_finite(run_name, epoch, train_distortion, train_rate,
                               Path(config.rundir) / "checkpoint.npz")
            row = train.history_row(epoch, train_distortion, train_rate,
                                    float(test_distortion[k]), float(test_rate[k]), seconds)
            histories[k] = np.vstack([histories[k], row])
        for k, config in enumerate(configs):  # only once every run's loss is finite
            train.save_checkpoint(
                config, {key: value[k] for key, value in weights.items()},
                {key: value if key == "adam/step" else value[k]
                 for key, value in optimizer_state.items()}, histories[k])
        print(f"[{arrays['dataset']} z={first.latent_dim}, {len(configs)} runs] epoch "
              f"{epoch}/{last_epoch}: test ELBO "
              + ", ".join(f"{row[-1, 4]:.3f}" for row in histories) + f" ({seconds:.1f} s)",
              flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train-together`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundirs", required=True, nargs="+",
                        help="output directory of each run")
    parser.add_argument("--seeds", type=int, required=True, nargs="+",
                        help="seed of each run, in the order of --rundirs")
    parser.add_argument("--betas", type=float, required=True, nargs="+",
                        help="KL weight of each run, or one for all")
    train.add_shape_arguments(parser)


def main(args: argparse.Namespace) -> None:
    """Runs ``train-together``."""
    betas = args.betas * len(args.rundirs) if len(args.betas) == 1 else args.betas
    if not len(args.rundirs) == len(args.seeds) == len(betas):
        raise UserError(f"--rundirs, --seeds and --betas need one value per run (or one beta): "
                        f"got {len(args.rundirs)}, {len(args.seeds)}, {len(args.betas)}.")
    template = train.RunConfig(data=args.data, rundir="", latent_dim=args.latent_dim, beta=0.0,
                               seed=0, epochs=args.epochs, batch_size=args.batch_size,
                               learning_rate=args.learning_rate, hidden=args.hidden,
                               threads=args.threads)
    train_together([replace(template, rundir=rundir, seed=seed, beta=beta)
                    for rundir, seed, beta in zip(args.rundirs, args.seeds, betas)])
