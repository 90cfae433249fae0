"""The training core, shared by one model (``klgap train``) and K stacked models
(``klgap train-together``): the step, the epoch, the per-epoch test terms and the epoch loop.

``num_models`` is None for one model, whose tensors are (B, .), and K for stacked models, whose
tensors are (K, B, .); everything else is the same code. All randomness is stateless: epoch e's
minibatch order is keyed by (seed, e), step t's binarization noise by (seed, 2t) and its
reparameterisation noise by (seed, 2t + 1) (an objective's own draws, such as prior samples, by
``objectives.prior_sample_seed``: (seed, -2t - 1)), so model k of a stack sees exactly the batches
and noise of its separate run, and a resumed run continues exactly where it stopped.
"""

import math
import time
from pathlib import Path

import numpy as np

from klgap.training import checkpoint as checkpoints
from klgap.training import objectives
from klgap.training.adam import Adam
from klgap.errors import UserError

HISTORY_COLUMNS = ("epoch", "train_elbo", "train_rate", "train_distortion", "test_elbo",
                   "test_rate", "test_distortion", "test_mutual_info", "test_aggregate_kl",
                   "seconds")
EVAL_NOISE_SEED = 12345  # fixed reparameterisation noise for the per-epoch test metrics
# Samples z of the per-epoch in-sample decomposition of the test split's rate (the first test
# examples'; each is scored against the mixture of every test posterior).
MIXTURE_SAMPLES = 2000


def draw_batch(x_grey, step_seed, latent_dim: int):
    """One model's dynamically binarized batch and reparameterisation noise.

    Args:
      x_grey: grey levels in [0, 1], (B, P).
      step_seed: (2,) int64 seed of the step.
      latent_dim: D.

    Returns:
      x (B, P) float32 bits and noise (B, D) standard normal.
    """
    import tensorflow as tf

    uniform = tf.random.stateless_uniform(tf.shape(x_grey), seed=step_seed)
    x = tf.cast(uniform < x_grey, tf.float32)  # (B, P)
    noise = tf.random.stateless_normal([tf.shape(x)[0], latent_dim],
                                       seed=step_seed + [0, 1])  # (B, D)
    return x, noise


def weight_tensors(objective, configs, num_models: int | None) -> dict:
    """The objective's weights as tensors: scalars for one model, (K, 1) columns for K."""
    import tensorflow as tf

    if num_models is None:
        return {name: tf.constant(configs[0].weights[name], tf.float32)
                for name in objective.weights}
    return {name: tf.constant([[c.weights[name]] for c in configs], tf.float32)  # (K, 1)
            for name in objective.weights}


def make_train_step(vae, optimizer: Adam, objective, weights: dict, x_train,
                    num_models: int | None = None, jit_compile: bool = False, y_train=None):
    """Compiles one training step: binarization and noise, the loss, its gradient, an Adam update.

    Args:
      vae: a ``klgap.models.vae.VAE`` (stacked for num_models = K).
      optimizer: Adam over ``vae.trainable_variables``.
      objective: a ``klgap.training.objectives`` objective.
      weights: its weights, as from ``weight_tensors``.
      x_train: the training images, (N, P) grey levels in [0, 1] (a tf.Tensor).
      num_models: None for one model, K for stacked models.
      jit_compile: compile the step with XLA (changes float rounding; docs/performance.md).
      y_train: the training labels, (N,) int (a tf.Tensor), for an objective that
        ``needs_labels``: the batch's rows are passed to ``objective.terms`` as ``labels``. None
        (every other objective): the step is the same computation as without the argument.

    Returns:
      ``train_step(batch_index, step_seed)``: batch_index (B,) (or (K, B)) int64 rows of
      x_train, step_seed (2,) (or (K, 2)) int64; returns the batch sums of distortion and rate,
      () (or (K,)) each.
    """
    import tensorflow as tf

    variables = vae.trainable_variables
    stack = [] if num_models is None else [num_models]

    @tf.function(input_signature=[tf.TensorSpec(stack + [None], tf.int64),
                                  tf.TensorSpec(stack + [2], tf.int64)],
                 jit_compile=jit_compile)
    def train_step(batch_index, step_seed):
        x_grey = tf.gather(x_train, batch_index)  # (B, P) or (K, B, P)
        if num_models is None:
            x, noise = draw_batch(x_grey, step_seed, vae.latent_dim)
        else:  # model k's noise drawn exactly as its separate run draws it
            draws = [draw_batch(x_grey[k], step_seed[k], vae.latent_dim)
                     for k in range(num_models)]
            x = tf.stack([d[0] for d in draws])  # (K, B, P)
            noise = tf.stack([d[1] for d in draws])  # (K, B, D)
        with tf.GradientTape() as tape:
            if y_train is None:
                terms = objective.terms(vae, x, noise)  # (B,) or (K, B) each
            else:  # the batch's labels, (B,) (or (K, B))
                terms = objective.terms(vae, x, noise, labels=tf.gather(y_train, batch_index))
            # The sum of the K models' losses: its gradient for model k is model k's gradient.
            loss = tf.reduce_sum(objective.loss(terms, weights, step_seed))
        optimizer.apply(tape.gradient(loss, variables))
        return tf.reduce_sum(terms.distortion, -1), tf.reduce_sum(terms.rate, -1)

    return train_step


def train_epoch(train_step, num_train: int, batch_size: int, seeds: list[int], epoch: int,
                step: int, stacked: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Runs one epoch of training steps; model k's order and noise are keyed by seeds[k].

    Args:
      train_step: as returned by ``make_train_step``.
      num_train: number of training examples N.
      batch_size: B (the last batch holds the remainder).
      seeds: the runs' seeds (one unless stacked).
      epoch: the epoch's number, from 1.
      step: the optimizer's step count before this epoch.
      stacked: whether train_step takes (K, B) batches.

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
        batch = orders[:, first:first + batch_size]  # (K, B)
        step_seeds = np.array([[seed, 2 * step] for seed in seeds])  # (K, 2)
        if not stacked:
            batch, step_seeds = batch[0], step_seeds[0]
        distortion, rate = train_step(tf.constant(batch, tf.int64),
                                      tf.constant(step_seeds, tf.int64))
        distortion_sums += distortion.numpy().astype(np.float64)
        rate_sums += rate.numpy().astype(np.float64)
    return distortion_sums, rate_sums


def in_sample_decomposition(z, loc, scale, num_samples: int):
    """Mutual information and aggregate KL of a split, at the given samples z_i ~ q(z|x_i).

    q(z) is the mixture of all M posteriors of the split; the first S = min(num_samples, M)
    samples are scored against it, log q(z_i) = logsumexp_n log q(z_i|x_n) - log M, with the
    (S, M) table of log-densities as one matrix product (log q(z|x_n) = -z^2 . a_n + z . b_n + c_n,
    a = 1/(2 s^2), b = mu / s^2). I = mean_i [log q(z_i|x_i) - log q(z_i)],
    KL(q(z)||p) = mean_i [log q(z_i) - log p(z_i)]: the estimates of
    ``klgap.estimators.kl_decomposition`` (with S samples, not M), cheap enough to follow every
    epoch. The table is computed in float64: in float32 the expanded quadratic form loses every
    digit for sharp posteriors (sigma ~ 1e-4 gives terms ~ 1e8 whose differences are the
    log-densities), while in float64 its rounding error stays below 1e-5 nats for sigma >= 1e-4
    and |z| <= 10 in up to 20 dimensions.

    Args:
      z, loc, scale: samples and posterior parameters, (..., M, D) each (any float dtype).
      num_samples: S.

    Returns:
      The mutual information and the aggregate KL, shape (...) each, float64.
    """
    import tensorflow as tf

    z, loc, scale = (tf.cast(t, tf.float64) for t in (z, loc, scale))
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    inverse_variance = 1.0 / tf.square(scale)  # (..., M, D)
    a = 0.5 * inverse_variance
    b = loc * inverse_variance
    c = -tf.reduce_sum(0.5 * tf.square(loc) * inverse_variance + tf.math.log(scale)
                       + half_log_2pi, axis=-1)  # (..., M)
    samples = z[..., :num_samples, :]  # (..., S, D)
    log_densities = (tf.linalg.matmul(-tf.square(samples), a, transpose_b=True)
                     + tf.linalg.matmul(samples, b, transpose_b=True)
                     + c[..., None, :])  # (..., S, M): log q(z_i|x_n)
    num_components = tf.cast(tf.shape(z)[-2], z.dtype)
    log_q = tf.reduce_logsumexp(log_densities, axis=-1) - tf.math.log(num_components)  # (..., S)
    own = tf.reduce_sum(-tf.square(samples - loc[..., :num_samples, :]) * a[..., :num_samples, :]
                        - tf.math.log(scale[..., :num_samples, :]) - half_log_2pi,
                        axis=-1)  # (..., S): log q(z_i|x_i)
    log_prior = tf.reduce_sum(-0.5 * tf.square(samples) - half_log_2pi, axis=-1)  # (..., S)
    return tf.reduce_mean(own - log_q, -1), tf.reduce_mean(log_q - log_prior, -1)


def make_test_terms(vae, objective, x_test, y_test=None):
    """Compiles the per-epoch test terms at fixed noise: mean distortion and rate, and the rate's
    split into mutual information and aggregate KL (``in_sample_decomposition``).

    y_test, the test labels (M,), goes to ``objective.terms`` as ``labels`` if given (objectives
    that ``needs_labels``). The aggregate KL is against N(0, I), whatever the model's prior.

    Returns:
      ``test_terms()``: distortion, rate, mutual information, aggregate KL over the test split,
      () (or (K,)) each.
    """
    import tensorflow as tf

    @tf.function
    def test_terms():
        noise = tf.random.stateless_normal([tf.shape(x_test)[0], vae.latent_dim],
                                           seed=[EVAL_NOISE_SEED, 0])  # (M, D), shared
        terms = (objective.terms(vae, x_test, noise) if y_test is None
                 else objective.terms(vae, x_test, noise, labels=y_test))  # (M,) or (K, M) each
        mutual_info, aggregate_kl = in_sample_decomposition(terms.z, terms.loc, terms.scale,
                                                            MIXTURE_SAMPLES)
        return (tf.reduce_mean(terms.distortion, -1), tf.reduce_mean(terms.rate, -1),
                mutual_info, aggregate_kl)

    return test_terms


def history_row(epoch: int, train_distortion: float, train_rate: float, test_distortion: float,
                test_rate: float, test_mutual_info: float, test_aggregate_kl: float,
                seconds: float) -> list[float]:
    """Returns one row of the history, in the order of HISTORY_COLUMNS (ELBO = -(D + R))."""
    return [epoch, -(train_distortion + train_rate), train_rate, train_distortion,
            -(test_distortion + test_rate), test_rate, test_distortion, test_mutual_info,
            test_aggregate_kl, seconds]


def check_finite(run_name: str, epoch: int, distortion: float, rate: float,
                 checkpoint_path: Path) -> None:
    """Raises UserError, naming the last good checkpoint, if an epoch's loss is not finite."""
    if not (math.isfinite(distortion) and math.isfinite(rate)):
        raise UserError(f"[{run_name}] non-finite loss in epoch {epoch} (distortion "
                        f"{distortion}, rate {rate}); the last good checkpoint "
                        f"(epoch {epoch - 1}) is kept in {checkpoint_path}. Lower the "
                        "learning rate or the objective's weights.")


def check_batches(objective, num_train: int, batch_size: int) -> None:
    """Raises UserError if a batch of the epoch (the last holds the remainder) is too small for
    the objective's loss (e.g. an MMD needs two samples)."""
    smallest = min(batch_size, num_train % batch_size or batch_size)
    if smallest < objective.min_batch_size:
        raise UserError(f"objective {objective.name} needs batches of at least "
                        f"{objective.min_batch_size} examples, but {num_train} training examples "
                        f"in batches of {batch_size} leave a batch of {smallest}; choose another "
                        "batch size.")


def checkpoint_path(config) -> Path:
    """Returns a run's checkpoint file."""
    return Path(config.rundir) / "checkpoint.npz"


def read_checkpoint(config) -> checkpoints.Checkpoint | None:
    """Reads a run's checkpoint, if any, after checking that it belongs to this configuration.

    Args:
      config: the run's ``RunConfig``.

    Returns:
      The checkpoint, or None if the run has not started.

    Raises:
      UserError: the checkpoint was written for other data or hyperparameters, or for more
        epochs than asked for.
    """
    path = checkpoint_path(config)
    if not path.exists():
        return None
    state = checkpoints.Checkpoint.load(path)
    if state.identity != config.identity() or state.epochs > config.epochs:
        raise UserError(f"{path} belongs to a different configuration ({state.identity}, "
                        f"{state.epochs} epochs); delete {config.rundir} to train this one "
                        "from scratch.")
    return state


def train_models(vae, configs, arrays, states, last_epoch: int, dataset: str,
                 stacked: bool = False) -> list[np.ndarray]:
    """Trains runs that stand at the same epoch up to ``last_epoch``, checkpointing each epoch.

    Args:
      vae: one ``klgap.models.vae.VAE``, or K stacked ones (``klgap.training.batched.stacked_vae``).
      configs: the runs' ``RunConfig``s (one unless stacked); they share everything but seed,
        weights and rundir.
      arrays: the prepared dataset, as from ``klgap.data.datasets.load``.
      states: their checkpoints (None: not started), all after the same number of epochs.
      last_epoch: the epoch to stop after.
      dataset: the dataset's name (for messages).
      stacked: whether vae holds K stacked models.

    Returns:
      The runs' histories, (epochs, len(HISTORY_COLUMNS)) each; the final weights are in vae.

    Raises:
      UserError: a non-finite loss (every run's last good checkpoint is kept).
    """
    import tensorflow as tf

    from klgap.models import vae as model

    first = configs[0]
    num_models = len(configs) if stacked else None
    num_train = arrays["x_train"].shape[0]
    objective = objectives.get(first.objective, num_examples=num_train)
    if stacked and not objective.stackable:
        raise UserError(f"objective {objective.name} cannot be trained stacked (train-together, "
                        "batched_training: true): its learned prior is not stacked; train its "
                        "runs one by one (klgap train, batched_training: false).")
    check_batches(objective, num_train, first.batch_size)
    x_train = tf.constant(arrays["x_train"])  # (N, P) grey levels in [0, 1]
    x_test = tf.constant(arrays["x_test_binary"].astype(np.float32))  # (M, P) fixed bits
    optimizer = Adam(vae.trainable_variables, first.learning_rate)
    histories = [np.zeros((0, len(HISTORY_COLUMNS)))] * len(configs)
    if states[0] is not None:
        weights, optimizer_state = (checkpoints.stack(states) if stacked
                                    else (states[0].weights, states[0].optimizer))
        model.set_weights(vae, weights)
        optimizer.restore(optimizer_state)
        histories = [state.history for state in states]
        print(f"[{first.name(dataset)}{' and others' if len(configs) > 1 else ''}] resuming "
              f"after epoch {len(histories[0])}", flush=True)
    # The labels, only for an objective whose terms need them (the class-conditional prior).
    y_train, y_test = ((tf.constant(arrays["y_train"]), tf.constant(arrays["y_test"]))
                       if objective.needs_labels else (None, None))
    train_step = make_train_step(vae, optimizer, objective,
                                 weight_tensors(objective, configs, num_models), x_train,
                                 num_models, y_train=y_train)
    test_terms = make_test_terms(vae, objective, x_test, y_test)
    seeds = [config.seed for config in configs]

    for epoch in range(len(histories[0]) + 1, last_epoch + 1):
        epoch_start = time.time()
        distortion_sums, rate_sums = train_epoch(train_step, num_train, first.batch_size, seeds,
                                                 epoch, int(optimizer.step.numpy()), stacked)
        test_distortion, test_rate, test_information, test_aggregate = (
            np.atleast_1d(t.numpy()) for t in test_terms())
        seconds = time.time() - epoch_start  # of the epoch, shared by stacked runs
        for k, config in enumerate(configs):
            train_distortion, train_rate = distortion_sums[k] / num_train, rate_sums[k] / num_train
            check_finite(config.name(dataset), epoch, train_distortion, train_rate,
                         checkpoint_path(config))
            row = history_row(epoch, train_distortion, train_rate, float(test_distortion[k]),
                              float(test_rate[k]), float(test_information[k]),
                              float(test_aggregate[k]), seconds)
            histories[k] = np.vstack([histories[k], row])
        weights, optimizer_state = model.get_weights(vae), optimizer.state()
        for k, config in enumerate(configs):  # only once every run's loss is finite
            state = (checkpoints.select(weights, optimizer_state, k, histories[k],
                                        config.identity()) if stacked
                     else checkpoints.Checkpoint(weights, optimizer_state, histories[k],
                                                 config.identity()))
            state.save(checkpoint_path(config))
            row = histories[k][-1]
            print(f"[{config.name(dataset)}] epoch {epoch}/{config.epochs} train ELBO "
                  f"{row[1]:.3f} (rate {row[2]:.3f}, distortion {row[3]:.3f}) test ELBO "
                  f"{row[4]:.3f} (MI {row[7]:.3f}, aggregate KL {row[8]:.3f}) "
                  f"({row[-1]:.1f} s)", flush=True)
    return histories
