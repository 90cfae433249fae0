"""Objectives that keep a per-example KL: the beta-VAE, beta-TCVAE, and the beta-VAE against a
learned prior (VampPrior, a Gaussian per class)."""

from klgap.training.objectives.base import WeightedObjective, per_model, per_model_weight


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
