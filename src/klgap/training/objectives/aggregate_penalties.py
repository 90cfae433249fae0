"""Objectives that penalise the aggregate posterior with an MMD to the prior: without the
per-example KL (``mmd``), on top of it (``infovae``), and the WAEs (``wae``, ``waelogvar``)."""

from klgap.training.objectives.base import (WeightedObjective, per_model, per_model_weight,
                                            prior_sample_seed)


def mmd_to_prior(terms, step_seed):
    """MMD^2 between the batch's codes and as many prior samples: () (or (K,), one per model).

    The prior samples are N(0, I) draws keyed by ``prior_sample_seed(step_seed)``; the MMD is
    ``penalties.imq_mmd_squared``.

    Args:
      terms: ``Terms`` with z (B, D) or (K, B, D).
      step_seed: (2,) or (K, 2) int64.
    """
    import tensorflow as tf

    from klgap.training import penalties

    def one_model(z, seed):  # (B, D), (2,)
        prior_z = tf.random.stateless_normal(tf.shape(z), seed=prior_sample_seed(seed),
                                             dtype=z.dtype)  # (B, D)
        return penalties.imq_mmd_squared(z, prior_z)

    return per_model(one_model, terms.z, step_seed)


class AggregateMMD(WeightedObjective):
    """Penalises the aggregate posterior, not each example: InfoVAE with alpha = 1 (Zhao et al.
    2019), i.e. WAE-MMD (Tolstikhin et al. 2018) with a stochastic diagonal Gaussian encoder.

    The loss is mean_i -log p(x_i|z_i) + lambda * MMD^2(q(z), p(z)), with no per-example KL. The
    MMD is ``penalties.imq_mmd_squared`` (unbiased, inverse multiquadratics kernel summed over
    WAE's scales of C = 2 d_z) between the batch's encoder samples z_i = mu_i + sigma_i * e_i and
    as many prior samples, drawn statelessly from ``prior_sample_seed(step_seed)``. The rate is
    logged but not penalised.

    The scale of lambda (the same for ``infovae``, ``wae`` and ``waelogvar``): the loss is in nats
    per example, the distortion each example's -log p(x|z) summed over its pixels and averaged
    over the batch, while MMD^2 is one number per batch, the sum over the seven kernel scales of
    each kernel's unbiased MMD^2, added once. So lambda is nats per example per unit of MMD^2,
    the scale of InfoVAE's lambda (an expectation over examples plus lambda D) and of the WAE
    code of Rubenstein et al. 2018 (Bernoulli reconstruction summed over pixels in nats, averaged
    over the batch, plus ``lambda_imq`` times the sum over IMQ scales of MMD^2). Tolstikhin et
    al.'s MNIST experiments used 0.05 times a squared error as the cost instead, so their lambda
    values do not carry over. Each IMQ kernel lies in (0, 1], so each scale's MMD^2 is at most 2
    and the sum at most 2 * len(IMQ_SCALES) = 14: the penalty never costs more than 14 lambda
    nats per example, whatever the number of pixels or the training set's size.
    """

    name = "mmd"
    weights = {"lambda": "weight of MMD^2(q(z), p(z)), the aggregate posterior's distance to "
                         "the prior, in nats per example per unit of MMD^2; no per-example KL "
                         "(>= 0)"}
    label, weight_symbol, style = "MMD", r"\lambda", (3, "s")
    tables = ("objectives", "convergence")
    min_batch_size = 2  # the U-statistic needs two samples of each distribution

    def penalty(self, terms, step_seed):
        """MMD^2 between the batch's z and prior samples: () (or (K,), one per model).

        Args:
          terms: ``Terms`` with z (B, D) or (K, B, D).
          step_seed: (2,) or (K, 2) int64.
        """
        return mmd_to_prior(terms, step_seed)

    def per_example_loss(self, terms):
        """The per-example part of the loss, (..., B): here -log p(x|z) alone."""
        return terms.distortion

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of ``per_example_loss``, plus lambda * MMD^2(q(z), p(z)).

        Args:
          terms: ``Terms`` of shape (..., B), z (..., B, D).
          weights: ``{"lambda": l}``, l a scalar or a (K, 1) column.
          step_seed: (2,) or (K, 2) int64; keys the prior samples.

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        mmd = self.penalty(terms, step_seed)
        return (tf.reduce_mean(self.per_example_loss(terms), axis=-1)
                + per_model_weight(weights["lambda"], mmd) * mmd)


class InfoVAE(AggregateMMD):
    """InfoVAE with alpha = 0 (Zhao et al. 2019): the VAE's loss plus lambda * MMD^2(q(z), p).

    The loss is mean_i [-log p(x_i|z_i) + KL(q(z|x_i) || p)] + lambda * MMD^2: the per-example KL
    keeps weight 1 and the aggregate is penalised more, on top of it. In Zhao et al.'s notation,
    -E log p(x|z) + (1 - alpha) E KL + (alpha + lambda' - 1) D with alpha = 0, so this lambda is
    their lambda' - 1; lambda = 0 is the VAE. The MMD, its prior samples and the scale of lambda
    are ``mmd``'s (``AggregateMMD``).
    """

    name = "infovae"
    weights = {"lambda": "weight of MMD^2(q(z), p(z)) added to the VAE's loss (per-example KL "
                         "weight 1), in nats per example per unit of MMD^2 (>= 0)"}
    label, weight_symbol, style = r"InfoVAE ($\alpha = 0$)", r"\lambda", (4, "v")
    tables = ("objectives", "convergence")

    def per_example_loss(self, terms):
        """-log p(x|z) + KL(q(z|x) || p), (..., B): the VAE's, to which the MMD is added."""
        return terms.distortion + terms.rate


class DeterministicWAE(AggregateMMD):
    """WAE-MMD with a deterministic encoder (Tolstikhin et al. 2018's usual setting): z = mu(x).

    The loss is mean_i -log p(x_i|mu_i) + lambda * MMD^2(q(z), p(z)), the codes z_i = mu_i (the
    reparameterisation noise is drawn, to keep the run's random streams, but not used). The
    encoder's scale sigma(x) takes no part in the loss; ``Terms.rate`` still logs the closed-form
    KL(N(mu, sigma^2) || N(0, I)) of that unused Gaussian, and the per-epoch information and
    aggregate KL use it as well: for a deterministic encoder these numbers are meaningless (its
    true rate is infinite). The MMD, its prior samples and the scale of lambda are ``mmd``'s.
    """

    name = "wae"
    weights = {"lambda": "weight of MMD^2(q(z), p(z)) with a deterministic encoder z = mu(x), in "
                         "nats per example per unit of MMD^2 (>= 0)"}
    label, weight_symbol, style = "WAE (det.)", r"\lambda", (5, "P")
    tables = ("objectives", "convergence")
    # q(z|x) is a point mass at mu(x): evaluation records the metrics of the (unused) Gaussian
    # q(z|x) as NaN (klgap.evaluation.evaluate.without_encoder_noise).
    deterministic_encoder = True

    def terms(self, vae, x, noise, labels=None):
        """Distortion -log p(x|mu) at z = mu; rate, loc and scale of the (unused) Gaussian.

        Args:
          vae: a ``klgap.models.vae.VAE`` (one model or K stacked).
          x: binary data, (..., B, P).
          noise: unused.
          labels: unused.

        Returns:
          ``Terms`` with z = loc.
        """
        from klgap.models import vae as model

        posterior = vae.encode(x)
        z = posterior.loc  # (..., B, D)
        return model.Terms(distortion=-vae.log_likelihood(x, z),
                           rate=vae.rate(posterior, z), z=z, loc=posterior.loc,
                           scale=posterior.scale.diag)


class LogVarianceWAE(AggregateMMD):
    """WAE-MMD with a Gaussian encoder and the log-variance penalty of Rubenstein, Schoelkopf &
    Tolstikhin 2018 ("On the latent space of Wasserstein auto-encoders"), against the variance
    collapse of ``mmd``.

    The loss is mean_i [-log p(x_i|z_i) + sum_j |log sigma_ij^2|] + lambda * MMD^2(q(z), p(z)) at
    z_i = mu_i + sigma_i * e_i: their L1 penalty on the log-variances (``z_logvar_regularisation:
    L1`` of their code, summed over the latent dimensions, averaged over the batch), with their
    weight 1, fixed, so that lambda stays the one swept weight. It pulls each sigma_ij towards 1,
    as the per-example KL would, but without the KL's pull on the means. The rate is logged but
    not penalised. The MMD, its prior samples and the scale of lambda are ``mmd``'s.
    """

    name = "waelogvar"
    weights = {"lambda": "weight of MMD^2(q(z), p(z)) with a Gaussian encoder whose "
                         "log-variances are penalised by sum |log sigma^2| (weight 1), in nats "
                         "per example per unit of MMD^2 (>= 0)"}
    label, weight_symbol, style = r"WAE ($|\log\sigma^2|$)", r"\lambda", (6, "X")
    tables = ("objectives", "convergence")
    log_variance_weight = 1.0  # Rubenstein et al.'s (fixed)

    def log_variance_penalty(self, terms):
        """sum_j |log sigma_ij^2| of each example: (..., B)."""
        import tensorflow as tf

        return tf.reduce_sum(tf.abs(2.0 * tf.math.log(terms.scale)), axis=-1)

    def per_example_loss(self, terms):
        """-log p(x|z) + sum_j |log sigma_j^2| (weight ``log_variance_weight``), (..., B)."""
        return terms.distortion + self.log_variance_weight * self.log_variance_penalty(terms)
