"""FactorVAE (Kim & Mnih 2018)."""
import keras
import tensorflow as tf

from tfvae import registry, rowwise_random
from tfvae.models import noise_salts
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.generator import batch_size_of
from tfvae.models.vae import VAE
from tfvae.networks import build_mlp_discriminator


def permute_dims(z, seed):
    """Shuffles every latent dimension independently across the batch: samples of prod_j q(z_j) (Kim & Mnih, alg. 1).

    Args:
        z: Tensor [B, L].
        seed: int Tensor [2]. Stateless seed.

    Returns:
        Tensor [B, L].
    """
    order = tf.argsort(rowwise_random.stream_uniform(tf.shape(z), seed), axis=0)
    return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1))


@registry.register("model", "factor_vae")
@keras.saving.register_keras_serializable("tfvae")
class FactorVAE(DiscriminatorTraining, VAE):
    """FactorVAE: the ELBO plus gamma times a total correlation estimated by a discriminator (Kim & Mnih 2018, eq. 2).

    Math:
        L_VAE = -log p(x|z) + KL[q(z|x) || p(z)] + gamma * (D_0(z) - D_1(z))   (logits of "from q(z)" vs "permuted")
        L_D   = -1/2 E[ log softmax(D(z'))_0 + log softmax(D(permute_dims(z')))_1 ]
        Each global batch is split in two halves: the first trains the VAE, the second (independent) half gives
        the latents z' the discriminator learns to tell from their dimension-wise permutation. The discriminator
        has its own Adam(1e-4, 0.5, 0.9); the VAE keeps the usual Adam moments (Kim & Mnih).

    Args:
        gamma: float. Weight of the total correlation. Defaults to 10 (Kim & Mnih's range is 10-100).
        discriminator_units: tuple of int. Defaults to 6 x 1000 (Kim & Mnih).
        discriminator_learning_rate: float. Defaults to 1e-4.
        **kwargs: see `VAE`.
    """

    loss_terms = ("kl", "tc", "d_loss")
    discriminator_names = ("discriminator",)
    adam_betas = (0.9, 0.999)

    def __init__(self, input_shape, gamma=10.0, discriminator_units=(1000,) * 6, discriminator_learning_rate=1e-4,
                 **kwargs):
        super().__init__(input_shape, discriminator_learning_rate=discriminator_learning_rate, **kwargs)
        self.gamma = float(gamma)
        self.discriminator_units = tuple(int(u) for u in discriminator_units)
        self.discriminator = self.build_network(
            lambda: build_mlp_discriminator((self.latent_dim,), self.discriminator_units, outputs=2))

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        logits = self.discriminator(posterior["z"], training=training)
        tc = logits[:, 0] - logits[:, 1]
        return kl + self.gamma * tc, {"kl": kl, "tc": tc}

    def discriminator_objectives(self, x, training=True):
        z = tf.stop_gradient(self.posterior(x, training=training)["z"])
        permuted = permute_dims(z, self.noise_seed(noise_salts.PERMUTE))
        real = tf.nn.log_softmax(self.discriminator(z, training=training))[:, 0]
        fake = tf.nn.log_softmax(self.discriminator(permuted, training=training))[:, 1]
        return {"discriminator": ("d_loss", -0.5 * (real + fake))}

    def main_batch(self, x):
        return x[:batch_size_of(x) // 2]

    def discriminator_batch(self, x):
        return x[batch_size_of(x) // 2:]

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "discriminator_units": self.discriminator_units}
