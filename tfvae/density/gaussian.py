"""A single full-covariance Gaussian fitted to the latents."""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import registry, rowwise_random
from tfvae.density.density_estimator import DensityEstimator

tfd = tfp.distributions


@registry.register("density", "gaussian")
class Gaussian(DensityEstimator):
    """q(z) = N(mean, covariance) of the training latents (maximum likelihood, closed form).

    The RAE paper's "N" ex-post sampler (appendix A: "a multivariate Gaussian whose mean and covariance are estimated
    using training set embeddings").

    Args:
        regularization: float. Added to the covariance diagonal so it stays positive definite. Defaults to 1e-6.
        seed: int. Unused by the closed-form fit; kept for a uniform interface. Defaults to 0.

    References:
        Ghosh, Sajjadi, Vergari, Black and Schoelkopf 2020, "From Variational to Deterministic Autoencoders",
        arXiv:1903.12436.
    """

    def __init__(self, regularization=1e-6, seed=0):
        super().__init__(seed=seed)
        self.regularization = float(regularization)

    def _fit(self, data):
        latents = data.latents
        mean = latents.mean(axis=0)
        covariance = np.atleast_2d(np.cov(latents, rowvar=False, bias=True))
        covariance += self.regularization * np.eye(len(mean))
        return {"loc": mean, "scale_tril": np.linalg.cholesky(covariance)}, {}

    def distribution(self):
        return tfd.MultivariateNormalTriL(loc=self.params["loc"], scale_tril=self.params["scale_tril"])

    def sample_from_seeds(self, seeds):
        """One latent per row of `seeds` [B, 2]: mean + L eps, eps from the row's seed (vectorized over rows)."""
        self._check_fitted()
        eps = rowwise_random.normal(seeds, self.latent_dim)
        return self.params["loc"] + tf.linalg.matvec(self.params["scale_tril"], eps)

    def get_config(self):
        return {**super().get_config(), "regularization": self.regularization}
