"""The InfoGAN "neutral" architecture used by the two-stage VAE paper (Lucic et al. 2018, table 7)."""
import keras

from tfvae import registry
from tfvae.networks.batch_norm import FusedBatchNormalization


@registry.register("network", "infogan")
def build_infogan(input_shape, encoder_outputs, latent_dim):
    """Encoder: Conv 64 4x4 s2 lReLU -> Conv 128 4x4 s2 BN lReLU -> FC 1024 BN lReLU -> FC out.
    Decoder: FC 1024 BN ReLU -> FC (H/4 * W/4 * 128) BN ReLU -> ConvT 64 4x4 s2 BN ReLU -> ConvT C 4x4 s2.
    For 28 and 32 px images (sides divisible by 4). Layers followed by batch norm have no bias (batch norm cancels
    it)."""
    height, width, channels = input_shape
    if height % 4 or width % 4:
        raise ValueError(f"The InfoGAN network needs image sides divisible by 4. Received: {tuple(input_shape)}")
    encoder = None if encoder_outputs is None else keras.Sequential([
        keras.Input(tuple(input_shape)),
        keras.layers.Conv2D(64, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(128, 4, strides=2, padding="same", use_bias=False), FusedBatchNormalization(),
        keras.layers.LeakyReLU(0.2), keras.layers.Flatten(),
        keras.layers.Dense(1024, use_bias=False), FusedBatchNormalization(), keras.layers.LeakyReLU(0.2),
        keras.layers.Dense(encoder_outputs)], name="encoder")
    decoder = keras.Sequential([
        keras.Input((latent_dim,)),
        keras.layers.Dense(1024, use_bias=False), FusedBatchNormalization(), keras.layers.ReLU(),
        keras.layers.Dense(height // 4 * width // 4 * 128, use_bias=False),
        FusedBatchNormalization(), keras.layers.ReLU(),
        keras.layers.Reshape((height // 4, width // 4, 128)),
        keras.layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False), FusedBatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same")], name="decoder")
    return encoder, decoder
