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

    Units: the authors' code (ParthaEth/Regularized_autoencoders, MNIST run of table 1) fixes sigma = 0.7 and
    minimizes sum SE + w KL with w = 0.039 (the squared error summed over pixels, averaged over channels). In tfvae
    the KL has weight 1 and the Gaussian likelihood's variance gamma sets the balance: sum SE / (2 gamma) + KL is
    the same objective up to a factor when gamma = w / 2 = 0.0195.

    Args:
        posterior_std: float. sigma. Defaults to 0.7 (the authors' code).
        likelihood: str. Defaults to "gaussian" (the squared-error loss of the RAE paper's comparison).
        likelihood_kwargs: dict or None. For the Gaussian likelihood, "variance" defaults to 0.0195 (the authors'
            KL weight, converted); other keys pass through.
        **kwargs: see `VAE`.
    """

    AUTHORS_KL_WEIGHT = 0.039

    def __init__(self, input_shape, posterior_std=0.7, likelihood="gaussian", likelihood_kwargs=None, **kwargs):
        if likelihood == "gaussian":  # the authors' balance unless the caller sets the variance
            likelihood_kwargs = {"variance": self.AUTHORS_KL_WEIGHT / 2, **(likelihood_kwargs or {})}
        super().__init__(input_shape, likelihood=likelihood, likelihood_kwargs=likelihood_kwargs, **kwargs)
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
