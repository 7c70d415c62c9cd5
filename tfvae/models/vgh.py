"""VAE-GAN hybrid with data and code discriminators (Rosca et al. 2018)."""
import keras
import tensorflow as tf

from tfvae import precision, registry
from tfvae.losses import density_ratio_loss, discriminator_cross_entropy
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.generator import batch_size_of
from tfvae.models.vae import VAE


@registry.register("model", "vgh")
@keras.saving.register_keras_serializable("tfvae")
class VGH(DiscriminatorTraining, VAE):
    """VGH: a Gaussian encoder and a generator trained with an l1 reconstruction, a data discriminator that tells
    data from reconstructions (eq. 8) and a code discriminator that tells prior samples from codes (Rosca et al.,
    section 4 and appendix F).

    Math (R(.) = -log D + log(1 - D) = -logit, the density-ratio loss; z ~ q(z|x), x_hat = G(z)):
        encoder:   lambda ||x - x_hat||_1 + R_C(z)
        generator: lambda ||x - x_hat||_1 + R_D(x_hat)      [+ R_D(G(z_p)), z_p ~ p(z), for VGH++]
        data discriminator: -log D(x) - log(1 - D(x_hat))    [- log(1 - D(G(z_p))) for VGH++, eq. 9]
        code discriminator: -log C(z_p) - log(1 - C(z))

    Args:
        reconstruction_weight: float. lambda. Defaults to 1.0 (the lowest of the paper's sweep 1, 5, 10, 50).
        **kwargs: see `DiscriminatorTraining` and `VAE`.
    """

    base_terms = ("loss", "reconstruction")
    loss_terms = ("code_adversarial", "data_adversarial", "d_loss", "c_loss")
    discriminator_names = ("data_discriminator_net", "code_discriminator_net")
    # VGH++ (algorithm 5) also trains on decoded prior samples.
    uses_prior_samples = False
    # VGH's losses never evaluate p(z) and never decode prior samples, so a decoupled prior would get no gradient;
    # VGH++ decodes prior samples z = g^-1(z0), which trains the prior's flow through the data discriminator.
    supports_learned_prior = False

    def __init__(self, input_shape, reconstruction_weight=1.0, **kwargs):
        super().__init__(input_shape, **kwargs)
        self.reconstruction_weight = float(reconstruction_weight)
        self.data_discriminator_net = self.data_discriminator()
        self.code_discriminator_net = self.code_discriminator()

    def _forward(self, x, training):
        z = self.posterior(x, training=training)["z"]
        reconstruction = self.likelihood.mean(self.decoder(z, training=training))
        generated = None
        if self.uses_prior_samples:
            generated = self.likelihood.mean(self.decoder(self.prior_samples(batch_size_of(x)), training=training))
        return z, reconstruction, generated

    def per_example_losses(self, x, training=False):
        z, reconstruction, generated = self._forward(x, training)
        l1 = tf.reduce_sum(tf.abs(tf.reshape(x - reconstruction, [batch_size_of(x), -1])), axis=1)
        code_adversarial = density_ratio_loss(self.code_discriminator_net(z, training=training)[:, 0])
        data_adversarial = density_ratio_loss(self.data_discriminator_net(reconstruction, training=training)[:, 0])
        if generated is not None:
            data_adversarial += density_ratio_loss(self.data_discriminator_net(generated, training=training)[:, 0])
        weighted = self.reconstruction_weight * l1
        return {"loss": weighted + code_adversarial + data_adversarial, "reconstruction": l1,
                "code_adversarial": code_adversarial, "data_adversarial": data_adversarial,
                "encoder_loss": weighted + code_adversarial, "generator_loss": weighted + data_adversarial}

    def discriminator_objectives(self, x, training=True):
        z, reconstruction, generated = (tf.stop_gradient(t) if t is not None else None
                                        for t in self._forward(x, training))
        d_real = self.data_discriminator_net(x, training=training)[:, 0]
        d_fake = self.data_discriminator_net(reconstruction, training=training)[:, 0]
        d_loss = discriminator_cross_entropy(d_real, d_fake)
        if generated is not None:
            d_loss += tf.nn.softplus(self.data_discriminator_net(generated, training=training)[:, 0])
        prior = self.prior_samples(batch_size_of(x))
        c_loss = discriminator_cross_entropy(self.code_discriminator_net(prior, training=training)[:, 0],
                                             self.code_discriminator_net(z, training=training)[:, 0])
        return {"data_discriminator_net": ("d_loss", d_loss), "code_discriminator_net": ("c_loss", c_loss)}

    def replica_step(self, x):
        # One optimizer, two losses: the encoder's variables follow the encoder loss, every other one the
        # generator loss. Gradients are applied in `main_variables()` order, the order the optimizer is built in
        # (by the Trainer and on loading), so its saved state always matches.
        variables = self.main_variables()
        encoder_ids = {id(v) for v in self.encoder.trainable_variables}
        encoder_variables = [v for v in variables if id(v) in encoder_ids]
        generator_variables = [v for v in variables if id(v) not in encoder_ids]
        with tf.GradientTape(persistent=True) as tape:
            terms = self.per_example_losses(x, training=True)
            # Both scaled by the one optimizer's loss scale (mixed_float16), which its update divides out.
            encoder_loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(terms.pop("encoder_loss")))
            generator_loss = self.optimizer.scale_loss(tf.nn.compute_average_loss(terms.pop("generator_loss")))
        gradients = dict(zip(map(id, encoder_variables), tape.gradient(encoder_loss, encoder_variables)))
        gradients.update(zip(map(id, generator_variables), tape.gradient(generator_loss, generator_variables)))
        del tape
        ordered = precision.skip_together([gradients[id(v)] for v in variables], self.optimizer)
        self.optimizer.apply_gradients(zip(ordered, variables))
        logs = {name: tf.reduce_mean(value) for name, value in terms.items()}
        logs.update(self.update_discriminators(x))
        return logs

    def replica_test_step(self, x):
        logs = super().replica_test_step(x)
        for name in ("encoder_loss", "generator_loss"):
            logs.pop(name)
        return logs

    def get_config(self):
        return {**super().get_config(), "reconstruction_weight": self.reconstruction_weight}
