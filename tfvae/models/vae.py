"""The variational autoencoder."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.models.autoencoder import _TEST_SALT, _TRAIN_SALT, Autoencoder


@registry.register("model", "vae")
@keras.saving.register_keras_serializable("tfvae")
class VAE(Autoencoder):
    """Variational autoencoder with a diagonal Gaussian posterior and a choice of decoder likelihood.

    Math:
        q(z|x) = N(mu(x), diag(sigma^2(x))),  z = mu + sigma * eps,  eps ~ N(0, I)   (reparameterization)
        L = -log p(x | z) + KL[q(z|x) || p(z)]                                          (negative ELBO)
        Likelihoods: `bernoulli` (cross-entropy), `gaussian` (fixed gamma), `gaussian_learned` (scalar log gamma,
        two-stage VAE paper eq. 2).

    The variants of the VAE family (beta-VAE, beta-TCVAE, ...) override `regularizer` only.

    Args:
        likelihood: str. Defaults to "bernoulli".
        **kwargs: see `Autoencoder`.
    """

    loss_terms = ("kl",)

    def __init__(self, input_shape, likelihood="bernoulli", **kwargs):
        super().__init__(input_shape, likelihood=likelihood, **kwargs)

    def encoder_outputs(self, latent_dim):
        return 2 * latent_dim

    def posterior(self, x, training=False):
        z_mean, z_log_var = tf.split(self.encoder(x, training=training), 2, axis=-1)
        # The loss is always the one-sample negative ELBO (validation included, with its own noise stream);
        # `encode` and `reconstruct` use the mean.
        seed = self.noise_seed(_TRAIN_SALT if training else _TEST_SALT)
        epsilon = tf.random.stateless_normal(tf.shape(z_mean), seed=seed, dtype=z_mean.dtype)
        z = z_mean + tf.exp(0.5 * z_log_var) * epsilon
        return {"z": z, "z_mean": z_mean, "z_log_var": z_log_var}

    def kl_divergence(self, posterior):
        """KL[q(z|x) || p(z)] per example under the model's prior."""
        return self.prior.kl_divergence(posterior["z_mean"], posterior["z_log_var"], posterior["z"])

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        return kl, {"kl": kl}
