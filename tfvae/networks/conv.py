"""The convolutional encoder / decoder of the RAE paper (appendix A), for 28, 32 and 64 px images."""
import keras

from tfvae import registry
from tfvae.networks.batch_norm import FusedBatchNormalization
from tfvae.networks.spectral import spectral_wrapper

RAE_FILTERS = (128, 256, 512, 1024)


def _upsampling_steps(size):
    """How many stride-2 transposed convolutions reach `size` from a base of at most 8 px (28 -> 7, 32 -> 8)."""
    steps = 0
    while size % 2 == 0 and size > 8:
        size //= 2
        steps += 1
    return steps, size


def _conv_block(layer, batch_norm):
    block = [layer]
    if batch_norm:
        block.append(FusedBatchNormalization())
    block.append(keras.layers.ReLU())
    return block


@registry.register("network", "rae_conv")
def build_rae_conv(input_shape, encoder_outputs, latent_dim, filters=RAE_FILTERS, kernel_size=4, batch_norm=True,
                   spectral_normalization=False):
    """Builds the RAE paper's convolutional encoder and decoder (appendix A).

    Encoder: one stride-2 Conv-BN-ReLU per entry of `filters`, then a dense layer. Decoder: a dense layer to a
    base grid of side H / 2^k with `filters[-1]` channels, k stride-2 ConvTranspose-BN-ReLU layers with the
    remaining filters in reverse order, and a final stride-1 ConvTranspose to the image channels. For 32 px this is
    exactly the MNIST/CIFAR net (FC 8x8x1024, ConvT 512, ConvT 256, ConvT C); for 64 px the CelebA net
    (with kernel_size=5); 28 px images get a 7x7 base grid. A layer followed by batch norm has no bias (batch norm
    subtracts it again and its gradient is zero; batch norm's offset is the shift), so the function is the paper's
    with fewer parameters and a faster step (see docs/speed.md).

    Args:
        input_shape: tuple (H, W, C).
        encoder_outputs: int or None. Width of the encoder's output; None builds no encoder (returned as None).
        latent_dim: int. Width of the decoder's input.
        filters: tuple of int. Encoder filters. Defaults to the paper's (128, 256, 512, 1024).
        kernel_size: int. 4 for MNIST/CIFAR, 5 for CelebA. Defaults to 4.
        batch_norm: bool. The paper applies batch normalization in every model. Defaults to True.
        spectral_normalization: bool. Wrap every decoder layer with weights in `keras.layers.SpectralNormalization`
            (RAE-SN). Defaults to False.

    Returns:
        (encoder, decoder): keras.Model pair.
    """
    if len(input_shape) != 3:
        raise ValueError(f"The convolutional network needs images of shape (H, W, C); use --network=mlp for other "
                         f"data. Received: input_shape={tuple(input_shape)}")
    height, width, channels = input_shape
    steps_h, base_h = _upsampling_steps(height)
    steps_w, base_w = _upsampling_steps(width)
    if steps_h != steps_w or steps_h == 0:
        raise ValueError(f"The convolutional network needs images whose sides halve equally to at most 8 px (e.g. "
                         f"28, 32, 64); pad or resize the data (--pad_to / --resize_to) or use --network=mlp. "
                         f"Received: input_shape={tuple(input_shape)}")
    bias = not batch_norm  # batch norm cancels a bias of the layer before it
    encoder = None
    if encoder_outputs is not None:
        encoder_layers = [keras.Input(tuple(input_shape))]
        for f in filters:
            encoder_layers += _conv_block(keras.layers.Conv2D(f, kernel_size, strides=2, padding="same",
                                                              use_bias=bias), batch_norm)
        encoder_layers += [keras.layers.Flatten(), keras.layers.Dense(encoder_outputs)]
        encoder = keras.Sequential(encoder_layers, name="encoder")

    wrap = spectral_wrapper(spectral_normalization)
    decoder_filters = list(reversed(filters[:-1]))
    decoder_layers = [keras.Input((latent_dim,)),
                      wrap(keras.layers.Dense(base_h * base_w * filters[-1], use_bias=bias))]
    if batch_norm:
        decoder_layers.append(FusedBatchNormalization())
    decoder_layers += [keras.layers.ReLU(), keras.layers.Reshape((base_h, base_w, filters[-1]))]
    for step in range(steps_h):
        f = decoder_filters[min(step, len(decoder_filters) - 1)]
        decoder_layers += _conv_block(
            wrap(keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", use_bias=bias)), batch_norm)
    decoder_layers.append(wrap(keras.layers.Conv2DTranspose(channels, kernel_size, strides=1, padding="same")))
    decoder = keras.Sequential(decoder_layers, name="decoder")
    return encoder, decoder


@registry.register("network", "conv")
def build_conv(input_shape, encoder_outputs, latent_dim, filters=(32, 64, 128), **kwargs):
    """The RAE architecture at CPU scale: 32-64-128 filters (the throughput benchmark's network)."""
    return build_rae_conv(input_shape, encoder_outputs, latent_dim, filters=filters, **kwargs)
