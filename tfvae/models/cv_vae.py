"""The constant-variance VAE."""
import math

import keras
import tensorflow as tf

from tfvae import registry
from tfvae.models.vae import VAE


@registry.register("model", "cv_vae")
@keras.saving.register_keras_serializable("tfvae")
class CVVAE(VAE):
    """VAE whose posterior variance is one constant for every x (RAE paper, section 2.2, eq. 13).

    Math:
        q(z|x) = N(mu(x), sigma^2 I) with a fixed sigma; the encoder outputs mu only. The loss stays the negative
        ELBO, whose KL reduces to 1/2 ||mu||^2 plus a constant.

    Args:
        posterior_std: float. sigma. Defaults to 0.1 (our choice: the paper fixes the variance but not its value;
            0.1 injects noise small against N(0, I) latents while keeping the decoder smooth).
        likelihood: str. Defaults to "gaussian" (the squared-error loss of the RAE paper's comparison).
        **kwargs: see `VAE`.
    """

    def __init__(self, input_shape, posterior_std=0.1, likelihood="gaussian", **kwargs):
        super().__init__(input_shape, likelihood=likelihood, **kwargs)
        if not posterior_std > 0:
            raise ValueError(f"posterior_std must be positive. Received: posterior_std={posterior_std}")
        self.posterior_std = float(posterior_std)

    def encoder_outputs(self, latent_dim):
        return latent_dim

    def posterior_parameters(self, x, training=False):
        z_mean = self.encoder(x, training=training)
        return z_mean, tf.fill(tf.shape(z_mean), 2.0 * math.log(self.posterior_std))

    def get_config(self):
        return {**super().get_config(), "posterior_std": self.posterior_std}
