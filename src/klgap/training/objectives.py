"""Training objectives: what a run minimises, as a plug-in of the training core (``engine``).

An objective has a name (a path component of its runs and the tables' ``objective`` column),
named weights (hyperparameters: path components and table columns too), the per-example terms
it logs (distortion and rate, so that every objective's history reads the same) and its loss.
The core calls ``terms`` and ``loss`` on one model's (B, .) batch or on K stacked models'
(K, B, .) batches; weights then arrive as scalars or as (K, 1) columns, the step's seed as (2,)
or (K, 2). Penalties on the aggregate posterior are computed per model, so model k of a stack
minimises exactly the loss of its separate run. A new objective is a new class here plus its
entry in ``OBJECTIVES`` and in the schema's ``objective`` enum (docs/extending.md).

An objective also describes itself to the tables and figures: ``label`` (its LaTeX name),
``weight_symbol`` (its weight's LaTeX symbol), ``style`` (an index into the figures' categorical
palette and a matplotlib marker) and ``tables`` (which of the paper's tables list it, from
``TABLES``). This module imports TensorFlow only inside the losses, so the workflow and the
figures can read the descriptions without it.

An objective also names the prior of its model (``prior``: ``standard`` N(0, I), ``vamp`` or
``class_conditional``; ``klgap.models.networks.build_model`` builds it), whether its terms need
the examples' labels (``needs_labels``: the core then passes ``labels`` to ``terms``) and whether
K models can be stacked (``stackable``: the learned priors cannot; the core refuses them by name).

In every formula below the mean runs over the batch's B examples, d_i = -log p(x_i|z_i) (nats,
summed over pixels) at one reparameterised z_i = mu_i + sigma_i e_i, r_i the rate of example i
(``Terms.rate``), and MMD^2 the batch's ``penalties.imq_mmd_squared`` between the codes and B
prior samples (one number per batch, added once: see ``AggregateMMD`` for the scale of lambda).

- ``vae``: mean_i [d_i + beta r_i] (the beta-VAE).
- ``mmd``: mean_i d_i + lambda MMD^2 (InfoVAE with alpha = 1, WAE-MMD with a Gaussian encoder).
- ``tcvae``: mean_i [d_i + r_i] + (beta - 1) TC (beta-TCVAE).
- ``infovae``: mean_i [d_i + r_i] + lambda MMD^2 (InfoVAE with alpha = 0).
- ``wae``: mean_i d_i + lambda MMD^2 at z_i = mu_i (WAE-MMD, deterministic encoder).
- ``waelogvar``: mean_i [d_i + sum_j |log sigma_ij^2|] + lambda MMD^2 (WAE-MMD, Gaussian encoder
  with Rubenstein et al.'s log-variance penalty).
- ``vamp``: mean_i [d_i + beta r_i], r_i = log q(z_i|x_i) - log p_vamp(z_i) (the VampPrior).
- ``classprior``: mean_i [d_i + beta KL(q(z|x_i) || p(z|y_i))] (a learned prior per class).
"""

import math
from typing import Callable, ClassVar, Protocol

from klgap.errors import UserError

# The paper's tables an objective can be listed in: ``main``, the beta-VAE's grid (Table 1 and the
# named values); ``objectives``, the comparison of the objectives (in the cells where one not of
# ``main`` ran); ``convergence``, the final slopes of the training curves.
TABLES = ("main", "objectives", "convergence")
# Objectives renamed since older results were written: old name -> name. Tables and
# configuration snapshots that use an old name are read with the new one (``klgap.sweep.layout``).
RENAMED = {"aggregate": "mmd"}


class Objective(Protocol):
    """The interface the training core uses (``get`` makes one)."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]  # weight name -> meaning (its --help text)
    min_batch_size: ClassVar[int]  # smallest batch the loss is defined for
    label: ClassVar[str]  # LaTeX name in tables and legends
    weight_symbol: ClassVar[str]  # LaTeX symbol of the weight, e.g. r"\beta"
    style: ClassVar[tuple[int, str]]  # (index into the figures' categorical palette, marker)
    tables: ClassVar[tuple[str, ...]]  # the tables of ``TABLES`` that list it
    prior: ClassVar[str]  # the model's prior (``klgap.models.vae.PRIORS``)
    needs_labels: ClassVar[bool]  # terms need the examples' labels
    stackable: ClassVar[bool]  # K models can be trained stacked (``klgap.training.batched``)

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns one message per invalid weight (empty if all are valid)."""

    def terms(self, vae, x, noise, labels=None):
        """``klgap.models.vae.Terms``: per-example (B,) (or (K, B)) distortion, rate, z, loc, scale.

        labels, the examples' (B,) classes, are given only to objectives that need them.
        """

    def loss(self, terms, weights, step_seed):
        """The loss of each model, averaged over its batch: () or (K,).

        step_seed is the step's (2,) (or (K, 2)) int64 seed, for the objective's own draws.
        """


class WeightedObjective:
    """What the objectives share: non-negative weights and the training set's size."""

    name: ClassVar[str]
    weights: ClassVar[dict[str, str]]
    min_batch_size: ClassVar[int] = 1
    prior: ClassVar[str] = "standard"
    needs_labels: ClassVar[bool] = False
    stackable: ClassVar[bool] = True

    def __init__(self, num_examples: int | None = None):
        """Args: num_examples: N, the size of the training set (None where no loss is needed)."""
        self.num_examples = num_examples

    def check(self, weights: dict[str, float]) -> list[str]:
        """Returns a message for each weight that is not a finite number >= 0."""
        messages = []
        for name in self.weights:
            value = weights[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                messages.append(f"{name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                messages.append(f"{name} must be finite, got {value}")
            elif value < 0:
                messages.append(f"{name} must be >= 0, got {value}")
        return messages

    def terms(self, vae, x, noise, labels=None):
        """Distortion -log p(x|z) at z = mu + sigma * noise, the rate, z, loc, scale.

        The rate is the model's (``VAE.terms``): KL(q(z|x) || N(0, I)) in closed form for the
        standard prior. labels are not used.
        """
        return vae.terms(x, noise)


class BetaVAE(WeightedObjective):
    """The beta-VAE (Higgins et al. 2017); beta = 1 is the VAE's negative ELBO."""

    name = "vae"
    weights = {"beta": "KL weight (>= 0)"}
    label, weight_symbol, style = r"$\beta$-VAE", r"\beta", (0, "o")
    tables = ("main", "objectives", "convergence")

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + beta * KL(q(z|x) || p(z)).

        One reparameterised sample estimates the expectation; the KL is in closed form.

        Args:
          terms: ``Terms`` of shape (..., B).
          weights: ``{"beta": b}``, b broadcastable against (..., B).
          step_seed: unused (the loss draws nothing).

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        return tf.reduce_mean(terms.distortion + weights["beta"] * terms.rate, axis=-1)


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

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z), plus lambda * MMD^2(q(z), p(z)).

        Args:
          terms: ``Terms`` of shape (..., B), z (..., B, D).
          weights: ``{"lambda": l}``, l a scalar or a (K, 1) column.
          step_seed: (2,) or (K, 2) int64; keys the prior samples.

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        mmd = self.penalty(terms, step_seed)
        return tf.reduce_mean(terms.distortion, axis=-1) + per_model_weight(weights["lambda"],
                                                                             mmd) * mmd


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

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + KL(q(z|x) || p), plus lambda * MMD^2.

        Args:
          terms: ``Terms`` of shape (..., B), z (..., B, D).
          weights: ``{"lambda": l}``, l a scalar or a (K, 1) column.
          step_seed: (2,) or (K, 2) int64; keys the prior samples.

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        mmd = self.penalty(terms, step_seed)
        return (tf.reduce_mean(terms.distortion + terms.rate, axis=-1)
                + per_model_weight(weights["lambda"], mmd) * mmd)


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

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + sum_j |log sigma_j^2|, plus lambda * MMD^2.

        Args:
          terms: ``Terms`` of shape (..., B), z and scale (..., B, D).
          weights: ``{"lambda": l}``, l a scalar or a (K, 1) column.
          step_seed: (2,) or (K, 2) int64; keys the prior samples.

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        mmd = self.penalty(terms, step_seed)
        return (tf.reduce_mean(terms.distortion
                               + self.log_variance_weight * self.log_variance_penalty(terms),
                               axis=-1)
                + per_model_weight(weights["lambda"], mmd) * mmd)


class BetaTCVAE(WeightedObjective):
    """beta-TCVAE (Chen et al. 2018): the VAE's loss plus (beta - 1) times the total correlation.

    The loss is mean_i [-log p(x_i|z_i) + KL(q(z|x_i) || p)] + (beta - 1) * TC, the rate in
    closed form (so beta = 1 is the VAE, and the dimension-wise KL and the information keep
    weight 1). TC = mean_i [log q(z_i) - sum_j log q(z_ij)] is estimated from the batch alone by
    ``penalties.minibatch_total_correlation`` with N = the training set's size: minibatch
    stratified sampling in the simple unbiased variant that ``penalties`` names, importance
    weight 1/N for the sample's own component and (N - 1) / (N (B - 1)) for each of the other
    B - 1 (as ``klgap.estimators.decomposition.minibatch_log_weights("mss")``), along each row.
    The public code's weight matrix (rtqichen/beta-tcvae ``_log_importance_weight_matrix``,
    copied into other libraries), which puts the weights down columns instead of along the
    diagonal, is not reproduced.
    """

    name = "tcvae"
    weights = {"beta": "total correlation weight; 1 is the VAE (>= 0)"}
    label, weight_symbol, style = r"$\beta$-TCVAE", r"\beta", (2, "^")
    tables = ("objectives", "convergence")
    min_batch_size = 2  # the stratified weights need another component than the own one

    def penalty(self, terms, step_seed=None):
        """The batch's total correlation estimate: () (or (K,), one per model).

        Args:
          terms: ``Terms`` with z, loc and scale (B, D) or (K, B, D).
          step_seed: unused.

        Raises:
          ValueError: the objective was made without the training set's size.
        """
        from klgap.training import penalties

        if self.num_examples is None:
            raise ValueError("tcvae needs the training set's size: objectives.get('tcvae', N)")
        return per_model(lambda z, loc, scale: penalties.minibatch_total_correlation(
            z, loc, scale, self.num_examples), terms.z, terms.loc, terms.scale)

    def loss(self, terms, weights, step_seed):
        """Mean over the batch of -log p(x|z) + KL(q(z|x) || p), plus (beta - 1) * TC.

        Args:
          terms: ``Terms`` of shape (..., B), z, loc, scale (..., B, D).
          weights: ``{"beta": b}``, b a scalar or a (K, 1) column.
          step_seed: unused (the loss draws nothing).

        Returns:
          The loss of each model, shape (...).
        """
        import tensorflow as tf

        total_correlation = self.penalty(terms)
        return (tf.reduce_mean(terms.distortion + terms.rate, axis=-1)
                + per_model_weight(weights["beta"] - 1.0, total_correlation) * total_correlation)


class VampPriorVAE(BetaVAE):
    """The beta-VAE with the VampPrior (Tomczak & Welling 2018) instead of N(0, I).

    p(z) = (1/K) sum_k q(z|u_k), K learned pseudo-inputs u_k in data space
    (``klgap.models.vae.VampPrior``: u = clip(w, 0, 1), w initialised N(0.05, 0.01^2); K is the
    run's ``num_pseudo_inputs``). The rate has no closed form: r_i is the single-sample Monte
    Carlo estimate log q(z_i|x_i) - log p(z_i) at the reparameterised z_i = mu_i + sigma_i e_i,
    unbiased for KL(q(z|x_i) || p), its gradient through z_i, the encoder (of x_i and of the
    pseudo-inputs) and the pseudo-inputs. The loss is mean_i [-log p(x_i|z_i) + beta r_i];
    beta = 1 is the VampPrior VAE, whose logged ELBO -(distortion + rate) is then the usual
    single-sample ELBO. The prior learns the aggregate posterior, so the per-example KL no longer
    pulls q(z) towards a fixed N(0, I).
    """

    name = "vamp"
    weights = {"beta": "KL weight against the VampPrior (learned pseudo-inputs); 1 is the "
                       "VampPrior VAE (>= 0)"}
    label, weight_symbol, style = "VampPrior", r"\beta", (1, "p")
    tables = ("objectives", "convergence")
    prior = "vamp"
    stackable = False  # the pseudo-inputs are not stacked by klgap.training.batched

    def terms(self, vae, x, noise, labels=None):
        """As the VAE's, with the rate against the VampPrior (Monte Carlo, see the class).

        Raises:
          ValueError: the model does not have a VampPrior.
        """
        if getattr(vae, "prior_kind", None) != self.prior:
            raise ValueError(f"objective {self.name} needs a model with the VampPrior "
                             "(networks.build_model builds one for it)")
        return vae.terms(x, noise)


class ClassPriorVAE(BetaVAE):
    """The beta-VAE with a learned class-conditional prior p(z|y) = N(m_y, diag s_y^2).

    Each class y has a learned mean m_y and log-scale log s_y (``ClassConditionalPrior`` of
    ``klgap.models.vae``, initially 0: the prior starts as N(0, I)); example i is penalised
    against its own class's prior, in closed form: r_i = KL(q(z|x_i) || p(z|y_i)) =
    sum_j [log(s_j / sigma_ij) + (sigma_ij^2 + (mu_ij - m_j)^2) / (2 s_j^2) - 1/2], y = y_i. The
    loss is mean_i [-log p(x_i|z_i) + beta r_i]. The classes need not share one region of the
    latent space: E_x KL(q(z|x) || p(z|y)) = I(x; z | y) + E_y KL(q(z|y) || p(z|y)), so I(y; z)
    is no longer paid for. The training core passes the batch's labels (``needs_labels``).
    """

    name = "classprior"
    weights = {"beta": "KL weight against the learned prior of the example's class, "
                       "p(z|y) = N(m_y, s_y^2) (>= 0)"}
    label, weight_symbol, style = r"class prior $p(z|y)$", r"\beta", (9, "h")
    tables = ("objectives", "convergence")
    prior = "class_conditional"
    needs_labels = True
    stackable = False  # the class priors are not stacked by klgap.training.batched

    def terms(self, vae, x, noise, labels=None):
        """As the VAE's, with the rate against p(z|y) of each example's label.

        Raises:
          ValueError: no labels, or the model does not have a class-conditional prior.
        """
        if labels is None:
            raise ValueError(f"objective {self.name} needs the examples' labels")
        if getattr(vae, "prior_kind", None) != self.prior:
            raise ValueError(f"objective {self.name} needs a model with the class-conditional "
                             "prior (networks.build_model builds one for it)")
        return vae.terms(x, noise, labels)


def prior_sample_seed(step_seed):
    """The seed of a step's prior samples: (s, -t - 1) for the step seed (s, t).

    No other draw of a run has a negative second seed component (the engine's binarization and
    reparameterisation noise use (s, 2 step) and (s, 2 step + 1), the initialisation and the
    evaluation non-negative ones too), so the prior samples are independent of every other draw.

    Args:
      step_seed: (2,) int64.

    Returns:
      (2,) int64.
    """
    import tensorflow as tf

    return tf.stack([step_seed[0], -step_seed[1] - 1])


def per_model(penalty: Callable, *tensors):
    """Applies a one-model penalty to (B, .) tensors, or to each model's slice of (K, B, .) ones.

    Args:
      penalty: maps one model's tensors to a scalar.
      *tensors: one model's (the first of rank 2, e.g. z (B, D)) or K models' (first (K, B, D)).

    Returns:
      () for one model, (K,) for K.
    """
    import tensorflow as tf

    if tensors[0].shape.rank == 2:
        return penalty(*tensors)
    return tf.stack([penalty(*(t[k] for t in tensors)) for k in range(tensors[0].shape[0])])


def per_model_weight(weight, penalty):
    """A weight (scalar, or (K, 1) column for stacked models) shaped like the penalty: () or (K,)
    (for a (K, 1) column)."""
    import tensorflow as tf

    return tf.reshape(weight, tf.shape(penalty))


OBJECTIVES: dict[str, type] = {objective.name: objective
                               for objective in (BetaVAE, AggregateMMD, BetaTCVAE, InfoVAE,
                                                 DeterministicWAE, LogVarianceWAE, VampPriorVAE,
                                                 ClassPriorVAE)}


def get(name: str, num_examples: int | None = None) -> Objective:
    """Returns the objective called ``name``.

    Args:
      name: a key of ``OBJECTIVES``.
      num_examples: N, the training set's size (needed by ``tcvae``'s loss).

    Raises:
      UserError: no such objective.
    """
    if name not in OBJECTIVES:
        raise UserError(f"unknown objective {name!r}; the objectives are: {', '.join(OBJECTIVES)}.")
    return OBJECTIVES[name](num_examples)


def listed_in(table: str) -> list[str]:
    """The objectives that one of the paper's tables lists, in ``OBJECTIVES`` order.

    Args:
      table: a name from ``TABLES``.

    Raises:
      ValueError: not a table of ``TABLES``.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; the tables are {', '.join(TABLES)}")
    return [name for name, objective in OBJECTIVES.items() if table in objective.tables]


def weight_names() -> list[str]:
    """Every weight of every objective, once, in order (the commands' weight options)."""
    return list(dict.fromkeys(name for cls in OBJECTIVES.values() for name in cls.weights))


def weight_name(name: str) -> str:
    """The name of the one weight that a sweep varies for objective ``name`` (e.g. ``beta``).

    Raises:
      UserError: no such objective.
    """
    [weight] = get(name).weights
    return weight
