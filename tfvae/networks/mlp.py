"""Multi-layer perceptron encoder and decoder, for small images (digits) and points (moons)."""
import math

import keras

from tfvae import registry
from tfvae.networks.spectral import spectral_wrapper


@registry.register("network", "mlp")
def build_mlp(input_shape, encoder_outputs, latent_dim, hidden_units=(512, 256), activation="relu",
              spectral_normalization=False):
    """Builds an MLP encoder and its mirror-image decoder.

    Args:
        input_shape: tuple. Shape of one example, e.g. (8, 8, 1) or (2,).
        encoder_outputs: int or None. Width of the encoder's last layer (latent_dim, or 2 * latent_dim for a
            VAE); None builds no encoder (generators), returned as None.
        latent_dim: int. Width of the decoder's input.
        hidden_units: tuple of int. Hidden widths of the encoder; the decoder uses them reversed. Defaults to
            (512, 256).
        activation: str. Hidden activation. Defaults to "relu".
        spectral_normalization: bool. Wrap every decoder layer in `keras.layers.SpectralNormalization` (RAE-SN).
            Defaults to False.

    Returns:
        (encoder, decoder): keras.Model pair.
    """
    input_shape = tuple(input_shape)
    encoder = None if encoder_outputs is None else keras.Sequential(
        [keras.Input(input_shape), keras.layers.Flatten()]
        + [keras.layers.Dense(u, activation=activation) for u in hidden_units]
        + [keras.layers.Dense(encoder_outputs)], name="encoder")
    wrap = spectral_wrapper(spectral_normalization)
    decoder = keras.Sequential([keras.Input((latent_dim,))]
                               + [wrap(keras.layers.Dense(u, activation=activation)) for u in reversed(hidden_units)]
                               + [wrap(keras.layers.Dense(math.prod(input_shape))), keras.layers.Reshape(input_shape)],
                               name="decoder")
    return encoder, decoder
