"""Shared machinery of the models trained with discriminators: their optimizers and update helper."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.models.autoencoder import PRIOR_SALT, Autoencoder

# Sizes of the code discriminator (Rosca et al., appendix K: a 3-layer MLP of 1000 leaky-ReLU units).
CODE_DISCRIMINATOR_UNITS = (1000, 1000, 1000)


class AdversarialAutoencoder(Autoencoder):
    """Base of models with discriminators, each trained by its own Adam(0.5, 0.9) optimizer (Rosca et al.,
    appendix K). `compile` builds one optimizer per discriminator inside the caller's strategy scope (NOTES.md:
    optimizers built outside it break `fit` under a strategy).

    A step is the autoencoder's update (`Autoencoder.replica_step` on `autoencoder_batch(x)`), then one update of
    every discriminator on `discriminator_batch(x)`. Subclasses name their discriminators in `discriminator_names`
    and give their losses in `discriminator_objectives` (one hook); models whose networks have different losses
    (VGH) or whose critic steps come first (WGAN-GP) override `replica_step` and reuse `update_discriminators`.

    Args:
        discriminator: str. Registered data discriminator (`mlp`, `dcgan`); "auto" picks `dcgan` for convolutional
            networks and `mlp` otherwise. Defaults to "auto".
        discriminator_learning_rate: float. Learning rate of every discriminator. Defaults to 5e-4 (Rosca et al.,
            table 3: VGH, VGH++ and the AAE code discriminator).
        **kwargs: see `Autoencoder`.
    """

    adam_betas = (0.5, 0.9)
    discriminator_adam_betas = (0.5, 0.9)
    discriminator_names = ()

    def __init__(self, input_shape, discriminator="auto", discriminator_learning_rate=5e-4, **kwargs):
        super().__init__(input_shape, **kwargs)
        self.discriminator_kind = discriminator
        self.discriminator_learning_rate = float(discriminator_learning_rate)

    def data_discriminator(self, outputs=1, features_only=False, output_bias=True, name="data_discriminator"):
        """Builds the data discriminator for this model's examples."""
        kind = self.discriminator_kind
        if kind == "auto":
            kind = "dcgan" if self.network in ("dcgan", "conv", "rae_conv", "infogan") else "mlp"
        if kind == "mlp":
            return registry.get("discriminator", "mlp")(self.example_shape, CODE_DISCRIMINATOR_UNITS, outputs=outputs,
                                                        output_bias=output_bias, name=name)
        return registry.get("discriminator", kind)(self.example_shape, outputs=outputs, features_only=features_only,
                                                   output_bias=output_bias, name=name)

    def code_discriminator(self, name="code_discriminator"):
        """Builds the code discriminator on latents."""
        return registry.get("discriminator", "mlp")((self.latent_dim,), CODE_DISCRIMINATOR_UNITS, name=name)

    def auxiliary_layers(self):
        return [getattr(self, name) for name in self.discriminator_names]

    def compile(self, optimizer=None, **kwargs):
        if optimizer is None:
            optimizer = keras.optimizers.Adam(1e-4, beta_1=self.adam_betas[0], beta_2=self.adam_betas[1])
        super().compile(optimizer=optimizer, **kwargs)
        for name in self.discriminator_names:
            layer = getattr(self, name)
            discriminator_optimizer = keras.optimizers.Adam(self.discriminator_learning_rate,
                                                            beta_1=self.discriminator_adam_betas[0],
                                                            beta_2=self.discriminator_adam_betas[1])
            discriminator_optimizer.build(layer.trainable_variables)
            setattr(self, f"{name}_optimizer", discriminator_optimizer)

    def update(self, name, tape, objective):
        """Applies one step of discriminator `name`'s optimizer; `objective` is the scalar recorded on `tape`
        (a per-example loss averaged with `tf.nn.compute_average_loss` inside the tape)."""
        variables = getattr(self, name).trainable_variables
        getattr(self, f"{name}_optimizer").apply_gradients(zip(tape.gradient(objective, variables), variables))

    # ------------------------------------------------------------------------------------------ hooks
    def discriminator_objectives(self, x, training=True):
        """Returns {discriminator name: (log name, per-example loss [B])} on the batch x."""
        return {}

    def autoencoder_batch(self, x):
        """The part of the batch the autoencoder trains on (all of it; FactorVAE takes half)."""
        return x

    def discriminator_batch(self, x):
        """The part of the batch the discriminators train on (all of it; FactorVAE takes the other half)."""
        return x

    # -------------------------------------------------------------------------------------------- steps
    def update_discriminators(self, x):
        """One update of every discriminator of `discriminator_objectives`; returns their replica-mean losses."""
        with tf.GradientTape(persistent=True) as tape:
            objectives = self.discriminator_objectives(x, training=True)
            scaled = {name: tf.nn.compute_average_loss(loss) for name, (_, loss) in objectives.items()}
        for name in objectives:
            self.update(name, tape, scaled[name])
        del tape
        return {log_name: tf.reduce_mean(loss) for log_name, loss in objectives.values()}

    def replica_step(self, x):
        logs = super().replica_step(self.autoencoder_batch(x))
        logs.update(self.update_discriminators(self.discriminator_batch(x)))
        return logs

    def replica_test_step(self, x):
        logs = super().replica_test_step(x)
        logs.update({log_name: tf.reduce_mean(loss)
                     for log_name, loss in self.discriminator_objectives(x, training=False).values()})
        return logs

    def build_for(self, batch_size=2):
        super().build_for(batch_size)
        # Discriminators that the autoencoder loss does not touch (DCGAN's, VEEGAN's) get their weights here.
        self.discriminator_objectives(tf.zeros((batch_size, *self.example_shape)), training=False)

    def prior_samples(self, count, salt=PRIOR_SALT):
        """`count` latents from the prior with this step's stateless seed."""
        return self.prior.sample(count, self.noise_seed(salt))

    def get_config(self):
        return {**super().get_config(), "discriminator": self.discriminator_kind,
                "discriminator_learning_rate": self.discriminator_learning_rate}


def batch_size_of(x):
    """The static batch size when known (static shapes under drop_remainder), else the dynamic one."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
