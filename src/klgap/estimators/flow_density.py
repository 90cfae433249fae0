"""A small RealNVP normalizing flow over latent codes, for ``fitted_density.fitted_density_kl``.

The flow is a chain of ``tfp.bijectors.RealNVP`` affine couplings with seeded permutations
between them, over a standard-normal base, in the coordinates of the fit codes standardized per
dimension. Each coupling's shift-and-log-scale function is a two-hidden-layer ReLU network
written with plain ``tf.Variable``s (no ``tfp.layers`` or Keras layers); its last layer starts
at zero, so the untrained flow is the identity, and log-scales are bounded by
``LOG_SCALE_LIMIT * tanh(.)``. Training is maximum likelihood with Adam on codes drawn afresh
each epoch from the fit posteriors; the validation codes' mean log-likelihood, checked after
every epoch, cuts the learning rate on a plateau and stops training on a later one (the best
epoch's weights are kept). Initial weights, permutations, codes and batches come from
NumPy generators seeded by the caller, so the result is a function of the seed.

TensorFlow is imported inside ``fit_flow`` only: importing this module costs nothing.
"""

from __future__ import annotations

import math
import os

import numpy as np

# Couplings, hidden units per layer of each coupling's network, and the training settings.
NUM_COUPLINGS = 4
HIDDEN_UNITS = 64
BATCH_SIZE = 512
LEARNING_RATE = 3e-3
MAX_EPOCHS = 40
# After PATIENCE epochs without a better validation log-likelihood the learning rate is cut by
# LEARNING_RATE_DECAY (and training resumes from the best weights); after MAX_DECAYS cuts the
# next plateau stops training.
PATIENCE = 2
LEARNING_RATE_DECAY = 0.3
MAX_DECAYS = 2
LOG_SCALE_LIMIT = 3.0  # |log-scale| of one coupling, in standardized units


def fit_flow(mu: np.ndarray, sigma: np.ndarray, z_validation: np.ndarray, seed_sequence,
             *, num_couplings: int = NUM_COUPLINGS, hidden_units: int = HIDDEN_UNITS,
             batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE,
             max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE,
             max_decays: int = MAX_DECAYS):
    """Trains a RealNVP flow on codes of the given posteriors, early-stopped on validation codes.

    Args:
      mu, sigma: the posteriors whose codes train the flow, (N, D), D >= 2.
      z_validation: validation codes, (V, D), from other posteriors.
      seed_sequence: a ``np.random.SeedSequence`` (or entropy for one) for every random choice.
      num_couplings, hidden_units, batch_size, learning_rate, max_epochs, patience, max_decays:
        see the module constants.

    Returns:
      ``(log_density, info)``: ``log_density(z)`` maps (M, D) float64 codes to (M,) log r(z)
      (float64 from float32 arithmetic), with the best epoch's weights; ``info`` has
      ``validation_log_likelihood`` (the best mean log r(z_validation)), ``epochs`` (the best
      epoch, 0 = untrained), ``epochs_run``, ``learning_rate`` (the last one) and ``sample``,
      a sampler (num_samples, numpy Generator) -> (M, D) float64 codes of the same flow.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfb, tfd = tfp.bijectors, tfp.distributions
    num_dims = mu.shape[1]
    if num_dims < 2:
        raise ValueError("a RealNVP coupling needs at least two latent dimensions")
    rng = np.random.default_rng(seed_sequence)
    # Standardize with the moments of the fit codes: E z = mean mu, Var z = Var mu + mean sigma^2.
    center = mu.mean(axis=0)  # (D,)
    scale = np.sqrt(mu.var(axis=0) + np.mean(np.square(sigma), axis=0))  # (D,)
    log_jacobian = -float(np.sum(np.log(scale)))  # log |d standardized / d z|

    variables = []

    def dense(fan_in: int, fan_out: int, zero: bool = False):
        limit = math.sqrt(6.0 / (fan_in + fan_out))  # Glorot uniform
        weight = (np.zeros((fan_in, fan_out)) if zero
                  else rng.uniform(-limit, limit, (fan_in, fan_out)))
        pair = (tf.Variable(weight.astype(np.float32)),
                tf.Variable(np.zeros(fan_out, np.float32)))
        variables.extend(pair)
        return pair

    def coupling_network(num_in: int, num_out: int):
        layers = [dense(num_in, hidden_units), dense(hidden_units, hidden_units),
                  dense(hidden_units, 2 * num_out, zero=True)]

        def shift_and_log_scale(x, output_units, **_):
            h = x  # (B, d)
            for weight, bias in layers[:-1]:
                h = tf.nn.relu(tf.matmul(h, weight) + bias)  # (B, H)
            out = tf.matmul(h, layers[-1][0]) + layers[-1][1]  # (B, 2 (D - d))
            shift, raw_log_scale = tf.split(out, 2, axis=-1)
            return shift, LOG_SCALE_LIMIT * tf.tanh(raw_log_scale / LOG_SCALE_LIMIT)

        return shift_and_log_scale

    num_masked = num_dims // 2
    bijectors = []
    for k in range(num_couplings):
        bijectors.append(tfb.RealNVP(
            num_masked=num_masked,
            shift_and_log_scale_fn=coupling_network(num_masked, num_dims - num_masked)))
        if k < num_couplings - 1:
            permutation = rng.permutation(num_dims)
            if num_dims == 2 or np.array_equal(np.sort(permutation[:num_masked]),
                                               np.arange(num_masked)):
                permutation = np.arange(num_dims)[::-1]  # the conditioning half must change
            bijectors.append(tfb.Permute(permutation=permutation.astype(np.int32)))
    flow = tfd.TransformedDistribution(
        distribution=tfd.MultivariateNormalDiag(loc=tf.zeros(num_dims, tf.float32)),
        bijector=tfb.Chain(bijectors[::-1]))  # Chain applies its list last-first
    # Adam (Keras's form, TensorFlow's fused kernel) with the learning rate in a variable.
    rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False)
    step = tf.Variable(0.0, dtype=tf.float32, trainable=False)
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]

    def train_step(x):  # x (B, D) float32
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(flow.log_prob(x))
        gradients = tape.gradient(loss, variables)
        step.assign_add(1.0)
        for variable, gradient, (m, v) in zip(variables, gradients, moments):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=m.handle, v=v.handle, beta1_power=0.9 ** step,
                beta2_power=0.999 ** step, lr=rate, beta1=0.9, beta2=0.999, epsilon=1e-7,
                grad=gradient)
        return loss

    batch = min(batch_size, len(mu))

    @tf.function
    def train_epoch(codes, order):  # codes (N, D) float32, order (N,) int64
        # One call per epoch: the batches loop inside the graph, so the per-step cost is the
        # graph's, not a Python call's; whole batches only (one shape).
        for first in tf.range(0, tf.size(order, tf.int64) - batch + 1, batch):
            train_step(tf.gather(codes, order[first:first + batch]))

    @tf.function(reduce_retracing=True)
    def log_prob(x):
        return flow.log_prob(x)

    def log_density(z: np.ndarray) -> np.ndarray:
        standardized = ((z - center) / scale).astype(np.float32)  # (M, D)
        out = np.concatenate([log_prob(tf.constant(standardized[start:start + 8192])).numpy()
                              for start in range(0, len(z), 8192)])
        return out.astype(np.float64) + log_jacobian

    def validation_log_likelihood() -> float:
        value = float(np.mean(log_density(z_validation)))
        return value if math.isfinite(value) else -math.inf

    best = validation_log_likelihood()
    best_weights = [v.numpy() for v in variables]
    best_epoch, epochs_run, stale, decays = 0, 0, 0, 0
    for epoch in range(1, max_epochs + 1):
        codes = mu + sigma * rng.standard_normal(mu.shape)  # (N, D) fresh codes each epoch
        codes = ((codes - center) / scale).astype(np.float32)
        order = rng.permutation(len(codes))  # (N,)
        train_epoch(tf.constant(codes), tf.constant(order, tf.int64))
        epochs_run = epoch
        value = validation_log_likelihood()
        if value > best:
            best, best_epoch, stale = value, epoch, 0
            best_weights = [v.numpy() for v in variables]
        else:
            stale += 1
            if stale >= patience:
                if decays >= max_decays:
                    break
                decays, stale = decays + 1, 0
                rate.assign(rate * LEARNING_RATE_DECAY)
                for variable, weight in zip(variables, best_weights):
                    variable.assign(weight)
    for variable, weight in zip(variables, best_weights):
        variable.assign(weight)

    def sample(num_samples: int, sample_rng) -> np.ndarray:
        """Draws of r: base noise from ``sample_rng`` pushed through the flow, (M, D) float64."""
        noise = sample_rng.standard_normal((num_samples, num_dims)).astype(np.float32)  # (M, D)
        standardized = np.concatenate([flow.bijector.forward(tf.constant(noise[start:start + 8192]))
                                       .numpy() for start in range(0, num_samples, 8192)])
        return center + scale * standardized.astype(np.float64)

    return log_density, {"validation_log_likelihood": best, "epochs": best_epoch,
                         "epochs_run": epochs_run, "learning_rate": float(rate.numpy()),
                         "sample": sample}
