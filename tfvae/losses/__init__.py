"""Pure, unreduced, per-example loss functions. Each returns a tensor of shape [B] (or a scalar where noted)."""
from tfvae.losses.divergences import kl_diagonal_normal_standard
from tfvae.losses.reconstruction import bernoulli_log_likelihood, gaussian_log_likelihood
from tfvae.losses.regularizers import latent_l2, squared_weight_norm
