"""Regularized autoencoder with weight decay on the decoder."""
import keras

from tfvae import registry
from tfvae.losses import squared_weight_norm
from tfvae.models.rae import RAE


@registry.register("model", "rae_l2")
@keras.saving.register_keras_serializable("tfvae")
class RAEL2(RAE):
    """RAE with Tikhonov regularization of the decoder (RAE paper, eqs. 15-16).

    Math:
        L = -log p(x | z) + beta * 1/2 ||z||^2 + lambda * ||theta_decoder||^2
        The weight penalty counts once per step (not per example), matching weight decay.

    Units (see `RAE`): the authors' MNIST run uses beta_a = 1e-4, i.e. beta = 2 beta_a D / L = 0.0128, and a Keras
    l2(1e-7) kernel regularizer added to the pixel-averaged loss, i.e. lambda = 1e-7 D = 1.024e-4 on the summed
    one. Their regularizer covers the decoder's transposed convolutions only; tfvae decays every decoder kernel
    (for the conv nets that adds the first dense layer).

    Args:
        beta: float. Defaults to 0.0128 (the authors' MNIST setting, converted).
        weight_decay: float. lambda, applied to the decoder's kernels (biases and normalization parameters are not
            decayed, as usual for weight decay). Defaults to 1.024e-4 (the authors' MNIST setting, converted).
        **kwargs: see `RAE`.
    """

    AUTHORS_BETA = 1e-4
    AUTHORS_WEIGHT_DECAY = 1e-7

    def __init__(self, input_shape, beta=0.0128, weight_decay=1.024e-4, **kwargs):
        super().__init__(input_shape, beta=beta, **kwargs)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative. Received: weight_decay={weight_decay}")
        self.weight_decay = float(weight_decay)

    def weight_penalty(self):
        kernels = [w for w in self.decoder.trainable_weights if "kernel" in w.path]
        return self.weight_decay * squared_weight_norm(kernels)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}
