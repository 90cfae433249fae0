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
are faster (docs/performance.md), so the workflow uses it only with ``batched_training: true``.
"""

import argparse
import time
from dataclasses import replace
from pathlib import Path

from klgap import atomic
from klgap.data import datasets as data
from klgap.training import engine
from klgap.training import train
from klgap.errors import UserError
from klgap.config.runconfig import RunConfig
from klgap.models import networks

SHARED_FIELDS = ("data", "objective", "latent_dim", "batch_size", "learning_rate", "hidden",
                 "network", "epochs", "threads")
# The networks whose weights ``stacked_mlp_class`` can stack.
STACKABLE_NETWORKS = ("mlp",)


def stacked_mlp_class():
    """Returns the StackedMLP class (defined lazily: TensorFlow imports are slow)."""
    import tensorflow as tf

    class StackedMLP(tf.Module):
        """K MLPs of one shape with their weights stacked: (K, fan_in, fan_out) per layer."""

        def __init__(self, mlps, name: str):
            """Stacks the weights of K ``klgap.models.vae.MLP``s.

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


def stacked_vae(config: RunConfig, data_shape: tuple[int, ...], seeds: list[int]):
    """Builds K VAEs as ``networks.build_model`` does for each seed, with their weights stacked.

    Args:
      config: the configuration the K runs share (all but the seed).
      data_shape: the shape of one example, (P,).
      seeds: the K seeds of the weight initialisation.

    Returns:
      A ``klgap.models.vae.VAE`` whose networks map (K, B, P) to (K, B, .) and whose variables have
      the same names and order as one VAE's, with a leading axis K.

    Raises:
      UserError: a network that cannot be stacked (not in ``STACKABLE_NETWORKS``).
    """
    from klgap.models import vae as model

    network = networks.network_of(config)
    if network not in STACKABLE_NETWORKS:
        raise UserError(f"batched training stacks {', '.join(STACKABLE_NETWORKS)} networks only, "
                        f"not {network!r}; set batched_training: false")
    stacked_mlp = stacked_mlp_class()
    models = [networks.build_model(config, data_shape, seed=seed) for seed in seeds]
    # Its encode, decode and terms work unchanged on (K, B, .) tensors, and its variables keep
    # the names ``get_weights`` writes.
    return model.VAE(stacked_mlp([m.encoder_net for m in models], name="encoder"),
                     stacked_mlp([m.decoder_net for m in models], name="decoder"),
                     config.latent_dim)


def check_compatible(configs: list[RunConfig]) -> None:
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


def train_together(configs: list[RunConfig]) -> list[dict]:
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
    from klgap.models import device

    device_name = device.configure(configs[0].threads)
    start_time = time.time()
    for config in configs:
        Path(config.rundir).mkdir(parents=True, exist_ok=True)
        atomic.remove_stale_temporaries(config.rundir)  # from a process killed mid-write
    while True:
        states = [engine.read_checkpoint(config) for config in configs]
        done = [0 if state is None else state.epochs for state in states]
        if min(done) == configs[0].epochs:
            break
        behind = [i for i, epochs in enumerate(done) if epochs == min(done)]
        level = min([epochs for epochs in done if epochs > min(done)],
                    default=configs[0].epochs)
        group = [configs[i] for i in behind]
        vae = stacked_vae(group[0], arrays["x_train"].shape[1:], [config.seed for config in group])
        engine.train_models(vae, group, arrays, [states[i] for i in behind], level,
                            str(arrays["dataset"]), stacked=True)
    return [train.finish_run(config, arrays, state.weights, state.history, device_name,
                             start_time, trained_with=[str(c.rundir) for c in configs])
            for config, state in zip(configs, states)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train-together`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--rundirs", required=True, nargs="+",
                        help="output directory of each run")
    parser.add_argument("--seeds", type=int, required=True, nargs="+",
                        help="seed of each run, in the order of --rundirs")
    train.add_objective_arguments(parser, per_run=True)
    train.add_shape_arguments(parser)


def main(args: argparse.Namespace) -> None:
    """Runs ``train-together``."""
    num_runs = len(args.rundirs)
    weights = {name: values * num_runs if len(values) == 1 else values
               for name, values in train.objective_weights(args).items()}
    counts = [len(args.seeds)] + [len(values) for values in weights.values()]
    if any(count != num_runs for count in counts):
        raise UserError(f"--rundirs, --seeds and the weights ({', '.join(weights)}) need one "
                        f"value per run (weights: or one for all): got {num_runs}, "
                        f"{', '.join(map(str, counts))}.")
    template = RunConfig(data=args.data, rundir="", latent_dim=args.latent_dim, seed=0,
                         epochs=args.epochs, objective=args.objective, weights={},
                         batch_size=args.batch_size, learning_rate=args.learning_rate,
                         hidden=args.hidden, network=args.network, threads=args.threads)
    train_together([replace(template, rundir=rundir, seed=seed,
                            weights={name: values[k] for name, values in weights.items()})
                    for k, (rundir, seed) in enumerate(zip(args.rundirs, args.seeds))])
