"""The ColorMNIST networks of the distribution-matching paper (Rosca et al. 2018, appendix K, tables 4-5)."""
import keras

from tfvae import registry
from tfvae.networks.batch_norm import FusedBatchNormalization


def _base(size):
    if size % 4:
        raise ValueError(f"The DCGAN networks need image sides divisible by 4 (two stride-2 layers); pad or resize "
                         f"the data. Received: side {size}")
    return size // 4


@registry.register("network", "dcgan")
def build_dcgan(input_shape, encoder_outputs, latent_dim, kernel_size=5):
    """Generator of table 5 and, as the paper prescribes for models with an encoder, its transpose as encoder.

    Generator: Linear (H/4 * W/4 * 64) -> ConvT 64 5x5 s2 -> ConvT 32 5x5 s1 -> ConvT C 5x5 s2, batch norm and ReLU
    between layers (3136 = 7 * 7 * 64 for 28 px). Encoder: Conv 32 s2 -> Conv 64 s1 -> Conv 64 s2 -> Linear, leaky
    ReLU 0.2, no activation after the last layer (appendix K.1). Layers followed by batch norm have no bias (batch
    norm cancels it).
    """
    height, width, channels = input_shape
    base_h, base_w = _base(height), _base(width)
    encoder = None if encoder_outputs is None else keras.Sequential([
        keras.Input(tuple(input_shape)),
        keras.layers.Conv2D(32, kernel_size, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(64, kernel_size, strides=1, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Conv2D(64, kernel_size, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
        keras.layers.Flatten(), keras.layers.Dense(encoder_outputs)], name="encoder")
    decoder = keras.Sequential([
        keras.Input((latent_dim,)),
        keras.layers.Dense(base_h * base_w * 64, use_bias=False), FusedBatchNormalization(), keras.layers.ReLU(),
        keras.layers.Reshape((base_h, base_w, 64)),
        keras.layers.Conv2DTranspose(64, kernel_size, strides=2, padding="same", use_bias=False),
        FusedBatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2DTranspose(32, kernel_size, strides=1, padding="same", use_bias=False),
        FusedBatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same")], name="decoder")
    return encoder, decoder


@registry.register("discriminator", "dcgan")
def build_dcgan_discriminator(input_shape, outputs=1, kernel_size=5, features_only=False, output_bias=True,
                              name="discriminator"):
    """The data discriminator of table 4: Conv 8 s2, 16 s1, 32 s2, 64 s1, 64 s2 (5x5, leaky ReLU 0.2), linear head.

    No batch normalization, so the same critic serves WGAN-GP, whose per-example gradient penalty batch norm would
    break. The paper's auxiliary 10-class head is not used by any model here.

    Args:
        features_only: bool. Stop at the flattened features (VEEGAN's joint discriminator reuses the trunk).
        output_bias: bool. False for Wasserstein critics, whose output bias cancels out of every loss term.
    """
    layers = [keras.Input(tuple(input_shape))]
    for filters, stride in ((8, 2), (16, 1), (32, 2), (64, 1), (64, 2)):
        layers += [keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="same"),
                   keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Flatten())
    if not features_only:
        layers.append(keras.layers.Dense(outputs, use_bias=output_bias))
    return keras.Sequential(layers, name=name)
