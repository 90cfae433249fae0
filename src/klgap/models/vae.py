"""The VAE: an MLP Gaussian encoder and an MLP Bernoulli decoder, with a prior p(z).

The prior is N(0, I) (``STANDARD``), or one of two learned priors whose variables are a
``prior`` sub-module of the VAE, so that ``trainable_variables``, ``get_weights``,
``set_weights`` and the checkpoints carry them with the networks' weights:

- ``VAMP``: ``VampPrior``, p(z) = (1/K) sum_k q(z|u_k) over K learned pseudo-inputs u_k
  (Tomczak & Welling 2018);
- ``CLASS_CONDITIONAL``: ``ClassConditionalPrior``, p(z|y) = N(m_y, diag s_y^2), a learned mean
  and log-scale per class.

Built from plain ``tf.Variable``s in a ``tf.Module`` and returning ``tfp.distributions`` objects
(``tfp.layers`` are Keras 2 layers and break under Keras 3).
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

SCALE_FLOOR = 1e-4  # smallest posterior standard deviation
# The priors (``klgap.training.objectives``: each objective names the prior its model has).
STANDARD, VAMP, CLASS_CONDITIONAL = "standard", "vamp", "class_conditional"
PRIORS = (STANDARD, VAMP, CLASS_CONDITIONAL)
DEFAULT_NUM_PSEUDO_INPUTS = 500  # K of the VampPrior (Tomczak & Welling's MNIST experiments)
NUM_CLASSES = 10  # classes of the class-conditional prior (digits, MNIST, Fashion-MNIST)
# The initialisation's stream of the priors' variables: seed [s, PRIOR_INIT_STREAM] for a run of
# seed s (the encoder's layers use [s, i] and the decoder's [s + 1, i], i the layer's index).
PRIOR_INIT_STREAM = 7919
# Initial pseudo-inputs: N(mean, std^2) grey levels, the defaults of Tomczak & Welling's code.
PSEUDO_INPUT_INIT_MEAN, PSEUDO_INPUT_INIT_STD = 0.05, 0.01


class MLP(tf.Module):
    """A multilayer perceptron with ReLU hidden layers and a linear output layer."""

    def __init__(self, sizes: list[int], seed: int, name: str):
        """Creates Glorot-uniform weights and zero biases.

        Args:
          sizes: layer widths, input first, output last.
          seed: seed of the stateless weight initialisation.
          name: module name (prefix of the variable names).
        """
        super().__init__(name=name)
        self.weights, self.biases = [], []
        with self.name_scope:
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                w = tf.random.stateless_uniform((fan_in, fan_out), seed=[seed, i],
                                                minval=-limit, maxval=limit)
                self.weights.append(tf.Variable(w, name=f"w{i}"))
                self.biases.append(tf.Variable(tf.zeros([fan_out]), name=f"b{i}"))

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            x = tf.nn.relu(x @ w + b)
        return x @ self.weights[-1] + self.biases[-1]


def gaussian_posterior(encoder_net: tf.Module, x: tf.Tensor) -> tfd.MultivariateNormalDiag:
    """q(z|x) = N(mu(x), diag sigma(x)^2) from an encoder network's (..., 2D) output.

    sigma = softplus(raw scale) + ``SCALE_FLOOR``.
    """
    out = encoder_net(x)  # (B, 2D)
    loc, raw_scale = tf.split(out, 2, axis=-1)  # (B, D) each
    return tfd.MultivariateNormalDiag(loc=loc,
                                      scale_diag=tf.nn.softplus(raw_scale) + SCALE_FLOOR)


class VampPrior(tf.Module):
    """The VampPrior p(z) = (1/K) sum_k q(z|u_k) (Tomczak & Welling 2018).

    The K pseudo-inputs u_k live in data space: u = clip(w, 0, 1), w a free (K, P) variable,
    initialised N(0.05, 0.01^2) per pixel from the run's seed; the clipping is the Hardtanh(0, 1)
    of the paper's code (whose pseudo-inputs are a linear layer, initialised N(0.05, 0.01^2),
    applied to an identity matrix: the same free (K, P) matrix). q is the VAE's own encoder, so
    the prior moves with the encoder; the mixture is ``tfd.MixtureSameFamily`` with uniform
    weights 1/K.
    """

    def __init__(self, encoder_net: tf.Module, num_pseudo_inputs: int,
                 data_shape: tuple[int, ...], seed: int):
        """Creates the pseudo-inputs.

        Args:
          encoder_net: the VAE's encoder network (shared, not copied: its variables stay the
            encoder's).
          num_pseudo_inputs: K.
          data_shape: the shape of one example, (P,) for flattened images.
          seed: the run's seed (the pseudo-inputs use [seed, PRIOR_INIT_STREAM]).
        """
        super().__init__(name="prior")
        self.encoder_net = encoder_net
        self.num_pseudo_inputs = num_pseudo_inputs
        with self.name_scope:
            initial = PSEUDO_INPUT_INIT_MEAN + PSEUDO_INPUT_INIT_STD * tf.random.stateless_normal(
                (num_pseudo_inputs, *data_shape), seed=[seed, PRIOR_INIT_STREAM])
            self.pseudo_input_weights = tf.Variable(initial, name="pseudo_inputs")  # (K, P)

    def pseudo_inputs(self) -> tf.Tensor:
        """u_k in [0, 1], (K, P)."""
        return tf.clip_by_value(self.pseudo_input_weights, 0.0, 1.0)

    def distribution(self) -> tfd.MixtureSameFamily:
        """p(z) as a mixture over the K posteriors q(z|u_k): batch shape (), event shape (D,)."""
        components = gaussian_posterior(self.encoder_net, self.pseudo_inputs())  # batch (K,)
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_pseudo_inputs])),
            components_distribution=components)

    def log_prob(self, z: tf.Tensor, labels=None) -> tf.Tensor:
        """log p(z), (...,) for z (..., D); labels are ignored."""
        return self.distribution().log_prob(z)

    def rate(self, posterior: tfd.MultivariateNormalDiag, z: tf.Tensor, labels=None) -> tf.Tensor:
        """The single-sample Monte Carlo rate log q(z|x) - log p(z) at the given z ~ q(z|x), (B,).

        An unbiased estimate of KL(q(z|x) || p(z)), which has no closed form here; one example's
        value can be negative.
        """
        return posterior.log_prob(z) - self.log_prob(z)


class ClassConditionalPrior(tf.Module):
    """p(z|y) = N(m_y, diag s_y^2): a learned mean and log-scale per class, initially N(0, I).

    The prior of an example is its class's; ``log_prob`` without labels is the marginal
    (1/C) sum_y p(z|y) (uniform class weights).
    """

    def __init__(self, num_classes: int, latent_dim: int):
        """Creates zero means and zero log-scales, (C, D) each."""
        super().__init__(name="class_prior")
        self.num_classes = num_classes
        with self.name_scope:
            self.loc = tf.Variable(tf.zeros([num_classes, latent_dim]), name="loc")
            self.log_scale = tf.Variable(tf.zeros([num_classes, latent_dim]), name="log_scale")

    def conditional(self, labels: tf.Tensor) -> tfd.MultivariateNormalDiag:
        """p(z|y) for each label, batch shape that of labels."""
        return tfd.MultivariateNormalDiag(loc=tf.gather(self.loc, labels),
                                          scale_diag=tf.exp(tf.gather(self.log_scale, labels)))

    def distribution(self) -> tfd.MixtureSameFamily:
        """The marginal (1/C) sum_y p(z|y): batch shape (), event shape (D,)."""
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_classes])),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=self.loc, scale_diag=tf.exp(self.log_scale)))

    def log_prob(self, z: tf.Tensor, labels=None) -> tf.Tensor:
        """log p(z|y) if labels (broadcastable against z's (...,)) are given, else the marginal."""
        if labels is None:
            return self.distribution().log_prob(z)
        return self.conditional(labels).log_prob(z)

    def rate(self, posterior: tfd.MultivariateNormalDiag, z: tf.Tensor, labels=None) -> tf.Tensor:
        """KL(q(z|x) || p(z|y_x)) in closed form, (B,); z is unused.

        Raises:
          ValueError: no labels.
        """
        if labels is None:
            raise ValueError("the class-conditional prior's rate needs the examples' labels")
        return tfd.kl_divergence(posterior, self.conditional(labels))


class Terms(NamedTuple):
    """Per-example terms of the objective, in nats, and the sample and posterior they used.

    The penalties on the aggregate posterior (``klgap.training.objectives``) need z, loc and
    scale; the other fields may be left out where only distortion and rate matter.
    """

    distortion: tf.Tensor  # (B,) -log p(x|z) for one z ~ q(z|x)
    rate: tf.Tensor  # (B,) KL(q(z|x) || p(z)): analytic, or as the prior's ``rate`` estimates it
    z: tf.Tensor | None = None  # (B, D) the reparameterised sample loc + scale * noise
    loc: tf.Tensor | None = None  # (B, D) posterior means
    scale: tf.Tensor | None = None  # (B, D) posterior standard deviations


class VAE(tf.Module):
    """Encoder q(z|x) = N(mu(x), diag sigma(x)^2), decoder p(x|z) = Bernoulli(logits(z)).

    ``prior`` is N(0, I) as a ``tfd.MultivariateNormalDiag`` (``prior_kind`` ``STANDARD``), or a
    learned prior module (``VampPrior``, ``ClassConditionalPrior``) with ``log_prob(z, labels)``,
    ``distribution()`` and ``rate(posterior, z, labels)``.
    """

    def __init__(self, encoder_net: tf.Module, decoder_net: tf.Module, latent_dim: int,
                 prior: tf.Module | None = None):
        """Wraps encoder and decoder networks (``build`` makes the usual ones).

        Args:
          encoder_net: maps (..., P) data to (..., 2D): the means and raw scales of q(z|x).
          decoder_net: maps (..., D) latents to (..., P) Bernoulli logits.
          latent_dim: D.
          prior: a learned prior module, or None for N(0, I).
        """
        super().__init__(name="vae")
        self.latent_dim = latent_dim
        self.encoder_net = encoder_net
        self.decoder_net = decoder_net
        if prior is None:
            self.prior_kind = STANDARD
            self.prior = tfd.MultivariateNormalDiag(loc=tf.zeros(latent_dim))
        else:
            self.prior_kind = VAMP if isinstance(prior, VampPrior) else CLASS_CONDITIONAL
            self.prior = prior

    @classmethod
    def build(cls, data_dim: int, latent_dim: int, hidden: list[int], seed: int,
              prior: str = STANDARD, num_pseudo_inputs: int = DEFAULT_NUM_PSEUDO_INPUTS,
              num_classes: int = NUM_CLASSES) -> "VAE":
        """Builds a VAE with MLP encoder and decoder.

        Args:
          data_dim: number of pixels P.
          latent_dim: D.
          hidden: hidden layer widths of the encoder; the decoder mirrors them.
          seed: seed of the weight initialisation (the decoder's is seed + 1, the prior's
            [seed, PRIOR_INIT_STREAM]).
          prior: one of ``PRIORS``.
          num_pseudo_inputs: K of the VampPrior.
          num_classes: C of the class-conditional prior.

        Returns:
          The VAE.

        Raises:
          ValueError: an unknown prior.
        """
        encoder_net = MLP([data_dim, *hidden, 2 * latent_dim], seed=seed, name="encoder")
        decoder_net = MLP([latent_dim, *hidden[::-1], data_dim], seed=seed + 1, name="decoder")
        return with_prior(cls(encoder_net, decoder_net, latent_dim), prior, (data_dim,), seed,
                          num_pseudo_inputs, num_classes)

    def encode(self, x: tf.Tensor) -> tfd.MultivariateNormalDiag:
        """Returns q(z|x) for a batch x of shape (B, P)."""
        return gaussian_posterior(self.encoder_net, x)

    def prior_distribution(self) -> tfd.Distribution:
        """p(z) as a distribution (event shape (D,)), e.g. to sample codes from: N(0, I), the
        VampPrior's mixture, or the class-conditional prior's marginal (1/C) sum_y p(z|y)."""
        if self.prior_kind == STANDARD:
            return self.prior
        return self.prior.distribution()

    def log_prior(self, z: tf.Tensor, labels=None) -> tf.Tensor:
        """log p(z) (log p(z|y) for the class-conditional prior given labels), (...,)."""
        if self.prior_kind == STANDARD:
            return self.prior.log_prob(z)
        return self.prior.log_prob(z, labels)

    def rate(self, posterior: tfd.MultivariateNormalDiag, z: tf.Tensor, labels=None) -> tf.Tensor:
        """Per-example KL(q(z|x) || p(z)), (B,): in closed form for N(0, I) and for p(z|y_x), the
        single-sample estimate log q(z|x) - log p(z) at z for the VampPrior."""
        if self.prior_kind == STANDARD:
            return tfd.kl_divergence(posterior, self.prior)
        return self.prior.rate(posterior, z, labels)

    def decode(self, z: tf.Tensor) -> tfd.Independent:
        """Returns p(x|z) for latents z of shape (..., D): independent Bernoulli pixels."""
        return tfd.Independent(tfd.Bernoulli(logits=self.decoder_net(z)),
                               reinterpreted_batch_ndims=1)

    def log_likelihood(self, x: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
        """log p(x|z) of binary x under the Bernoulli decoder, (...,) for z (..., D).

        ``decode(z).log_prob(x)`` in closed form, sum_p [x_p l_p - softplus(l_p)] with l the
        logits: the same value (to float32 rounding) at about two thirds of the cost of TFP's
        Bernoulli, whose log-likelihood is most of the decoder's elementwise work.
        """
        logits = self.decoder_net(z)  # (..., P)
        return tf.reduce_sum(x * logits - tf.nn.softplus(logits), axis=-1)

    def terms(self, x: tf.Tensor, noise: tf.Tensor, labels: tf.Tensor | None = None) -> Terms:
        """Distortion and rate of each example, with the reparameterised sample z = mu + sigma*e.

        Args:
          x: binary data, (B, P) float32.
          noise: standard normal draws e, (B, D).
          labels: the examples' classes, (B,) int (the class-conditional prior needs them).

        Returns:
          ``Terms``: distortion and rate (B,), z, loc and scale (B, D).
        """
        posterior = self.encode(x)
        z = posterior.loc + posterior.scale.diag * noise  # (B, D)
        distortion = -self.log_likelihood(x, z)  # (B,)
        rate = self.rate(posterior, z, labels)  # (B,)
        return Terms(distortion=distortion, rate=rate, z=z, loc=posterior.loc,
                     scale=posterior.scale.diag)


def with_prior(vae: VAE, prior: str, data_shape: tuple[int, ...], seed: int,
               num_pseudo_inputs: int = DEFAULT_NUM_PSEUDO_INPUTS,
               num_classes: int = NUM_CLASSES) -> VAE:
    """The VAE with the same encoder and decoder networks and the given prior.

    Args:
      vae: a VAE (its prior is replaced; its networks are shared, not copied).
      prior: one of ``PRIORS``.
      data_shape: the shape of one example (the pseudo-inputs': (P,) for flattened images).
      seed: the run's seed (the VampPrior's pseudo-inputs use [seed, PRIOR_INIT_STREAM]).
      num_pseudo_inputs: K of the VampPrior.
      num_classes: C of the class-conditional prior.

    Returns:
      A VAE, fresh prior variables (none for N(0, I)).

    Raises:
      ValueError: an unknown prior.
    """
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; the priors are {', '.join(PRIORS)}")
    module = {STANDARD: lambda: None,
              VAMP: lambda: VampPrior(vae.encoder_net, num_pseudo_inputs, data_shape, seed),
              CLASS_CONDITIONAL: lambda: ClassConditionalPrior(num_classes, vae.latent_dim),
              }[prior]()
    return VAE(vae.encoder_net, vae.decoder_net, vae.latent_dim, module)


def get_weights(model: tf.Module) -> dict[str, np.ndarray]:
    """Returns the model's variables as NumPy arrays keyed by variable path."""
    return {variable_key(v): v.numpy() for v in model.trainable_variables}


def set_weights(model: tf.Module, weights: dict[str, np.ndarray]) -> None:
    """Assigns arrays (as from ``get_weights``) to the model's variables, checking the keys."""
    variables = {variable_key(v): v for v in model.trainable_variables}
    missing = sorted(set(variables) - set(weights))
    if missing:
        raise ValueError(f"weights lack {missing}")
    for key, variable in variables.items():
        variable.assign(weights[key])


def variable_key(variable: tf.Variable) -> str:
    """A stable key for a variable, e.g. ``encoder/w0``."""
    return variable.name.split(":")[0]
