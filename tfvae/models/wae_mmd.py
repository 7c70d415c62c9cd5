"""Wasserstein autoencoder with the MMD penalty (Tolstikhin et al. 2018)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import mmd
from tfvae.models.autoencoder import PRIOR_SALT, Autoencoder


@registry.register("model", "wae_mmd")
@keras.saving.register_keras_serializable("tfvae")
class WAEMMD(Autoencoder):
    """WAE-MMD: a deterministic autoencoder whose aggregate posterior is pushed to the prior by an MMD penalty
    (Tolstikhin et al. 2018, algorithm 2; the WAE baseline of the RAE paper).

    Math:
        L = c(x, D(E(x))) + lambda * MMD_k(q(z), N(0, I)),  k the multi-scale inverse multiquadratic kernel
        c is -log p(x|z) of the Gaussian likelihood (the squared error up to a constant).

    Args:
        mmd_weight: float. lambda. Defaults to 10 (Tolstikhin et al., MNIST).
        kernel: str. "imq" or "rbf". Defaults to "imq".
        **kwargs: see `Autoencoder`.
    """

    loss_terms = ("mmd",)

    def __init__(self, input_shape, mmd_weight=10.0, kernel="imq", **kwargs):
        super().__init__(input_shape, **kwargs)
        if kernel not in ("rbf", "imq"):
            raise ValueError(f"kernel must be 'rbf' or 'imq'. Received: kernel={kernel!r}")
        self.mmd_weight, self.kernel = float(mmd_weight), kernel

    def regularizer(self, x, posterior, training=False):
        z = posterior["z"]
        prior_samples = self.prior.sample(tf.shape(z)[0], self.noise_seed(PRIOR_SALT))
        divergence = tf.fill(tf.shape(z)[:1], mmd(z, prior_samples, self.kernel))
        return self.mmd_weight * divergence, {"mmd": divergence}

    def get_config(self):
        return {**super().get_config(), "mmd_weight": self.mmd_weight, "kernel": self.kernel}
