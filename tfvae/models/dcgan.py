"""DCGAN baseline (Radford et al. 2016) with the non-saturating loss."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import discriminator_cross_entropy, non_saturating_generator_loss
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.generator import Generator, batch_size_of


@registry.register("model", "dcgan")
@keras.saving.register_keras_serializable("tfvae")
class DCGAN(DiscriminatorTraining, Generator):
    """A GAN: generator G (the decoder) against a data discriminator D; no encoder (Rosca et al.'s baseline).

    Math:
        generator:     -log D(G(z)),  z ~ p(z)                  (non-saturating)
        discriminator: -log D(x) - log(1 - D(G(z)))

    Args:
        likelihood: str. Maps generator outputs to images (sigmoid). Defaults to "bernoulli".
        **kwargs: see `DiscriminatorTraining`. The generator learning rate is the binary's --learning_rate
            (Rosca et al. sweep 1e-4 to 3e-4 for both networks).
    """

    preferred_sampler = "prior"
    base_terms = ("loss",)
    loss_terms = ("d_loss",)
    discriminator_names = ("data_discriminator_net",)
    critic_output_bias = True

    def __init__(self, input_shape, likelihood="bernoulli", discriminator_learning_rate=2e-4, **kwargs):
        super().__init__(input_shape, likelihood=likelihood, discriminator_learning_rate=discriminator_learning_rate,
                         **kwargs)
        self.data_discriminator_net = self.data_discriminator(output_bias=self.critic_output_bias)

    def per_example_losses(self, x, training=False):
        fake = self.data_discriminator_net(self.generate(batch_size_of(x), training), training=training)[:, 0]
        return {"loss": non_saturating_generator_loss(fake)}

    def discriminator_objectives(self, x, training=True):
        fake = tf.stop_gradient(self.generate(batch_size_of(x), training))
        loss = discriminator_cross_entropy(self.data_discriminator_net(x, training=training)[:, 0],
                                           self.data_discriminator_net(fake, training=training)[:, 0])
        return {"data_discriminator_net": ("d_loss", loss)}
