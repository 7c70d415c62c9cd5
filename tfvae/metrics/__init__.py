"""Evaluation metrics of the four papers: a float64 statistics core, feature extractors, sample, latent and
likelihood metrics. Metrics take arrays or callables and never reach into model classes."""
from tfvae.metrics.critic import independent_critic_distance
from tfvae.metrics.diversity import ms_ssim_diversity
from tfvae.metrics.inception_score import inception_score
from tfvae.metrics.latent import (active_latents, leakage_score, marginal_kl_density_model,
                                  marginal_kl_density_ratio, marginal_kl_monte_carlo, mmd_to_standard_normal,
                                  pocket_mass, singular_values, symmetric_kl)
from tfvae.metrics.likelihood import bits_per_dim, importance_sampled_nll
from tfvae.metrics.precision_recall import improved_precision_recall, prd
from tfvae.metrics.statistics import RunningMoments, frechet_distance, kernel_inception_distance
from tfvae.metrics import specs  # registers every metric spec
from tfvae.metrics.evaluation_context import EvaluationContext, ImageSets, Latents, Likelihood, PosteriorFlow
from tfvae.metrics.feature_extractor import FeatureExtractor, RawPoints
from tfvae.metrics.metric import Measurement, Metric
