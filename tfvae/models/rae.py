"""Regularized autoencoder with the latent-norm penalty."""
import keras

from tfvae import registry
from tfvae.losses import latent_l2
from tfvae.models.autoencoder import Autoencoder


@registry.register("model", "rae")
@keras.saving.register_keras_serializable("tfvae")
class RAE(Autoencoder):
    """Deterministic regularized autoencoder (RAE paper, eq. 15 with L_REG = 0).

    Math:
        L = -log p(x | z) + beta * 1/2 ||z||^2,   z = E(x)
        The 1/2 ||z||^2 term is what remains of the CV-VAE's KL once the noise is removed (eq. 14): it bounds the
        size of the latent space, which the ex-post density then models.

    Args:
        beta: float. Weight of the latent penalty. Defaults to 1.0, the weight the term has inside the VAE's KL.
        **kwargs: see `Autoencoder`.
    """

    loss_terms = ("latent_l2",)

    def __init__(self, input_shape, beta=1.0, **kwargs):
        super().__init__(input_shape, **kwargs)
        if beta < 0:
            raise ValueError(f"beta must be non-negative. Received: beta={beta}")
        self.beta = float(beta)

    def regularizer(self, x, posterior, training=False):
        penalty = latent_l2(posterior["z"])
        return self.beta * penalty, {"latent_l2": penalty}

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
