"""Annealed importance sampling (AIS) estimates of log p(x) for a decoder with prior N(0, I).

AIS (Neal 2001) as Wu, Burda, Salakhutdinov & Grosse (2017) use it for decoder-based models: the
intermediate densities f_t(z) = p(z) p(x|z)^beta_t, 0 = beta_0 < ... < beta_T = 1, run from the
prior to the unnormalised posterior along a sigmoidal schedule; each chain starts at z ~ p(z),
adds (beta_t - beta_{t-1}) log p(x|z) to its log weight, then (for t < T) takes one Hamiltonian
Monte Carlo transition that leaves f_t invariant (L leapfrog steps); T = 1 is plain importance
sampling from the prior. exp(log weight) is an unbiased estimate of p(x), so the log of the
chains' mean weight is a stochastic lower bound on log p(x) (Jensen), which tightens as T grows.

The HMC transitions are written here rather than taken from ``tfp.mcmc``: TFP's
``sample_annealed_importance_chain`` passes each HMC step the previous step's cached target
value and gradient, computed for the previous beta, as those of the new target (its first
half step and its acceptance test; ``mcmc/sample_annealed_importance.py`` in TFP 0.25; its
documentation example is reported as inaccurate in tensorflow/probability#1429). Here the
log-likelihood and its gradient at the current state are kept and reused across betas, so a
transition costs exactly L gradient evaluations.

The step size is adapted towards an acceptance rate of 0.65 (optimal for HMC, Beskos et al.
2013): multiplied by 1.02 or 0.98 after every transition according to a moving average of the
acceptance probability, clipped to [1e-4, 0.5]. It is adapted on separate adaptation chains:
each example gets a few extra chains that anneal alongside; their mean acceptance sets the step
size that all of the example's chains use, and their weights are discarded. The step sizes are
then independent of the counted chains, so each counted weight stays an unbiased estimate of
p(x). Adapting every chain from its own acceptances, the usual shortcut, is not: on the
linear-Gaussian model of tests/test_ais.py (exact log p(x) known) it overestimated log p(x) by
0.05 nats (three standard errors; 1,600 chains, T = 1000) where a fixed step size was right.
"""

import math
from typing import Callable

import numpy as np

from klgap.errors import UserError

NUM_STEPS = 1000  # T, intermediate distributions
NUM_CHAINS = 16  # independent counted chains per example
NUM_LEAPFROG_STEPS = 10
HMC_STEP_SIZE = 0.05  # initial step size of every chain
TARGET_ACCEPTANCE = 0.65
STEP_SIZE_INCREASE, STEP_SIZE_DECREASE = 1.02, 0.98
STEP_SIZE_MIN, STEP_SIZE_MAX = 1e-4, 0.5
ACCEPTANCE_SLOWNESS = 0.9  # of the moving average of the acceptance probability
NUM_ADAPTATION_CHAINS = 4  # extra chains per example that set its step size
SCHEDULE_RADIUS = 4.0  # the sigmoidal schedule spans sigmoid(-4) .. sigmoid(4)
BATCH_SIZE = 100  # examples annealed together (num_chains * batch_size rows per decoder call)


def sigmoid_schedule(num_steps: int, radius: float = SCHEDULE_RADIUS) -> np.ndarray:
    """Inverse temperatures 0 = beta_0 < ... < beta_T = 1, denser near both ends, (T+1,).

    beta_t = (s_t - s_0) / (s_T - s_0) with s_t = sigmoid(radius (2t / T - 1)), the sigmoidal
    schedule of Wu et al. (2017).
    """
    if num_steps < 1:
        raise UserError(f"num_steps must be >= 1, got {num_steps}.")
    if num_steps == 1:
        return np.array([0.0, 1.0])
    sigmoid = 1.0 / (1.0 + np.exp(-np.linspace(-radius, radius, num_steps + 1)))
    betas = (sigmoid - sigmoid[0]) / (sigmoid[-1] - sigmoid[0])
    betas[0], betas[-1] = 0.0, 1.0
    return betas


def ais_log_likelihood(model_or_log_likelihood, x: np.ndarray, *, latent_dim: int | None = None,
                       num_steps: int = NUM_STEPS, num_chains: int = NUM_CHAINS, seed: int = 0,
                       hmc_step_size: float = HMC_STEP_SIZE,
                       num_leapfrog_steps: int = NUM_LEAPFROG_STEPS,
                       num_adaptation_chains: int = NUM_ADAPTATION_CHAINS,
                       schedule: str = "sigmoid",
                       batch_size: int = BATCH_SIZE) -> dict:
    """AIS estimates of log p(x) = log E_{z ~ N(0, I)} p(x|z), one per example.

    Args:
      model_or_log_likelihood: a ``klgap.models.vae.VAE`` (its ``log_likelihood`` and
        ``latent_dim`` are used), or a callable log_likelihood(x, z): x (B, P) float32 and z
        (C, B, D) float32 to log p(x|z) (C, B), differentiable in z with TensorFlow.
      x: the data, (N, P); float32 in the decoder's support (binary for a Bernoulli decoder).
      latent_dim: D; needed with a callable, checked against a VAE's.
      num_steps: T, steps of the schedule (T - 1 HMC transitions).
      num_chains: C, independent chains per example.
      seed: seed of every draw; batch b of examples uses the stream [seed, b].
      hmc_step_size: the leapfrog step size, initial if it is adapted.
      num_leapfrog_steps: L, leapfrog steps per transition.
      num_adaptation_chains: extra chains per example whose acceptances adapt its step size
        (their weights are discarded); 0: a fixed step size, ``hmc_step_size``.
      schedule: ``sigmoid`` (Wu et al.) or ``linear`` spacing of the betas.
      batch_size: examples annealed together (a speed setting; the values do not depend on it
        beyond the seed streams).

    Returns:
      ``log_likelihood``: log (1/C) sum_c exp(w_c) per example, (N,) float64;
      ``log_likelihood_se``: its standard error from the chains' spread (delta method:
      sd_c(exp(w_c)) / (sqrt(C) mean_c(exp(w_c))); NaN for C = 1), (N,);
      ``log_likelihood_mean`` and ``log_likelihood_mean_se`` (sqrt(sum se^2) / N: the Monte
      Carlo error of the mean given the data, not its sampling error over data sets);
      ``log_weights`` (C, N); ``effective_chains``: (sum w)^2 / sum w^2 of the weights, mean
      over examples (near 1: one chain dominates; below about 5, the delta method understates
      the error);
      ``acceptance_rate`` (of the counted chains, mean over transitions, chains and examples);
      ``final_step_size`` (mean over examples); and the settings ``num_steps``, ``num_chains``,
      ``num_leapfrog_steps``, ``num_adaptation_chains``.

    Raises:
      UserError: a callable without ``latent_dim``, data that are not (N, P), or bad settings.
    """
    log_likelihood_fn, latent_dim = resolve_model(model_or_log_likelihood, latent_dim)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise UserError(f"x must be a non-empty (N, P) array, got shape {x.shape}; reshape the "
                        f"images with x.reshape(len(x), -1).")
    for name, value in (("num_chains", num_chains), ("num_leapfrog_steps", num_leapfrog_steps),
                        ("batch_size", batch_size)):
        if int(value) != value or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}.")
    if int(num_adaptation_chains) != num_adaptation_chains or num_adaptation_chains < 0:
        raise UserError(f"num_adaptation_chains must be an integer >= 0, got "
                        f"{num_adaptation_chains!r}.")
    if not hmc_step_size > 0:
        raise UserError(f"hmc_step_size must be > 0, got {hmc_step_size}.")
    schedules = {"sigmoid": sigmoid_schedule,
                 "linear": lambda steps: np.linspace(0.0, 1.0, steps + 1)}
    if schedule not in schedules:
        raise UserError(f"unknown schedule {schedule!r}; choose one of {', '.join(schedules)}.")
    if int(num_steps) != num_steps or num_steps < 1:
        raise UserError(f"num_steps must be a positive integer, got {num_steps!r}.")
    betas = schedules[schedule](int(num_steps))  # (T+1,)

    import tensorflow as tf

    anneal = make_annealer(log_likelihood_fn, betas, int(num_chains), latent_dim,
                           int(num_leapfrog_steps), float(hmc_step_size),
                           int(num_adaptation_chains))
    log_weights, acceptance, step_sizes = [], [], []
    for index, first in enumerate(range(0, len(x), batch_size)):
        outputs = anneal(tf.constant(x[first:first + batch_size]),
                         tf.constant([seed, index], dtype=tf.int32))
        for store, output in zip((log_weights, acceptance, step_sizes), outputs):
            store.append(output.numpy())
    log_weights = np.concatenate(log_weights, axis=1)  # (C, N) float64
    estimate, se, effective = log_mean_exp_with_error(log_weights)
    return {"log_likelihood": estimate, "log_likelihood_se": se,
            "log_likelihood_mean": float(np.mean(estimate)),
            "log_likelihood_mean_se": float(np.sqrt(np.sum(se ** 2)) / len(estimate)),
            "log_weights": log_weights, "effective_chains": float(np.mean(effective)),
            "acceptance_rate": float(np.mean(np.concatenate(acceptance, axis=1))),
            "final_step_size": float(np.mean(np.concatenate(step_sizes))),
            "num_steps": int(num_steps), "num_chains": int(num_chains),
            "num_leapfrog_steps": int(num_leapfrog_steps),
            "num_adaptation_chains": int(num_adaptation_chains)}


def resolve_model(model_or_log_likelihood, latent_dim: int | None) -> tuple[Callable, int]:
    """The log-likelihood callable and D, from a VAE-like object or a callable."""
    log_likelihood_fn = getattr(model_or_log_likelihood, "log_likelihood", None)
    if log_likelihood_fn is not None and hasattr(model_or_log_likelihood, "latent_dim"):
        model_dim = int(model_or_log_likelihood.latent_dim)
        if latent_dim is not None and latent_dim != model_dim:
            raise UserError(f"latent_dim={latent_dim} but the model's latent_dim is "
                            f"{model_dim}; leave latent_dim out when passing a model.")
        return log_likelihood_fn, model_dim
    if not callable(model_or_log_likelihood):
        raise UserError("pass a VAE or a callable log_likelihood(x, z); got "
                        f"{type(model_or_log_likelihood).__name__}.")
    if latent_dim is None or int(latent_dim) != latent_dim or latent_dim < 1:
        raise UserError(f"with a log-likelihood callable, pass latent_dim (the size D of z), "
                        f"got {latent_dim!r}.")
    return model_or_log_likelihood, int(latent_dim)


def log_mean_exp_with_error(log_weights: np.ndarray):
    """log mean_c exp(w_c), its delta-method standard error, and the chains' effective number.

    Args:
      log_weights: (C, N).

    Returns:
      Three arrays of shape (N,): the estimate, its standard error (NaN for C = 1), and
      (sum_c r_c)^2 / sum_c r_c^2 with r = exp(w - max_c w).
    """
    num_chains = log_weights.shape[0]
    top = np.max(log_weights, axis=0)  # (N,)
    ratios = np.exp(log_weights - top)  # (C, N), in (0, 1]
    mean_ratio = ratios.mean(axis=0)  # (N,)
    estimate = top + np.log(mean_ratio)
    if num_chains > 1:
        se = ratios.std(axis=0, ddof=1) / (math.sqrt(num_chains) * mean_ratio)
    else:
        se = np.full(log_weights.shape[1], np.nan)
    effective = ratios.sum(axis=0) ** 2 / np.sum(ratios ** 2, axis=0)
    return estimate, se, effective


def make_annealer(log_likelihood_fn: Callable, betas: np.ndarray, num_chains: int,
                  latent_dim: int, num_leapfrog_steps: int, initial_step_size: float,
                  num_adaptation_chains: int):
    """A ``tf.function`` that runs AIS for one batch of examples.

    Args:
      log_likelihood_fn: log p(x|z), (B, P) and (C, B, D) to (C, B).
      betas: the schedule, (T+1,).
      num_chains: C, counted chains.
      latent_dim: D.
      num_leapfrog_steps: L.
      initial_step_size: the first (or fixed) step size.
      num_adaptation_chains: A, extra chains per example that adapt its step size (0: fixed).

    Returns:
      anneal(x (B, P) float32, seed (2,) int32) -> (log weights of the counted chains (C, B)
      float64, their mean acceptance probability (C, B), final step sizes (B,)).
    """
    import tensorflow as tf

    num_steps = len(betas) - 1
    all_chains = num_chains + num_adaptation_chains
    betas32 = tf.constant(betas, tf.float32)  # (T+1,) for the HMC targets
    beta_increments = tf.constant(np.diff(betas), tf.float64)  # (T,) for the weights

    def value_and_gradient(x, z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            log_likelihood = log_likelihood_fn(x, z)  # (A + C, B)
        return log_likelihood, tape.gradient(log_likelihood, z)  # (A + C, B), (A + C, B, D)

    def hmc_transition(x, beta, z, log_likelihood, gradient, step_size, seed):
        """One HMC transition leaving p(z) p(x|z)^beta invariant, for every chain at once."""
        momentum_seed, accept_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        momentum = tf.random.stateless_normal(tf.shape(z), seed=momentum_seed)  # (A + C, B, D)
        epsilon = step_size[None, :, None]  # (1, B, 1)

        def potential_gradient(z_, gradient_):  # of U = |z|^2 / 2 - beta log p(x|z)
            return z_ - beta * gradient_

        def leapfrog(step, z_, p_, log_likelihood_, gradient_):
            z_ = z_ + epsilon * p_
            log_likelihood_, gradient_ = value_and_gradient(x, z_)
            p_ = p_ - epsilon * potential_gradient(z_, gradient_)
            return step + 1, z_, p_, log_likelihood_, gradient_

        p = momentum - 0.5 * epsilon * potential_gradient(z, gradient)
        _, z_new, p, log_likelihood_new, gradient_new = tf.while_loop(
            lambda i, *_: i < num_leapfrog_steps, leapfrog,
            (tf.constant(0), z, p, log_likelihood, gradient))
        p = p + 0.5 * epsilon * potential_gradient(z_new, gradient_new)  # the last half step

        def energy(z_, p_, log_likelihood_):  # (A + C, B)
            return 0.5 * tf.reduce_sum(z_ ** 2 + p_ ** 2, axis=-1) - beta * log_likelihood_

        log_accept = energy(z, momentum, log_likelihood) - energy(z_new, p, log_likelihood_new)
        log_accept = tf.where(tf.math.is_nan(log_accept), -np.inf, log_accept)  # (A + C, B)
        accept_probability = tf.exp(tf.minimum(log_accept, 0.0))  # (A + C, B)
        uniform = tf.random.stateless_uniform(tf.shape(log_accept), seed=accept_seed)
        accept = tf.math.log(uniform) < log_accept  # (A + C, B)
        z = tf.where(accept[..., None], z_new, z)
        log_likelihood = tf.where(accept, log_likelihood_new, log_likelihood)
        gradient = tf.where(accept[..., None], gradient_new, gradient)
        return z, log_likelihood, gradient, accept_probability

    @tf.function(reduce_retracing=True)
    def anneal(x, seed):
        batch = tf.shape(x)[0]
        # chains [0, C) are counted, [C, C + A) adapt the step size
        z = tf.random.stateless_normal((all_chains, batch, latent_dim),
                                       seed=tf.random.experimental.stateless_fold_in(seed, 0))
        log_likelihood, gradient = value_and_gradient(x, z)
        log_weight = tf.zeros((num_chains, batch), tf.float64)
        step_size = tf.fill((batch,), tf.constant(initial_step_size, tf.float32))  # (B,)
        average_acceptance = tf.fill((batch,), TARGET_ACCEPTANCE)  # (B,)
        acceptance_sum = tf.zeros((num_chains, batch))

        def transition(t, z, log_likelihood, gradient, log_weight, step_size,
                       average_acceptance, acceptance_sum):
            # the weight of f_t / f_{t-1} at the state that leaves f_{t-1}, then a move on f_t
            log_weight += beta_increments[t - 1] * tf.cast(log_likelihood[:num_chains],
                                                           tf.float64)
            z, log_likelihood, gradient, accept_probability = hmc_transition(
                x, betas32[t], z, log_likelihood, gradient, step_size,
                tf.random.experimental.stateless_fold_in(seed, t))
            acceptance_sum += accept_probability[:num_chains]
            if num_adaptation_chains:
                adaptation_acceptance = tf.reduce_mean(accept_probability[num_chains:], axis=0)
                average_acceptance = (ACCEPTANCE_SLOWNESS * average_acceptance
                                      + (1 - ACCEPTANCE_SLOWNESS) * adaptation_acceptance)
                factor = tf.where(average_acceptance > TARGET_ACCEPTANCE,
                                  STEP_SIZE_INCREASE, STEP_SIZE_DECREASE)
                step_size = tf.clip_by_value(step_size * factor, STEP_SIZE_MIN, STEP_SIZE_MAX)
            return (t + 1, z, log_likelihood, gradient, log_weight, step_size,
                    average_acceptance, acceptance_sum)

        # Transitions on f_1 .. f_{T-1}: one on f_T = the posterior would not change the weights.
        (_, _, log_likelihood, _, log_weight, step_size, _, acceptance_sum) = tf.while_loop(
            lambda t, *_: t < num_steps, transition,
            (tf.constant(1), z, log_likelihood, gradient, log_weight, step_size,
             average_acceptance, acceptance_sum))
        log_weight += beta_increments[-1] * tf.cast(log_likelihood[:num_chains], tf.float64)
        return log_weight, acceptance_sum / max(num_steps - 1, 1), step_size

    return anneal
