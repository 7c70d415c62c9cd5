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
        L = -log p(x|z) + beta * 1/2 ||z||^2 + lambda * ||grad_z ||D(z)||^2||^2,  z = E(x)
        D(z) is the decoder mean. Eq. 17 leaves the norm of the vector-valued decoder's gradient open; this is the
        functional of the authors' code (`tfvae.losses.decoder_gradient_penalty`), one backward pass per batch.

    Units (see `RAE`): the authors' MNIST run uses beta_a = 1e-4 (beta = 2 beta_a D / L = 0.0128) and a penalty
    weight 0.5e-7 on the gradient's squared norm averaged over the L latents of the pixel-averaged loss, i.e.
    lambda = 0.5e-7 D / L = 3.2e-6 in tfvae's units (D = 1024, L = 16).

    Args:
        beta: float. Defaults to 0.0128 (the authors' MNIST setting, converted).
        gradient_penalty: float. lambda. Defaults to 3.2e-6 (the authors' MNIST setting, converted).
        **kwargs: see `RAE`.
    """

    AUTHORS_BETA = 1e-4
    AUTHORS_GRADIENT_PENALTY = 0.5e-7

    loss_terms = ("latent_l2", "gp")

    def __init__(self, input_shape, beta=0.0128, gradient_penalty=3.2e-6, **kwargs):
        super().__init__(input_shape, beta=beta, **kwargs)
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
