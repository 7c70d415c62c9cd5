"""VEEGAN (Srivastava et al. 2017), as evaluated by Rosca et al. (2018)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import density_ratio_loss, discriminator_cross_entropy
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.discriminator_training import CODE_DISCRIMINATOR_UNITS, DiscriminatorTraining
from tfvae.models.generator import batch_size_of
from tfvae.networks.joint_discriminator import JointDiscriminator


@registry.register("model", "veegan")
@keras.saving.register_keras_serializable("tfvae")
class VEEGAN(DiscriminatorTraining, Autoencoder):
    """VEEGAN: a generator G and a reconstructor network F (the encoder) trained on prior samples to fool a joint
    discriminator on (image, code) pairs and to reconstruct codes, matching joint distributions (Rosca et al.,
    section 4; Srivastava et al., eq. 8).

    Math (z_p ~ p(z); J a logit of "pair from the data" vs "pair from the generator"):
        generator + reconstructor: -J(G(z_p), z_p) + ||z_p - F(G(z_p))||_1   (density ratio + l1 code reconstruction)
        joint discriminator:       -log sigma(J(x, F(x))) - log(1 - sigma(J(G(z_p), z_p)))
        The terms are not weighted (Rosca et al., appendix K). Choices the paper leaves open: F is deterministic
        (no noise input), and `reconstruction` reports the data-space l1 of G(F(x)), which VEEGAN does not
        optimize, to make runs comparable with the other models.

    Args:
        likelihood: str. Maps generator outputs to images. Defaults to "bernoulli".
        **kwargs: see `DiscriminatorTraining`.
    """

    loss_terms = ("code_reconstruction", "adversarial", "d_loss")
    discriminator_names = ("joint_discriminator_net",)

    def __init__(self, input_shape, likelihood="bernoulli", **kwargs):
        super().__init__(input_shape, likelihood=likelihood, **kwargs)
        self.joint_discriminator_net = self.build_network(self._joint_discriminator)

    def _joint_discriminator(self):
        image_trunk = self.data_discriminator_network(features_only=True, name="image_trunk")
        if isinstance(image_trunk.layers[-1], keras.layers.Dense):  # An MLP trunk: drop its classification layer.
            image_trunk = keras.Sequential(image_trunk.layers[:-1], name="image_trunk")
        code_trunk = keras.Sequential([keras.Input((self.latent_dim,))]
                                      + [layer for units in CODE_DISCRIMINATOR_UNITS
                                         for layer in (keras.layers.Dense(units), keras.layers.LeakyReLU(0.2))],
                                      name="code_trunk")
        return JointDiscriminator(image_trunk, code_trunk)

    def _generate(self, count, training):
        z = self.prior_samples(count)
        return z, self.likelihood.mean(self.decoder(z, training=training))

    def per_example_losses(self, x, training=False):
        z, generated = self._generate(batch_size_of(x), training)
        adversarial = density_ratio_loss(self.joint_discriminator_net(generated, z, training=training))
        code_reconstruction = tf.reduce_sum(tf.abs(z - self.encoder(generated, training=training)), axis=1)
        data_reconstruction = tf.reduce_sum(
            tf.abs(tf.reshape(x - self.reconstruct(x), [batch_size_of(x), -1])), axis=1)
        return {"loss": adversarial + code_reconstruction, "reconstruction": tf.stop_gradient(data_reconstruction),
                "code_reconstruction": code_reconstruction, "adversarial": adversarial}

    def discriminator_objectives(self, x, training=True):
        z, generated = (tf.stop_gradient(t) for t in self._generate(batch_size_of(x), training))
        codes = tf.stop_gradient(self.encoder(x, training=training))
        loss = discriminator_cross_entropy(self.joint_discriminator_net(x, codes, training=training),
                                           self.joint_discriminator_net(generated, z, training=training))
        return {"joint_discriminator_net": ("d_loss", loss)}
