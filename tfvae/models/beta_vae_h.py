"""beta-VAE (Higgins et al. 2017)."""
import keras

from tfvae import registry
from tfvae.models.vae import VAE


@registry.register("model", "beta_vae_h")
@keras.saving.register_keras_serializable("tfvae")
class BetaVAEH(VAE):
    """beta-VAE-H: the KL term weighted by beta (Higgins et al. 2017, eq. 4; dpVAE section 4.3).

    Math:
        L = -log p(x|z) + beta * KL[q(z|x) || p(z)]

    Args:
        beta: float. Defaults to 4.0 (Higgins et al.'s setting for MNIST-like data).
        **kwargs: see `VAE`.
    """

    def __init__(self, input_shape, beta=4.0, **kwargs):
        super().__init__(input_shape, **kwargs)
        if beta < 0:
            raise ValueError(f"beta must be non-negative. Received: beta={beta}")
        self.beta = float(beta)

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        return self.beta * kl, {"kl": kl}

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
