"""WGAN-GP baseline (Gulrajani et al. 2017)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.losses import critic_gradient_penalty, wasserstein_critic_loss
from tfvae.models import noise_salts
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.generator import batch_size_of
from tfvae.models.dcgan import DCGAN


@registry.register("model", "wgan_gp")
@keras.saving.register_keras_serializable("tfvae")
class WGANGP(DCGAN):
    """Wasserstein GAN with gradient penalty: a critic trained `critic_steps` times per generator step.

    Math (x_hat = u x + (1 - u) G(z), u ~ U[0, 1]):
        critic:    f(G(z)) - f(x) + penalty * (||grad f(x_hat)|| - 1)^2      (Gulrajani et al., algorithm 1)
        generator: -f(G(z))
        Each step splits its batch into `critic_steps` chunks, one per critic update, then updates the generator
        once on a full batch of prior samples: five critic updates per generator update on the same data a GAN
        step sees (Rosca et al., appendix K: 5 critic steps, penalty 10).

    Args:
        critic_steps: int. Defaults to 5.
        gradient_penalty: float. Defaults to 10.
        **kwargs: see `DCGAN`.
    """

    loss_terms = ("d_loss", "gp", "wasserstein")
    # f(fake) - f(real) and the gradient penalty are blind to a constant offset of the critic.
    critic_output_bias = False

    def __init__(self, input_shape, critic_steps=5, gradient_penalty=10.0, discriminator_learning_rate=1e-4,
                 **kwargs):
        super().__init__(input_shape, discriminator_learning_rate=discriminator_learning_rate, **kwargs)
        if int(critic_steps) < 1 or gradient_penalty < 0:
            raise ValueError(f"critic_steps must be positive and gradient_penalty non-negative. Received: "
                             f"critic_steps={critic_steps}, gradient_penalty={gradient_penalty}")
        self.critic_steps = int(critic_steps)
        self.gradient_penalty = float(gradient_penalty)

    def _critic(self, x, training):
        return self.data_discriminator_net(x, training=training)[:, 0]

    def per_example_losses(self, x, training=False):
        return {"loss": -self._critic(self.generate(batch_size_of(x), training), training)}

    def critic_losses(self, x, step, training=True):
        """Per-example critic loss, gradient penalty and Wasserstein estimate on `x` (critic update `step`)."""
        count = batch_size_of(x)
        z = self.prior.sample(count, self.noise_seed(noise_salts.CRITIC_PRIOR + step))
        fake = tf.stop_gradient(self.likelihood.mean(self.decoder(z, training=training)))
        real_scores, fake_scores = self._critic(x, training), self._critic(fake, training)
        penalty = critic_gradient_penalty(lambda images: self._critic(images, training), x, fake,
                                          self.noise_seed(noise_salts.GRADIENT_PENALTY + step))
        return (wasserstein_critic_loss(real_scores, fake_scores) + self.gradient_penalty * penalty, penalty,
                real_scores - fake_scores)

    def discriminator_objectives(self, x, training=True):
        return {"data_discriminator_net": ("d_loss", self.critic_losses(x, 0, training=training)[0])}

    def replica_step(self, x):
        chunk = batch_size_of(x) // self.critic_steps
        totals = {}
        for step in range(self.critic_steps):  # The critic first, `critic_steps` times, then the generator.
            with tf.GradientTape() as tape:
                critic_loss, penalty, distance = self.critic_losses(x[step * chunk:(step + 1) * chunk], step)
                objective = self.discriminator_objective("data_discriminator_net", critic_loss)
            self.update("data_discriminator_net", tape, objective)
            for name, value in (("d_loss", critic_loss), ("gp", penalty), ("wasserstein", distance)):
                totals[name] = totals.get(name, 0.0) + tf.reduce_mean(value) / self.critic_steps
        logs = super(DiscriminatorTraining, self).replica_step(x)  # The generator update.
        logs.update(totals)
        return logs

    def replica_test_step(self, x):
        logs = super(DiscriminatorTraining, self).replica_test_step(x)
        critic_loss, penalty, distance = self.critic_losses(x, 0, training=False)
        logs.update(d_loss=tf.reduce_mean(critic_loss), gp=tf.reduce_mean(penalty),
                    wasserstein=tf.reduce_mean(distance))
        return logs

    def get_config(self):
        return {**super().get_config(), "critic_steps": self.critic_steps, "gradient_penalty": self.gradient_penalty}
