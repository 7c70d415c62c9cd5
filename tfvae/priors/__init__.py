"""Priors p(z) over latents. Every prior has `log_prob`, `sample`, `sample_from_seeds` and `kl_divergence`."""
from tfvae.priors.coupling_network import CouplingNetwork
from tfvae.priors.decoupled_prior import DecoupledPrior
from tfvae.priors.standard_normal import StandardNormal
