"""The VAE: an MLP Gaussian encoder and an MLP Bernoulli decoder, with prior N(0, I).

Built from plain ``tf.Variable``s in a ``tf.Module`` and returning ``tfp.distributions`` objects
(``tfp.layers`` are Keras 2 layers and break under Keras 3).
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

SCALE_FLOOR = 1e-4  # smallest posterior standard deviation


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


class Terms(NamedTuple):
    """Per-example terms of the objective, in nats, and the sample and posterior they used.

    The penalties on the aggregate posterior (``klgap.training.objectives``) need z, loc and scale; the
    other fields may be left out where only distortion and rate matter.
    """

    distortion: tf.Tensor  # (B,) -log p(x|z) for one z ~ q(z|x)
    rate: tf.Tensor  # (B,) KL(q(z|x) || p(z)), analytic
    z: tf.Tensor | None = None  # (B, D) the reparameterised sample loc + scale * noise
    loc: tf.Tensor | None = None  # (B, D) posterior means
    scale: tf.Tensor | None = None  # (B, D) posterior standard deviations


class VAE(tf.Module):
    """Encoder q(z|x) = N(mu(x), diag sigma(x)^2), decoder p(x|z) = Bernoulli(logits(z))."""

    def __init__(self, encoder_net: tf.Module, decoder_net: tf.Module, latent_dim: int):
        """Wraps encoder and decoder networks (``build`` makes the usual ones).

        Args:
          encoder_net: maps (..., P) data to (..., 2D): the means and raw scales of q(z|x).
          decoder_net: maps (..., D) latents to (..., P) Bernoulli logits.
          latent_dim: D.
        """
        super().__init__(name="vae")
        self.latent_dim = latent_dim
        self.encoder_net = encoder_net
        self.decoder_net = decoder_net
        self.prior = tfd.MultivariateNormalDiag(loc=tf.zeros(latent_dim))

    @classmethod
    def build(cls, data_dim: int, latent_dim: int, hidden: list[int], seed: int) -> "VAE":
        """Builds a VAE with MLP encoder and decoder.

        Args:
          data_dim: number of pixels P.
          latent_dim: D.
          hidden: hidden layer widths of the encoder; the decoder mirrors them.
          seed: seed of the weight initialisation (the decoder's is seed + 1).

        Returns:
          The VAE.
        """
        encoder_net = MLP([data_dim, *hidden, 2 * latent_dim], seed=seed, name="encoder")
        decoder_net = MLP([latent_dim, *hidden[::-1], data_dim], seed=seed + 1, name="decoder")
        return cls(encoder_net, decoder_net, latent_dim)

    def encode(self, x: tf.Tensor) -> tfd.MultivariateNormalDiag:
        """Returns q(z|x) for a batch x of shape (B, P)."""
        out = self.encoder_net(x)  # (B, 2D)
        loc, raw_scale = tf.split(out, 2, axis=-1)  # (B, D) each
        return tfd.MultivariateNormalDiag(loc=loc,
                                          scale_diag=tf.nn.softplus(raw_scale) + SCALE_FLOOR)

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

    def terms(self, x: tf.Tensor, noise: tf.Tensor) -> Terms:
        """Distortion and rate of each example, with the reparameterised sample z = mu + sigma*e.

        Args:
          x: binary data, (B, P) float32.
          noise: standard normal draws e, (B, D).

        Returns:
          ``Terms``: distortion and rate (B,), z, loc and scale (B, D).
        """
        posterior = self.encode(x)
        z = posterior.loc + posterior.scale.diag * noise  # (B, D)
        distortion = -self.log_likelihood(x, z)  # (B,)
        rate = tfd.kl_divergence(posterior, self.prior)  # (B,)
        return Terms(distortion=distortion, rate=rate, z=z, loc=posterior.loc,
                     scale=posterior.scale.diag)


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
