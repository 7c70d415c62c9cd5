"""Pure, unreduced, per-example loss functions. Each returns a tensor of shape [B] (or a scalar where noted)."""
from tfvae.losses.adversarial import (density_ratio_loss, discriminator_cross_entropy,
                                     non_saturating_generator_loss, wasserstein_critic_loss)
from tfvae.losses.divergences import kl_diagonal_normal_standard
from tfvae.losses.gradient_penalty import critic_gradient_penalty, decoder_gradient_penalty
from tfvae.losses.mmd import imq_kernel, mmd, rbf_kernel, squared_distances
from tfvae.losses.reconstruction import bernoulli_log_likelihood, gaussian_log_likelihood
from tfvae.losses.regularizers import latent_l2, squared_weight_norm
from tfvae.losses.total_correlation import log_aggregate_posteriors, stratified_log_weights
