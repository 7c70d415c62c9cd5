"""The machinery of models trained against discriminators: their networks, optimizers and updates."""
import keras
import tensorflow as tf

from tfvae import precision, registry

# Sizes of the code discriminator (Rosca et al., appendix K: a 3-layer MLP of 1000 leaky-ReLU units).
CODE_DISCRIMINATOR_UNITS = (1000, 1000, 1000)
# Networks whose data discriminator is the convolutional DCGAN one (table 4 of Rosca et al.) under "auto".
_CONVOLUTIONAL_NETWORKS = ("dcgan", "conv", "rae_conv", "infogan")


class DiscriminatorTraining:
    """Mixin for models with discriminators, each trained by its own optimizer; combine it with a model base:

        class DCGAN(DiscriminatorTraining, Generator): ...     # a GAN
        class AAE(DiscriminatorTraining, Autoencoder): ...     # an adversarial autoencoder
        class FactorVAE(DiscriminatorTraining, VAE): ...       # a VAE with a total-correlation discriminator

    A step is the model's own update (`replica_step` of the base, on `main_batch(x)`), then one update of every
    discriminator on `discriminator_batch(x)`. Subclasses name their discriminators in `discriminator_names` and
    give their losses in `discriminator_objectives` (one hook); models whose networks have different losses (VGH)
    or whose critic steps come first (WGAN-GP) override `replica_step` and reuse `update_discriminators`.

    `compile` builds one optimizer per discriminator (Adam(0.5, 0.9) at `discriminator_learning_rate` unless given)
    inside the caller's strategy scope: optimizers built outside it break `fit` under a strategy.
    `get_compile_config` / `compile_from_config` carry them through `.keras` files.

    Args:
        discriminator: str. Registered data discriminator (`mlp`, `dcgan`); "auto" picks `dcgan` for convolutional
            networks and `mlp` otherwise. Defaults to "auto".
        discriminator_learning_rate: float. Learning rate of every discriminator. Defaults to 5e-4 (Rosca et al.,
            table 3: VGH, VGH++ and the AAE code discriminator).
        **kwargs: see the model base.

    References:
        Rosca et al. 2018, Distribution matching in variational inference (arXiv:1802.06847), appendix K.
    """

    adam_betas = (0.5, 0.9)
    discriminator_adam_betas = (0.5, 0.9)
    discriminator_names = ()

    def __init__(self, input_shape, discriminator="auto", discriminator_learning_rate=5e-4, **kwargs):
        super().__init__(input_shape, **kwargs)
        self.discriminator_kind = discriminator
        self.discriminator_learning_rate = float(discriminator_learning_rate)

    def data_discriminator(self, outputs=1, features_only=False, output_bias=True, name="data_discriminator"):
        """Builds the data discriminator for this model's examples (under the model's policy, float32 outputs)."""
        return self.build_network(lambda: self.data_discriminator_network(outputs, features_only, output_bias, name))

    def data_discriminator_network(self, outputs=1, features_only=False, output_bias=True, name="data_discriminator"):
        """The data discriminator as the registered builder makes it: call it inside `build_network` (VEEGAN's
        joint discriminator uses it as a trunk)."""
        kind = self.discriminator_kind
        if kind == "auto":
            kind = "dcgan" if self.network in _CONVOLUTIONAL_NETWORKS else "mlp"
        if kind == "mlp":
            return registry.get("discriminator", "mlp")(self.example_shape, CODE_DISCRIMINATOR_UNITS, outputs=outputs,
                                                        output_bias=output_bias, name=name)
        return registry.get("discriminator", kind)(self.example_shape, outputs=outputs, features_only=features_only,
                                                   output_bias=output_bias, name=name)

    def code_discriminator(self, name="code_discriminator"):
        """Builds the code discriminator on latents."""
        return self.build_network(lambda: registry.get("discriminator", "mlp")(
            (self.latent_dim,), CODE_DISCRIMINATOR_UNITS, name=name))

    def discriminators(self):
        """{name: discriminator layer} of `discriminator_names`."""
        return {name: getattr(self, name) for name in self.discriminator_names}

    def auxiliary_layers(self):
        return list(self.discriminators().values())

    # ------------------------------------------------------------------------------------- optimizers
    def compile(self, optimizer=None, discriminator_optimizers=None, **kwargs):
        """Compiles the model and builds one optimizer per discriminator.

        Args:
            optimizer: the model's optimizer. Defaults to Adam(1e-4) with `adam_betas`.
            discriminator_optimizers: dict discriminator name -> keras optimizer, or None for Adam at
                `discriminator_learning_rate` with `discriminator_adam_betas`.
            **kwargs: see `keras.Model.compile`.
        """
        if optimizer is None:
            optimizer = keras.optimizers.Adam(1e-4, beta_1=self.adam_betas[0], beta_2=self.adam_betas[1])
        super().compile(optimizer=optimizer, **kwargs)
        given = dict(discriminator_optimizers or {})
        unknown = sorted(set(given) - set(self.discriminator_names))
        if unknown:
            raise ValueError(f"{type(self).__name__} has discriminators {list(self.discriminator_names)}; no "
                             f"optimizer can be given for others. Received: {unknown}")
        self.discriminator_optimizers = {}
        for name, layer in self.discriminators().items():
            discriminator_optimizer = precision.loss_scaled(given.get(name) or keras.optimizers.Adam(
                self.discriminator_learning_rate, beta_1=self.discriminator_adam_betas[0],
                beta_2=self.discriminator_adam_betas[1]), self.mixed_precision)
            discriminator_optimizer.build(layer.trainable_variables)
            self.discriminator_optimizers[name] = discriminator_optimizer
            # Also an attribute, so tf.train.Checkpoint and Keras saving track each optimizer's state.
            setattr(self, f"{name}_optimizer", discriminator_optimizer)

    def get_compile_config(self):
        config = super().get_compile_config() or {}
        if getattr(self, "discriminator_optimizers", None):  # compiled
            config["discriminator_optimizers"] = {name: keras.optimizers.serialize(opt)
                                                  for name, opt in self.discriminator_optimizers.items()}
        return config

    def _deserialize_compile_config(self, config):
        config = dict(config)
        serialized = config.pop("discriminator_optimizers", None) or {}
        return {**super()._deserialize_compile_config(config), "discriminator_optimizers": {
            name: keras.optimizers.deserialize(value) for name, value in serialized.items()}}

    def discriminator_objective(self, name, loss):
        """The scalar whose gradient trains discriminator `name` on the per-example `loss` [B]: its replica share of
        the global-batch mean, loss-scaled when its optimizer is (mixed_float16). Call it inside the tape."""
        return self.discriminator_optimizers[name].scale_loss(tf.nn.compute_average_loss(loss))

    def update(self, name, tape, objective):
        """Applies one step of discriminator `name`'s optimizer; `objective` is the scalar recorded on `tape` by
        `discriminator_objective`."""
        variables = getattr(self, name).trainable_variables
        optimizer = self.discriminator_optimizers[name]
        optimizer.apply_gradients(zip(precision.skip_together(tape.gradient(objective, variables), optimizer),
                                      variables))

    # ------------------------------------------------------------------------------------------ hooks
    def discriminator_objectives(self, x, training=True):
        """Returns {discriminator name: (log name, per-example loss [B])} on the batch x."""
        return {}

    def main_batch(self, x):
        """The part of the batch the model's own update trains on (all of it; FactorVAE takes half)."""
        return x

    def discriminator_batch(self, x):
        """The part of the batch the discriminators train on (all of it; FactorVAE takes the other half)."""
        return x

    # -------------------------------------------------------------------------------------------- steps
    def update_discriminators(self, x):
        """One update of every discriminator of `discriminator_objectives`; returns their replica-mean losses."""
        with tf.GradientTape(persistent=True) as tape:
            objectives = self.discriminator_objectives(x, training=True)
            scaled = {name: self.discriminator_objective(name, loss) for name, (_, loss) in objectives.items()}
        for name in objectives:
            self.update(name, tape, scaled[name])
        del tape
        return {log_name: tf.reduce_mean(loss) for log_name, loss in objectives.values()}

    def replica_step(self, x):
        logs = super().replica_step(self.main_batch(x))
        logs.update(self.update_discriminators(self.discriminator_batch(x)))
        return logs

    def replica_test_step(self, x):
        logs = super().replica_test_step(x)
        logs.update({log_name: tf.reduce_mean(loss)
                     for log_name, loss in self.discriminator_objectives(x, training=False).values()})
        return logs

    def build_for(self, batch_size=2):
        super().build_for(batch_size)
        # Discriminators that the main loss does not touch (DCGAN's, VEEGAN's) get their weights here.
        self.discriminator_objectives(tf.zeros((batch_size, *self.example_shape)), training=False)

    def get_config(self):
        return {**super().get_config(), "discriminator": self.discriminator_kind,
                "discriminator_learning_rate": self.discriminator_learning_rate}
