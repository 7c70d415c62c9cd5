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

    Units: tfvae sums the reconstruction over the D pixels (the Gaussian likelihood with variance 1/2 is the summed
    squared error) and the penalty over the L latents. The authors' code (ParthaEth/Regularized_autoencoders,
    `configurations/config.py`, MNIST runs of table 1) averages both: (1/D) sum SE + beta_a (1/L) ||z||^2. The same
    objective in tfvae's units has beta = 2 beta_a D / L; for MNIST padded to 32 px (D = 1024, L = 16) and the
    authors' beta_a = 5e-4 that is 0.064. Other data: convert the authors' value with the same formula.

    Args:
        beta: float. Weight of the latent penalty. Defaults to 0.064 (the authors' MNIST setting, converted).
        **kwargs: see `Autoencoder`.

    References:
        Ghosh et al. 2020, From variational to deterministic autoencoders (arXiv:1903.12436).
    """

    # The authors' MNIST value of beta in their units (means over pixels and latents); the default is its conversion.
    AUTHORS_BETA = 5e-4

    loss_terms = ("latent_l2",)

    def __init__(self, input_shape, beta=0.064, **kwargs):
        super().__init__(input_shape, **kwargs)
        if beta < 0:
            raise ValueError(f"beta must be non-negative. Received: beta={beta}")
        self.beta = float(beta)

    def regularizer(self, x, posterior, training=False):
        penalty = latent_l2(posterior["z"])
        return self.beta * penalty, {"latent_l2": penalty}

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
