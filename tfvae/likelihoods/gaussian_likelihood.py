"""Gaussian decoder likelihood with a fixed variance."""
import math

import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import gaussian_log_likelihood


@registry.register("likelihood", "gaussian")
class GaussianLikelihood(keras.layers.Layer):
    """Gaussian decoder N(x | mu, gamma I) with a fixed variance gamma.

    With gamma = 1/2 the negative log-likelihood is the squared error ||x - mu||^2 of the RAE paper (eq. 10) plus a
    constant.

    Args:
        variance: float. The fixed gamma. Defaults to 0.5.
        bounded: bool. Map outputs through a sigmoid so the mean lies in [0, 1] (images); False for unbounded data
            such as the moons points. Defaults to True.
    """

    def __init__(self, variance=0.5, bounded=True, **kwargs):
        super().__init__(**kwargs)
        if not variance > 0:
            raise ValueError(f"variance must be positive. Received: variance={variance}")
        self.variance = float(variance)
        self.bounded = bool(bounded)

    def log_variance(self):
        """Returns log gamma as a scalar tensor."""
        return tf.constant(math.log(self.variance))

    def training_state(self):
        """Scalars of the likelihood's learned state, logged every epoch (none: gamma is fixed)."""
        return {}

    def mean(self, outputs):
        """Returns the decoder mean: sigmoid(outputs) when bounded, else outputs."""
        return tf.sigmoid(outputs) if self.bounded else outputs

    def log_prob(self, x, outputs):
        """Returns log p(x | z), shape [B]."""
        return gaussian_log_likelihood(x, self.mean(outputs), self.log_variance())

    def call(self, outputs):
        return self.mean(outputs)

    def get_config(self):
        return {**super().get_config(), "variance": self.variance, "bounded": self.bounded}
