"""The model's own prior as a sampler, so every sampler shares one interface in export and evaluation."""
import tensorflow as tf

from tfvae import registry
from tfvae.density.density_estimator import DensityEstimator


@registry.register("density", "prior")
class PriorSampler(DensityEstimator):
    """Samples from a model's prior p(z) (N(0, I) for the standard prior); nothing is fitted.

    Args:
        prior: a prior layer of `tfvae.priors` (has `log_prob` and `sample_from_seeds`).
    """

    name_in_registry = "prior"

    def __init__(self, prior):
        super().__init__(seed=0)
        self.prior = prior
        self.params = {"latent_dim": tf.constant(prior.latent_dim)}

    @property
    def latent_dim(self):
        return self.prior.latent_dim

    def _fit(self, latents):
        raise ValueError("The prior sampler is the model's prior; it is not fitted to latents.")

    def distribution(self):
        raise ValueError("The prior sampler exposes log_prob and sampling directly, not a TFP distribution.")

    def fit(self, latents, validation_latents=None):
        return {}

    def log_prob(self, z):
        return self.prior.log_prob(tf.convert_to_tensor(z, tf.float32))

    def sample(self, num_samples, seed):
        return self.prior.sample(num_samples, tf.convert_to_tensor(seed, tf.int32))

    def sample_from_seeds(self, seeds):
        return self.prior.sample_from_seeds(seeds)

    def save(self, directory):
        raise ValueError("The prior sampler is part of the model and is not saved separately.")
