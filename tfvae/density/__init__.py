"""Ex-post density estimators over latents: fit(latents) / sample(num_samples, seed) / log_prob(z)."""
from tfvae.density.density_estimator import DensityEstimator
from tfvae.density.flow import Flow
from tfvae.density.gaussian import Gaussian
from tfvae.density.gmm import GaussianMixture
from tfvae.density.prior_sampler import PriorSampler
from tfvae.density.two_stage import TwoStage
