"""The standard normal prior N(0, I)."""
import math

import keras
import tensorflow as tf

from tfvae import registry, rowwise_random
from tfvae.losses import kl_diagonal_normal_standard

_LOG_2PI = math.log(2.0 * math.pi)


@registry.register("prior", "standard")
class StandardNormal(keras.layers.Layer):
    """p(z) = N(0, I) over `latent_dim` dimensions.

    Sampling is stateless: the same seed gives the same latents in any process.

    Args:
        latent_dim: int. Number of latent dimensions.
    """

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    def to_generation(self, z):
        """The generation space is the latent space itself (a decoupled prior maps between the two)."""
        return tf.convert_to_tensor(z)

    def from_generation(self, z0):
        """The identity, as `to_generation`."""
        return tf.convert_to_tensor(z0)

    def log_prob(self, z):
        """Returns log N(z | 0, I), shape [B]."""
        return -0.5 * tf.reduce_sum(tf.square(z) + _LOG_2PI, axis=-1)

    def sample(self, num_samples, seed):
        """Draws `num_samples` latents with the stateless seed `seed` (int tensor of shape [2])."""
        return rowwise_random.stream_normal([num_samples, self.latent_dim], seed)

    def sample_from_seeds(self, seeds):
        """Draws one latent per row of `seeds` [B, 2]; row b depends on seeds[b] only (safe under request batching)."""
        return rowwise_random.normal(seeds, self.latent_dim)

    def kl_divergence(self, z_mean, z_log_var, z=None):
        """KL[q(z|x) || p(z)] per example for a diagonal Gaussian posterior, in closed form (z is unused)."""
        del z
        return kl_diagonal_normal_standard(z_mean, z_log_var)

    def call(self, z):
        return self.log_prob(z)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}
