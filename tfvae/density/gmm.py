"""A Gaussian mixture fitted by EM (scikit-learn) and held as a TFP MixtureSameFamily."""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import registry, rowwise_random
from tfvae.density.density_estimator import DensityEstimator

tfd = tfp.distributions


@registry.register("density", "gmm")
class GaussianMixture(DensityEstimator):
    """q(z) = sum_k pi_k N(z | mu_k, Sigma_k) with full covariances.

    The RAE paper's ex-post density (section 4, appendix A): 10 components, EM for at most 100 iterations on the
    training latents. scikit-learn fits it; the parameters live in variables and the density is a TFP
    `MixtureSameFamily`, so sampling is stateless and exports into a SavedModel that needs TensorFlow only.

    Args:
        num_components: int. k. Defaults to 10.
        max_iter: int. EM iterations at most. Defaults to 100.
        regularization: float. scikit-learn's reg_covar, added to each covariance diagonal. Defaults to 1e-6.
        seed: int. Seed of the k-means initialization. Defaults to 0.

    References:
        Ghosh, Sajjadi, Vergari, Black and Schoelkopf 2020, "From Variational to Deterministic Autoencoders",
        arXiv:1903.12436.
    """

    def __init__(self, num_components=10, max_iter=100, regularization=1e-6, seed=0):
        super().__init__(seed=seed)
        if int(num_components) < 1:
            raise ValueError(f"num_components must be at least 1. Received: num_components={num_components}")
        self.num_components = int(num_components)
        self.max_iter = int(max_iter)
        self.regularization = float(regularization)

    def _fit(self, data):
        from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

        latents = data.latents
        if self.num_components > len(latents):
            raise ValueError(f"A mixture of {self.num_components} components needs at least as many latents; lower "
                             f"--components or encode more data. Received: {len(latents)} latents")
        mixture = SklearnGaussianMixture(n_components=self.num_components, covariance_type="full",
                                         max_iter=self.max_iter, reg_covar=self.regularization,
                                         random_state=self.seed).fit(latents)
        params = {"logits": np.log(mixture.weights_), "loc": mixture.means_,
                  "scale_tril": np.linalg.cholesky(mixture.covariances_)}
        return params, {"converged": bool(mixture.converged_), "em_iterations": int(mixture.n_iter_)}

    def distribution(self):
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=self.params["logits"]),
            components_distribution=tfd.MultivariateNormalTriL(loc=self.params["loc"],
                                                               scale_tril=self.params["scale_tril"]))

    def sample_from_seeds(self, seeds):
        """One latent per row of `seeds` [B, 2], vectorized over rows: the component k by inverting the mixture
        weights' CDF at a uniform of the row's stream 1, then mean_k + L_k eps with eps from its stream 0."""
        self._check_fitted()
        cdf = tf.cumsum(tf.nn.softmax(self.params["logits"]))
        u = rowwise_random.uniform(seeds, 1, stream=1)
        # k = #{j : cdf_j <= u}, what `tf.searchsorted(cdf, u, side="right")` returns for the sorted CDF, counted
        # with a comparison (K of them per row) because TensorFlow Lite has no kernel for searchsorted; the minimum
        # guards a float CDF whose last entry rounds below u.
        below = tf.reduce_sum(tf.cast(cdf[None, :] <= u, tf.int32), axis=1)
        component = tf.minimum(below, tf.shape(cdf)[0] - 1)
        eps = rowwise_random.normal(seeds, self.latent_dim)
        loc = tf.gather(self.params["loc"], component)
        return loc + tf.linalg.matvec(tf.gather(self.params["scale_tril"], component), eps)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components, "max_iter": self.max_iter,
                "regularization": self.regularization}
