"""The importance-weighted bound on log p(x) of a trained VAE, with its ELBO terms per example
(``importance_weighted``: the test and training splits' records, and AIS's IW baseline)."""

import numpy as np

from klgap.errors import UserError

# Importance samples decoded together in ``importance_weighted`` (a speed setting only: the
# values do not depend on it; tests/test_evaluate.py checks that).
IW_CHUNK = 5


def importance_weighted(vae, x, num_samples: int, seed: int, batch_size: int = 500,
                        labels=None):
    """Importance-weighted log-likelihood bound and its ELBO terms, per example.

    log p(x) >= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x);
    K = 1 gives the ELBO. p is the model's prior (``VAE.log_prior``): N(0, I), the VampPrior,
    or, for the class-conditional prior, p(z|y) of each example's class, so that the bound is
    on log p(x|y), as the training objective's ELBO is. The rate is KL(q(z|x) || p) in closed
    form for N(0, I) and p(z|y); the VampPrior's has none, and its rate is the Monte Carlo mean
    over the same K samples, (1/K) sum_k [log q(z_k|x) - log p(z_k)] (unbiased; one sample for
    K = 1).

    Args:
      vae: a ``klgap.models.vae.VAE``.
      x: binary data, (N, P) float32.
      num_samples: K.
      seed: seed of the stateless samples (batch b uses (seed, b)).
      batch_size: examples per batch.
      labels: the examples' classes, (N,) int (needed by the class-conditional prior only).

    Returns:
      Arrays of shape (N,): iw_ll, distortion (mean over the K samples of -log p(x|z)),
      rate, and the posterior parameters mu and sigma, (N, D) each.

    Raises:
      UserError: a class-conditional prior without labels.
    """
    import tensorflow as tf
    import tensorflow_probability as tfp

    from klgap.models import vae as vae_model

    if labels is None:
        if vae.prior_kind == vae_model.CLASS_CONDITIONAL:
            raise UserError("the class-conditional prior scores each example against its "
                            "class's prior; pass the labels.")
        labels = np.zeros(len(x), dtype=np.int32)

    @tf.function
    def batch_terms(x_batch, label_batch, batch_seed):
        posterior = vae.encode(x_batch)
        z = posterior.sample(num_samples, seed=batch_seed)  # (K, B, D), stateless
        # The decoder's logits, a (K, B, P) tensor, taken a few samples at a time so that the
        # elementwise passes over them stay in cache (each sample's value is computed as before);
        # the prior too (the VampPrior's components make a (K, B, K_u, D) tensor otherwise).
        chunks = [z[first:first + IW_CHUNK] for first in range(0, num_samples, IW_CHUNK)]
        log_likelihood = tf.concat([vae.log_likelihood(x_batch, chunk) for chunk in chunks],
                                   axis=0)  # (K, B)
        log_prior = tf.concat([vae.log_prior(chunk, label_batch) for chunk in chunks],
                              axis=0)  # (K, B)
        log_posterior = posterior.log_prob(z)  # (K, B)
        log_weight = log_likelihood + log_prior - log_posterior  # (K, B)
        iw_ll = tf.reduce_logsumexp(log_weight, axis=0) - tf.math.log(float(num_samples))
        if vae.prior_kind == vae_model.STANDARD:
            rate = tfp.distributions.kl_divergence(posterior, vae.prior)  # (B,)
        elif vae.prior_kind == vae_model.VAMP:  # Monte Carlo over the K samples
            rate = tf.reduce_mean(log_posterior - log_prior, axis=0)  # (B,)
        else:
            rate = vae.rate(posterior, z[0], label_batch)  # (B,) closed form against p(z|y)
        return (iw_ll, -tf.reduce_mean(log_likelihood, axis=0), rate, posterior.loc,
                posterior.scale.diag)

    outputs = []
    for index, first in enumerate(range(0, len(x), batch_size)):
        x_batch = tf.constant(x[first:first + batch_size])
        label_batch = tf.constant(np.asarray(labels[first:first + batch_size], dtype=np.int32))
        outputs.append([t.numpy() for t in batch_terms(x_batch, label_batch,
                                                       tf.constant([seed, index]))])
    iw_ll, distortion, rate, mu, sigma = (np.concatenate(parts) for parts in zip(*outputs))
    return iw_ll, distortion, rate, mu.astype(np.float64), sigma.astype(np.float64)
