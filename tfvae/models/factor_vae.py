"""FactorVAE (Kim & Mnih 2018)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.networks import build_mlp_discriminator
from tfvae.models.vae import VAE

_PERMUTE_SALT = 3


def permute_dims(z, seed):
    """Shuffles every latent dimension independently across the batch: samples of prod_j q(z_j) (Kim & Mnih, alg. 1).

    Args:
        z: Tensor [B, L].
        seed: int Tensor [2]. Stateless seed.

    Returns:
        Tensor [B, L].
    """
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(z), seed=seed), axis=0)
    return tf.transpose(tf.gather(tf.transpose(z), tf.transpose(order), batch_dims=1))


@registry.register("model", "factor_vae")
@keras.saving.register_keras_serializable("tfvae")
class FactorVAE(VAE):
    """FactorVAE: the ELBO plus gamma times a total correlation estimated by a discriminator (Kim & Mnih 2018, eq. 2).

    Math:
        L_VAE = -log p(x|z) + KL[q(z|x) || p(z)] + gamma * (D_0(z) - D_1(z))   (logits of "from q(z)" vs "permuted")
        L_D   = -1/2 E[ log softmax(D(z))_0 + log softmax(D(permute_dims(z')))_1 ]
        Each global batch is split in two halves: the first trains the VAE, the second (independent) half gives
        the latents z' the discriminator learns to tell from their dimension-wise permutation. The discriminator
        has its own optimizer, built in `compile` (inside the strategy scope).

    Args:
        gamma: float. Weight of the total correlation. Defaults to 10 (Kim & Mnih's range is 10-100).
        discriminator_units: tuple of int. Defaults to 6 x 1000 (Kim & Mnih).
        discriminator_learning_rate: float. Defaults to 1e-4, with Adam(0.5, 0.9) (Kim & Mnih).
        **kwargs: see `VAE`.
    """

    loss_terms = ("kl", "tc", "d_loss")

    def __init__(self, input_shape, gamma=10.0, discriminator_units=(1000,) * 6, discriminator_learning_rate=1e-4,
                 **kwargs):
        super().__init__(input_shape, **kwargs)
        self.gamma = float(gamma)
        self.discriminator_units = tuple(int(u) for u in discriminator_units)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        self.discriminator = build_mlp_discriminator((self.latent_dim,), self.discriminator_units, outputs=2)
        self.discriminator_optimizer = None

    def auxiliary_layers(self):
        return [self.discriminator]

    def compile(self, optimizer="adam", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        self.discriminator_optimizer = keras.optimizers.Adam(self.discriminator_learning_rate, beta_1=0.5,
                                                             beta_2=0.9)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        logits = self.discriminator(posterior["z"], training=training)
        tc = logits[:, 0] - logits[:, 1]
        return kl + self.gamma * tc, {"kl": kl, "tc": tc}

    def discriminator_losses(self, x, training=True):
        """Per-example discriminator loss on the latents of `x` and their permutation, shape [B]."""
        z = tf.stop_gradient(self.posterior(x, training=training)["z"])
        permuted = permute_dims(z, self.noise_seed(_PERMUTE_SALT))
        real = tf.nn.log_softmax(self.discriminator(z, training=training))[:, 0]
        fake = tf.nn.log_softmax(self.discriminator(permuted, training=training))[:, 1]
        return -0.5 * (real + fake)

    def replica_step(self, x):
        half = x.shape[0] // 2 if x.shape[0] is not None else tf.shape(x)[0] // 2
        logs = super().replica_step(x[:half])
        with tf.GradientTape() as tape:
            d_loss = self.discriminator_losses(x[half:])
            scaled = tf.nn.compute_average_loss(d_loss)
        variables = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        logs["d_loss"] = tf.reduce_mean(d_loss)
        return logs

    def replica_test_step(self, x):
        logs = super().replica_test_step(x)
        logs["d_loss"] = tf.reduce_mean(self.discriminator_losses(x, training=False))
        return logs

    def build_for(self, batch_size=2):
        super().build_for(batch_size)
        self.discriminator(tf.zeros((batch_size, self.latent_dim)))

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "discriminator_units": self.discriminator_units,
                "discriminator_learning_rate": self.discriminator_learning_rate}
