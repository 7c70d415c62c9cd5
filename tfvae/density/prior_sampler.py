"""The model's own prior as a sampler, so every sampler shares one interface in export and evaluation."""
import tensorflow as tf

from tfvae import registry
from tfvae.density.density_estimator import DensityEstimator


@registry.register("density", "prior")
class PriorSampler(DensityEstimator):
    """Samples from a model's prior p(z) (N(0, I) for the standard prior); nothing is fitted or saved.

    It is ready on construction: `latent_dim` is the prior's, and `fit` and `save` refuse (`fitted_to_latents`).

    Args:
        prior: a prior layer of `tfvae.priors` (has `latent_dim`, `log_prob`, `sample` and `sample_from_seeds`).
    """

    fitted_to_latents = False

    def __init__(self, prior):
        super().__init__(seed=0)
        self.prior = prior
        self._latent_dim = int(prior.latent_dim)

    def log_prob(self, z):
        return self.prior.log_prob(tf.convert_to_tensor(z, tf.float32))

    def sample(self, num_samples, seed):
        return self.prior.sample(num_samples, tf.convert_to_tensor(seed, tf.int32))

    def sample_from_seeds(self, seeds):
        return self.prior.sample_from_seeds(seeds)
