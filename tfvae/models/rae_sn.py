"""Regularized autoencoder with spectral normalization of the decoder."""
import keras

from tfvae import registry
from tfvae.models.rae import RAE


@registry.register("model", "rae_sn")
@keras.saving.register_keras_serializable("tfvae")
class RAESN(RAE):
    """RAE whose every decoder layer is spectrally normalized (RAE paper, eq. 18):
    theta_l <- theta_l / s(theta_l), s the largest singular value estimated by power iteration
    (`keras.layers.SpectralNormalization`). The loss is the RAE's.

    Units (see `RAE`): the authors' MNIST run uses beta_a = 0.009, i.e. beta = 2 beta_a D / L = 1.152. Their code
    also normalizes the encoder's layers; tfvae normalizes the decoder, as eq. 18 states.

    Args:
        beta: float. Defaults to 1.152 (the authors' MNIST setting, converted).
        **kwargs: see `RAE`. `network_kwargs["spectral_normalization"]` is set to True.
    """

    AUTHORS_BETA = 0.009

    def __init__(self, input_shape, beta=1.152, network_kwargs=None, **kwargs):
        network_kwargs = {**(network_kwargs or {}), "spectral_normalization": True}
        super().__init__(input_shape, beta=beta, network_kwargs=network_kwargs, **kwargs)
