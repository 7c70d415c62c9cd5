"""InfoVAE with the MMD divergence (Zhao et al. 2019)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import mmd
from tfvae.models import noise_salts
from tfvae.models.vae import VAE


@registry.register("model", "info_vae")
@keras.saving.register_keras_serializable("tfvae")
class InfoVAE(VAE):
    """InfoVAE: the ELBO plus an MMD between the aggregate posterior and the prior (Zhao et al. 2019, eq. 6).

    Math:
        L = -log p(x|z) + (1 - alpha) KL[q(z|x) || p(z)] + (alpha + lambda - 1) MMD(q(z), p(z))
        MMD is estimated between the batch's posterior samples and as many prior samples; with the decoupled
        prior those are z = g^{-1}(z0), z0 ~ N(0, I) (Info-dpVAE, dpVAE section 4.3). The batch-level MMD is
        charged to every example equally.

    Args:
        alpha: float. Defaults to 0 (the ELBO's KL kept whole).
        mmd_weight: float. lambda. Defaults to 1000 (Zhao et al.'s MMD-VAE scale for summed pixel losses).
        kernel: str. "rbf" or "imq". Defaults to "rbf".
        **kwargs: see `VAE`.
    """

    loss_terms = ("kl", "mmd")

    def __init__(self, input_shape, alpha=0.0, mmd_weight=1000.0, kernel="rbf", **kwargs):
        super().__init__(input_shape, **kwargs)
        if kernel not in ("rbf", "imq"):
            raise ValueError(f"kernel must be 'rbf' or 'imq'. Received: kernel={kernel!r}")
        self.alpha, self.mmd_weight, self.kernel = float(alpha), float(mmd_weight), kernel

    def regularizer(self, x, posterior, training=False):
        z = posterior["z"]
        kl = self.kl_divergence(posterior)
        prior_samples = self.prior.sample(tf.shape(z)[0], self.noise_seed(noise_salts.PRIOR))
        divergence = tf.fill(tf.shape(kl), mmd(z, prior_samples, self.kernel))
        penalty = (1.0 - self.alpha) * kl + (self.alpha + self.mmd_weight - 1.0) * divergence
        return penalty, {"kl": kl, "mmd": divergence}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "mmd_weight": self.mmd_weight, "kernel": self.kernel}
