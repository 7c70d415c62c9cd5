"""Ex-post density estimators over latents: fit(latents, ...) / sample(num_samples, seed) / log_prob(z)."""
from tfvae.density.density_estimator import DensityEstimator, FitData
from tfvae.density.flow import Flow
from tfvae.density.gaussian import Gaussian
from tfvae.density.gmm import GaussianMixture
from tfvae.density.latent_samplers import (aggregate_posterior_log_density, high_posterior_samples,
                                           linear_interpolation, low_posterior_samples, spherical_interpolation,
                                           traversal)
from tfvae.density.prior_sampler import PriorSampler
from tfvae.density.two_stage import TwoStage
