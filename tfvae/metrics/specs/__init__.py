"""The registered metric specs (`registry.get("metric", NAME)`), one file each; importing registers them."""
from tfvae.metrics.specs import (active_latents, critic, diversity, frechet_distance, inception_score,
                                 kernel_distance, leakage, marginal_kl, mmd, nll, pockets, prd, precision_recall,
                                 sample_spectrum, singular_values, symmetric_kl)
