"""Adversarial autoencoder (Makhzani et al. 2016)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import discriminator_cross_entropy, non_saturating_generator_loss
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.generator import batch_size_of


@registry.register("model", "aae")
@keras.saving.register_keras_serializable("tfvae")
class AAE(DiscriminatorTraining, Autoencoder):
    """Adversarial autoencoder: a deterministic autoencoder whose codes a code discriminator pushes to the prior
    (Makhzani et al. 2016; the AAE of Rosca et al., section 5: latent-space marginal matching by density ratio).

    Math:
        autoencoder: -log p(x | D(E(x))) - log C(E(x))        (reconstruction + non-saturating code adversary)
        code discriminator: -log C(z_prior) - log(1 - C(E(x)))
        The loss terms are not weighted (Rosca et al., appendix K, following Makhzani et al.).

    Args:
        likelihood: str. Defaults to "bernoulli" (Rosca et al.'s visible distribution).
        **kwargs: see `DiscriminatorTraining`.
    """

    loss_terms = ("adversarial", "c_loss")
    discriminator_names = ("code_discriminator_net",)

    def __init__(self, input_shape, likelihood="bernoulli", **kwargs):
        super().__init__(input_shape, likelihood=likelihood, **kwargs)
        self.code_discriminator_net = self.code_discriminator()

    def regularizer(self, x, posterior, training=False):
        scores = self.code_discriminator_net(posterior["z"], training=training)[:, 0]
        adversarial = non_saturating_generator_loss(scores)
        return adversarial, {"adversarial": adversarial}

    def discriminator_objectives(self, x, training=True):
        fake = tf.stop_gradient(self.posterior(x, training=training)["z"])
        real = self.prior_samples(batch_size_of(x))
        loss = discriminator_cross_entropy(self.code_discriminator_net(real, training=training)[:, 0],
                                           self.code_discriminator_net(fake, training=training)[:, 0])
        return {"code_discriminator_net": ("c_loss", loss)}
