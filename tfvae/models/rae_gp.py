"""Regularized autoencoder with a gradient penalty on the decoder."""
import keras

from tfvae import registry
from tfvae.losses import decoder_gradient_penalty, latent_l2
from tfvae.models.rae import RAE


@registry.register("model", "rae_gp")
@keras.saving.register_keras_serializable("tfvae")
class RAEGP(RAE):
    """RAE with the squared norm of the decoder's gradient with respect to z as L_REG (RAE paper, eqs. 15, 17).

    Math:
        L = -log p(x|z) + beta * 1/2 ||z||^2 + lambda * ||grad_z D(z)||^2,  z = E(x)
        D(z) is the decoder mean; the gradient is of the sum of its outputs (one backward pass per batch).

    Args:
        gradient_penalty: float. lambda. Defaults to 1e-2 (our choice; the paper does not state its value).
        **kwargs: see `RAE`.
    """

    loss_terms = ("latent_l2", "gp")

    def __init__(self, input_shape, gradient_penalty=1e-2, **kwargs):
        super().__init__(input_shape, **kwargs)
        if gradient_penalty < 0:
            raise ValueError(f"gradient_penalty must be non-negative. Received: gradient_penalty={gradient_penalty}")
        self.gradient_penalty = float(gradient_penalty)

    def regularizer(self, x, posterior, training=False):
        z = posterior["z"]
        latent = latent_l2(z)
        penalty = decoder_gradient_penalty(
            lambda codes: self.likelihood.mean(self.decoder(codes, training=training)), z)
        return self.beta * latent + self.gradient_penalty * penalty, {"latent_l2": latent, "gp": penalty}

    def get_config(self):
        return {**super().get_config(), "gradient_penalty": self.gradient_penalty}
