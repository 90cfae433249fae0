"""Adam (Kingma & Ba 2015) over a list of variables, with its state as plain variables.

The update is Keras's (``keras.optimizers.Adam``): epsilon is the paper's "epsilon hat", added to
sqrt(v) after the bias correction has been folded into the step size,

    alpha_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t),   var -= alpha_t * m / (sqrt(v) + epsilon).

Applied with TensorFlow's fused kernel (``ResourceApplyAdam``, the same formula) rather than
taken from Keras, so that the state is plain ``tf.Variable``s that a checkpoint stores as arrays
(``adam/step``, ``adam/m<i>``, ``adam/v<i>``), and so that stacked (K, ...) variables of
``klgap.training.batched`` get K independent updates from the same code.
"""

import numpy as np

STATE_PREFIX = "adam/"


class Adam:
    """Adam over a list of variables (each variable's moments have its shape)."""

    def __init__(self, variables, learning_rate: float, beta1=0.9, beta2=0.999, epsilon=1e-7):
        """Creates zero moments and a zero step count.

        Args:
          variables: the ``tf.Variable``s to optimise, in a fixed order.
          learning_rate: lr.
          beta1, beta2: decay rates of the first and second moments.
          epsilon: added to sqrt(v) (Keras's default, 1e-7).
        """
        import tensorflow as tf

        self.variables = list(variables)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = (
            learning_rate, beta1, beta2, epsilon)
        self.step = tf.Variable(0, dtype=tf.int64, name="adam/step")
        self.m = [tf.Variable(tf.zeros_like(v), name=f"adam/m{i}")
                  for i, v in enumerate(self.variables)]
        self.v = [tf.Variable(tf.zeros_like(v), name=f"adam/v{i}")
                  for i, v in enumerate(self.variables)]

    def apply(self, gradients) -> None:
        """Takes one Adam step with the given gradients (inside a tf.function)."""
        import tensorflow as tf

        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float32)
        constants = {name: tf.constant(value, tf.float32) for name, value in (
            ("lr", self.learning_rate), ("beta1", self.beta1), ("beta2", self.beta2),
            ("epsilon", self.epsilon))}
        beta1_power, beta2_power = constants["beta1"] ** t, constants["beta2"] ** t
        # TensorFlow's one-kernel update (the formula above, one pass over each variable instead
        # of a kernel per elementwise operation): saves about 9% of a training step on a CPU
        # (results/bench/step_parts.csv, fused_adam).
        for var, grad, m, v in zip(self.variables, gradients, self.m, self.v):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle,
                                         beta1_power=beta1_power, beta2_power=beta2_power,
                                         grad=grad, **constants)

    def state(self) -> dict[str, np.ndarray]:
        """Returns the state as arrays: ``adam/step``, ``adam/m<i>``, ``adam/v<i>``."""
        state = {f"{STATE_PREFIX}step": self.step.numpy()}
        state.update({f"{STATE_PREFIX}m{i}": m.numpy() for i, m in enumerate(self.m)})
        state.update({f"{STATE_PREFIX}v{i}": v.numpy() for i, v in enumerate(self.v)})
        return state

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Restores the state saved by ``state()``."""
        self.step.assign(state[f"{STATE_PREFIX}step"])
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m.assign(state[f"{STATE_PREFIX}m{i}"])
            v.assign(state[f"{STATE_PREFIX}v{i}"])
