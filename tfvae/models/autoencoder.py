"""The base class of every autoencoder in tfvae: the forward pass, the loss and the train step live here once."""
import keras
import tensorflow as tf

from tfvae import registry

# Salts that keep the noise streams of training, evaluation and prior sampling apart.
_TRAIN_SALT, _TEST_SALT, PRIOR_SALT = 0, 1, 2


class Autoencoder(keras.Model):
    """A deterministic autoencoder trained on -log p(x | z) plus a regularizer; the base of the model zoo.

    Variants override hooks, never the forward pass:

    - `encoder_outputs(latent_dim)`: width of the encoder's output (2 * latent_dim for Gaussian posteriors);
    - `posterior(x, training)`: dict with the decoder input `z` and the posterior parameters (`z_mean`, ...);
    - `regularizer(x, posterior, training)`: per-example penalty [B] added to the loss, and the tracked terms;
    - `weight_penalty()`: a scalar added once per step (weight decay on the decoder).

    Loss terms are tracked under stable names (`loss`, `reconstruction`, and each variant's `loss_terms`).

    Args:
        input_shape: tuple. Shape of one example, e.g. (8, 8, 1), (32, 32, 1) or (2,).
        latent_dim: int. Number of latent dimensions. Defaults to 16 (RAE paper, MNIST).
        network: str. A registered network builder (`mlp`, `conv`, `rae_conv`). Defaults to "mlp".
        network_kwargs: dict or None. Extra arguments of the network builder.
        likelihood: str. A registered decoder likelihood (`gaussian`, `gaussian_learned`, `bernoulli`).
            Defaults to "gaussian" (squared error, RAE paper eq. 10).
        likelihood_kwargs: dict or None. Extra arguments of the likelihood.
        prior: str. A registered prior. Defaults to "standard".
        seed: int. Seed of the training noise (stateless, mixed with the step counter and replica id).
            Defaults to 0.
    """

    loss_terms = ()
    # Tracked by every model of the family; GANs have no reconstruction.
    base_terms = ("loss", "reconstruction")
    # Whether the prior takes part in training (VAE family); a deterministic autoencoder only samples from it.
    supports_learned_prior = False
    # GANs (DCGAN, WGAN-GP) have a generator but no encoder.
    has_encoder = True
    # Ex-post densities the binaries always fit for this model, and the sampler its export prefers (None: the
    # configuration's choice, `gmm` by default).
    ex_post_densities = ()
    preferred_sampler = None
    # Adam's moments for the model's optimizers; adversarial models use (0.5, 0.9) (Rosca et al., appendix K).
    adam_betas = (0.9, 0.999)

    def __init__(self, input_shape, latent_dim=16, network="mlp", network_kwargs=None, likelihood="gaussian",
                 likelihood_kwargs=None, prior="standard", seed=0, **kwargs):
        super().__init__(**kwargs)
        if int(latent_dim) <= 0:
            raise ValueError(f"latent_dim must be a positive integer. Received: latent_dim={latent_dim}")
        self.example_shape = tuple(int(d) for d in input_shape)
        self.latent_dim = int(latent_dim)
        self.network = network
        self.network_kwargs = dict(network_kwargs or {})
        self.likelihood_name = likelihood
        self.likelihood_kwargs = dict(likelihood_kwargs or {})
        self.prior_name = prior
        self.seed = int(seed)
        encoder, self.decoder = registry.get("network", network)(
            self.example_shape, self.encoder_outputs(self.latent_dim), self.latent_dim, **self.network_kwargs)
        self.encoder = encoder if self.has_encoder else None
        self.likelihood = registry.get("likelihood", likelihood)(**self.likelihood_kwargs)
        if prior != "standard" and not self.supports_learned_prior:
            raise ValueError(f"--prior={prior} needs a model whose loss involves the prior (the VAE family); "
                             f"{type(self).__name__} never evaluates p(z). Use the default prior and an ex-post "
                             f"density instead. Received: prior={prior!r}")
        self.prior = registry.get("prior", prior)(self.latent_dim)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in (*self.base_terms, *self.loss_terms)}

    # ----------------------------------------------------------------------------------------------- hooks
    def encoder_outputs(self, latent_dim):
        """Returns the width of the encoder's output layer."""
        return latent_dim

    def posterior(self, x, training=False):
        """Returns {"z": decoder input, "z_mean": posterior mean}; deterministic here."""
        z = self.encoder(x, training=training)
        return {"z": z, "z_mean": z}

    def regularizer(self, x, posterior, training=False):
        """Returns (penalty [B], {term name: [B]}). The plain autoencoder has none."""
        del x, training
        return tf.zeros_like(posterior["z"][:, 0]), {}

    def weight_penalty(self):
        """Returns a scalar added to the loss once per step (0 here)."""
        return tf.constant(0.0)

    def auxiliary_layers(self):
        """Layers trained by their own optimizer (discriminators); excluded from the autoencoder's update."""
        return []

    def autoencoder_variables(self):
        """The variables the autoencoder loss updates: every trainable variable outside `auxiliary_layers`."""
        excluded = {id(v) for layer in self.auxiliary_layers() for v in layer.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in excluded]

    # ----------------------------------------------------------------------------------------- public API
    def encode(self, x):
        """Maps examples to latents (the posterior mean), in inference mode."""
        if not self.has_encoder:
            raise ValueError(f"{type(self).__name__} is a GAN: it has a generator but no encoder, so it cannot encode "
                             f"or reconstruct, and ex-post densities cannot be fitted to it. Sample from its prior.")
        return self.posterior(x, training=False)["z_mean"]

    def decode(self, z):
        """Maps latents to the decoder mean (images in [0, 1]), in inference mode."""
        return self.likelihood.mean(self.decoder(z, training=False))

    def reconstruct(self, x):
        """Returns decode(encode(x))."""
        return self.decode(self.encode(x))

    def call(self, x, training=False):
        return self.likelihood.mean(self.decoder(self.posterior(x, training=training)["z_mean"], training=training))

    def per_example_losses(self, x, training=False):
        """Computes every loss term per example.

        Returns:
            dict of Tensors [B]: `loss` (what is minimized, without the weight penalty), `reconstruction`
            (-log p(x|z)), and the variant's `loss_terms`.
        """
        posterior = self.posterior(x, training=training)
        reconstruction = -self.likelihood.log_prob(x, self.decoder(posterior["z"], training=training))
        penalty, terms = self.regularizer(x, posterior, training=training)
        return {"loss": reconstruction + penalty, "reconstruction": reconstruction, **terms}

    def noise_seed(self, salt=_TRAIN_SALT):
        """A stateless seed [2] for this step and replica.

        Mixing the optimizer's step counter and the replica id into a fixed seed gives fresh noise every step,
        different noise on every replica, the same noise after resuming from a checkpoint, and no mutable random
        state (which tf.distribute and XLA handle poorly).
        """
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64) if context is not None else tf.constant(0, tf.int64)
        optimizer = getattr(self, "optimizer", None)
        step = tf.cast(optimizer.iterations, tf.int64) if optimizer is not None else tf.constant(0, tf.int64)
        return tf.stack([tf.constant(self.seed, tf.int64) * 1_000_003 + salt * 65_537 + replica, step])

    def replica_step(self, x):
        """One optimization step on this replica's batch; returns the replica's mean of each loss term.

        The loss is scaled with `tf.nn.compute_average_loss`, i.e. divided by the global batch size, so the gradient
        summed over replicas equals the single-device gradient of the global batch. Runs inside `strategy.run`
        (the binaries' loop) and inside `train_step` (`model.fit`).
        """
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.per_example_losses(x, training=True)
            penalty = self.weight_penalty()
            loss = tf.nn.compute_average_loss(terms["loss"]) + penalty / num_replicas
        variables = self.autoencoder_variables()
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        logs = {name: tf.reduce_mean(value) for name, value in terms.items()}
        logs["loss"] = logs["loss"] + penalty
        return logs

    def replica_test_step(self, x):
        """Evaluates the loss terms on this replica's batch (inference mode); returns their replica means."""
        terms = self.per_example_losses(x, training=False)
        logs = {name: tf.reduce_mean(value) for name, value in terms.items()}
        logs["loss"] = logs["loss"] + self.weight_penalty()
        return logs

    # ------------------------------------------------------------------------------------- Keras fit API
    @property
    def metrics(self):
        return list(self.trackers.values())

    def _track(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        return self._track(self.replica_step(_features(data)))

    def test_step(self, data):
        return self._track(self.replica_test_step(_features(data)))

    def build_for(self, batch_size=2):
        """Creates every weight by running the model once on zeros."""
        self.per_example_losses(tf.zeros((batch_size, *self.example_shape)), training=False)
        self.built = True


    def get_config(self):
        return {"input_shape": self.example_shape, "latent_dim": self.latent_dim, "network": self.network,
                "network_kwargs": self.network_kwargs, "likelihood": self.likelihood_name,
                "likelihood_kwargs": self.likelihood_kwargs, "prior": self.prior_name, "seed": self.seed,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        # Built here because Keras assigns saved weights right after from_config: weights created lazily (flows,
        # discriminators, priors) would otherwise be skipped silently.
        model = cls(**config)
        model.build_for()
        return model


def _features(data):
    """Accepts x, (x,), or (x, y) batches as `model.fit` may give them."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data
