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

    Args:
        **kwargs: see `RAE`. `network_kwargs["spectral_normalization"]` is set to True.
    """

    def __init__(self, input_shape, network_kwargs=None, **kwargs):
        network_kwargs = {**(network_kwargs or {}), "spectral_normalization": True}
        super().__init__(input_shape, network_kwargs=network_kwargs, **kwargs)
