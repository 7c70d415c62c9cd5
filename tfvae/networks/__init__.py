"""Encoder / decoder builders. Each registered builder returns `(encoder, decoder)` Keras models:

    encoder: images [B, *input_shape] -> [B, encoder_outputs]; None when encoder_outputs is None (generators)
    decoder: latents [B, latent_dim] -> raw outputs [B, *input_shape] (a likelihood maps them to a mean)
"""
from tfvae.networks.conv import build_conv, build_rae_conv
from tfvae.networks.dcgan import build_dcgan, build_dcgan_discriminator
from tfvae.networks.discriminators import build_mlp_discriminator
from tfvae.networks.infogan import build_infogan
from tfvae.networks.mlp import build_mlp
from tfvae.networks.skip_mlp import build_skip_mlp
from tfvae.networks.spectral import spectral_wrapper
