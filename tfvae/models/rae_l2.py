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

    Args:
        weight_decay: float. lambda, applied to the decoder's kernels (biases and normalization parameters are not
            decayed, as usual for weight decay). Defaults to 1e-4.
        **kwargs: see `RAE`.
    """

    def __init__(self, input_shape, weight_decay=1e-4, **kwargs):
        super().__init__(input_shape, **kwargs)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative. Received: weight_decay={weight_decay}")
        self.weight_decay = float(weight_decay)

    def weight_penalty(self):
        kernels = [w for w in self.decoder.trainable_weights if "kernel" in w.path]
        return self.weight_decay * squared_weight_norm(kernels)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}
