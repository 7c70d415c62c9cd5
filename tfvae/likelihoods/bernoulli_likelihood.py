"""Bernoulli decoder likelihood."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import bernoulli_log_likelihood


@registry.register("likelihood", "bernoulli")
class BernoulliLikelihood(keras.layers.Layer):
    """Bernoulli ("cross-entropy") decoder: raw outputs are logits, the mean is their sigmoid.

    The "cross-entropy" baseline of the two-stage VAE paper's table 1.
    """

    bounded = True

    def training_state(self):
        """Scalars of the likelihood's learned state, logged every epoch (none)."""
        return {}

    def mean(self, outputs):
        """Returns the decoder mean sigmoid(outputs), in [0, 1]."""
        return tf.sigmoid(outputs)

    def log_prob(self, x, outputs):
        """Returns log p(x | z), shape [B]."""
        return bernoulli_log_likelihood(x, outputs)

    def call(self, outputs):
        return self.mean(outputs)
