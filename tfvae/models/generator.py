"""The base class of every model in tfvae: a decoder fed by a prior, and the one training step."""
import keras
import tensorflow as tf

from tfvae import precision, registry
from tfvae.models import noise_salts

# Training steps per call into the compiled training function, in `compile` and the `Trainer`. Keras' default of one
# step per call costs 3-5% of the training throughput on a 2-core CPU (docs/speed.md).
STEPS_PER_EXECUTION = 20


# The per-replica steps, traced as written, without AutoGraph: they hold no tensor-dependent Python control flow, and
# converting them (with the Keras, TFP and tfvae code they call) took half to five sixths of each trace (a step of a
# small VAE: 1.35 s -> 0.23 s). A Python `if` on a tensor in a step then fails loudly when traced, instead of being
# converted: use `tf.cond`. The trainer's loop around the step (`tf.range`) is still converted.
_STEP_METHODS = ("replica_step", "replica_test_step")


def _trace_steps_as_written(cls):
    for name in _STEP_METHODS:
        if name in vars(cls):
            setattr(cls, name, tf.autograph.experimental.do_not_convert(vars(cls)[name]))


class Generator(keras.Model):
    """A decoder x = D(z) with a prior p(z), trained on a per-example loss; the base of GANs and autoencoders.

    Subclasses give `per_example_losses(x, training)`; `Autoencoder` adds an encoder. The step, the noise streams,
    the tracked loss terms, building and (de)serialization live here once.

    Training and export policy is declared by class attributes, read by the binaries from the class:

    - `ex_post_densities`: densities always fitted after training besides the configured ones;
    - `preferred_sampler`: the sampler behind the export's `sample` endpoint, or None for the best fitted one
      (`default_sampler`);
    - `adam_betas`: Adam's (beta_1, beta_2) of the model's optimizer;
    - `needs_dataset_size`: whether the constructor takes `dataset_size` (the binaries pass the training set size);
    - `ex_post_density_arguments()`: constructor arguments of the model's own ex-post densities.

    Args:
        input_shape: tuple. Shape of one example, e.g. (8, 8, 1), (32, 32, 1) or (2,).
        latent_dim: int. Number of latent dimensions. Defaults to 16 (RAE paper, MNIST).
        network: str. A registered network builder (`mlp`, `conv`, `rae_conv`, `infogan`, `dcgan`). Defaults to
            "mlp".
        network_kwargs: dict or None. Extra arguments of the network builder.
        likelihood: str. A registered decoder likelihood (`gaussian`, `gaussian_learned`, `bernoulli`): maps decoder
            outputs to images (its mean) and scores examples. Defaults to "gaussian".
        likelihood_kwargs: dict or None. Extra arguments of the likelihood.
        prior: str. A registered prior. Defaults to "standard".
        prior_kwargs: dict or None. Extra arguments of the prior besides `latent_dim`, e.g. the decoupled prior's
            `num_couplings` and `hidden_units` (dpVAE's 6 and 64 by default).
        seed: int. Seed of the training noise (stateless, mixed with the step counter and replica id).
            Defaults to 0.
        mixed_precision: str or None. Dtype policy of the networks: "float32", "mixed_bfloat16" or
            "mixed_float16" (`tfvae.precision`: priors, flows, likelihoods and losses stay float32; every optimizer
            scales the loss under float16). None takes the policy of the enclosing `precision.policy_scope`
            (float32 outside one). Defaults to None.
    """

    loss_terms = ()
    base_terms = ("loss",)
    # Whether the prior takes part in training (VAE family); other models only sample from it.
    supports_learned_prior = False

    # ------------------------------------------------------------------ training and export policy
    ex_post_densities = ()
    preferred_sampler = None
    adam_betas = (0.9, 0.999)
    needs_dataset_size = False
    # The RAE paper's ranking of ex-post samplers (table 1): a GMM, then one Gaussian, then the prior.
    _SAMPLER_RANKING = ("gmm", "gaussian")

    @classmethod
    def default_sampler(cls, fitted):
        """The sampler the export serves by default, given the names of the `fitted` densities."""
        if cls.preferred_sampler is not None:
            return cls.preferred_sampler
        return next((name for name in cls._SAMPLER_RANKING if name in fitted), "prior")

    def ex_post_density_arguments(self):
        """{density name: constructor arguments} of the densities whose settings are part of the model."""
        return {}

    # ------------------------------------------------------------------------------------ construction
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _trace_steps_as_written(cls)  # every model's own steps; the base class's once it is defined, below it

    def __init__(self, input_shape, latent_dim=16, network="mlp", network_kwargs=None, likelihood="gaussian",
                 likelihood_kwargs=None, prior="standard", prior_kwargs=None, seed=0, mixed_precision=None,
                 **kwargs):
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
        self.prior_kwargs = dict(prior_kwargs or {})
        self.seed = int(seed)
        self.mixed_precision = precision.check_policy(mixed_precision or precision.default_policy())
        if keras.config.dtype_policy().name != "float32":
            raise ValueError(f"Keras' global dtype policy is {keras.config.dtype_policy().name!r}: it would put the "
                             f"prior, flows and likelihood in 16 bits. Reset it (keras.config.set_dtype_policy("
                             f"'float32')) and give the model mixed_precision= instead, which reaches its networks "
                             f"only.")
        encoder, self.decoder = self.build_network(lambda: registry.get("network", network)(
            self.example_shape, self.encoder_outputs(self.latent_dim), self.latent_dim, **self.network_kwargs))
        if encoder is not None:
            self.encoder = encoder
        self.likelihood = registry.get("likelihood", likelihood)(**self.likelihood_kwargs)
        if prior != "standard" and not self.supports_learned_prior:
            raise ValueError(f"--prior={prior} needs a model whose loss involves the prior (the VAE family); "
                             f"{type(self).__name__} never evaluates p(z). Use the default prior and an ex-post "
                             f"density instead. Received: prior={prior!r}")
        self.prior = _build_prior(prior, self.latent_dim, self.prior_kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in (*self.base_terms, *self.loss_terms)}

    def encoder_outputs(self, latent_dim):
        """Width of the encoder's output layer; None: no encoder is built."""
        del latent_dim
        return None

    def build_network(self, build):
        """Returns `build()` (a network or a tuple of them) built under the model's `mixed_precision` policy, with
        float32 outputs; subclasses build their discriminators and critics through it too."""
        return precision.build_networks(self.mixed_precision, build)

    def compile(self, optimizer="rmsprop", steps_per_execution=STEPS_PER_EXECUTION, **kwargs):
        """`keras.Model.compile`, with two changes: under mixed_float16 the optimizer is wrapped for loss scaling,
        and `steps_per_execution` defaults to `STEPS_PER_EXECUTION` (20) instead of 1, so `fit` runs as fast as the
        `Trainer`. Keras then calls per-batch callbacks every 20 batches: pass `steps_per_execution=1` for every
        batch."""
        super().compile(optimizer=precision.loss_scaled(keras.optimizers.get(optimizer), self.mixed_precision),
                        steps_per_execution=steps_per_execution, **kwargs)

    def compile_from_config(self, config):
        # Keras' own version skips models with a custom `compile` (a reloaded .keras model would have no optimizer):
        # this one compiles from the saved configuration and builds the optimizers on the variables they update,
        # so their saved state loads into them.
        self.compile(**self._deserialize_compile_config(config))
        if self.built:
            self.optimizer.build(self.main_variables())

    def _deserialize_compile_config(self, config):
        """`compile` arguments from the output of `get_compile_config`."""
        return keras.saving.deserialize_keras_object(config)

    # -------------------------------------------------------------------------------------------- hooks
    def per_example_losses(self, x, training=False):
        """Returns {"loss": [B], and each of `loss_terms`: [B]} on the batch x."""
        raise NotImplementedError(f"{type(self).__name__} must implement per_example_losses(x, training).")

    def weight_penalty(self):
        """Returns a scalar added to the loss once per step (0 here; weight decay on the decoder in RAE-L2)."""
        return tf.constant(0.0)

    def auxiliary_layers(self):
        """Layers trained by their own optimizer (discriminators); excluded from the main update."""
        return []

    def main_variables(self):
        """The variables the main loss updates: every trainable variable outside `auxiliary_layers`."""
        excluded = {id(v) for layer in self.auxiliary_layers() for v in layer.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in excluded]

    def training_state(self):
        """{name: scalar tensor} of learned state worth following over training (the decoder's log gamma when it is
        learned, the loss scale under mixed_float16); the Trainer logs each as `state/NAME` every epoch."""
        state = dict(self.likelihood.training_state())
        if precision.uses_loss_scaling_optimizer(getattr(self, "optimizer", None)):
            state["loss_scale"] = self.optimizer.dynamic_scale
        return state

    # --------------------------------------------------------------------------------------- public API
    def decode(self, z):
        """Maps latents to the decoder mean (images in [0, 1]), in inference mode."""
        return self.likelihood.mean(self.decoder(z, training=False))

    def sample(self, num_samples, seed):
        """Decodes `num_samples` prior draws; the same `seed` (int pair) gives the same images in any process."""
        return self.decode(self.prior.sample(num_samples, tf.convert_to_tensor(seed, tf.int32)))

    def prior_samples(self, count, salt=noise_salts.PRIOR):
        """`count` latents from the prior with this step's stateless seed."""
        return self.prior.sample(count, self.noise_seed(salt))

    def generate(self, count, training=False):
        """Decoded prior samples of this step's noise, [count, *example_shape]."""
        return self.likelihood.mean(self.decoder(self.prior_samples(count), training=training))

    def call(self, x, training=False):
        return self.generate(batch_size_of(x), training=training)

    # -------------------------------------------------------------------------------------------- steps
    def noise_seed(self, salt=noise_salts.TRAIN):
        """A stateless seed [2] for this step and replica.

        Mixing the optimizer's step counter and the replica id into a fixed seed gives fresh noise every step,
        different noise on every replica, the same noise after resuming from a checkpoint, and no mutable random
        state (which tf.distribute and XLA handle poorly). `salt` is an entry of `noise_salts`.
        """
        context = tf.distribute.get_replica_context()
        replica = (tf.cast(context.replica_id_in_sync_group, tf.int64) if context is not None
                   else tf.constant(0, tf.int64))
        optimizer = getattr(self, "optimizer", None)  # None before compile (build_for runs uncompiled)
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
            scaled_loss = self.optimizer.scale_loss(loss)  # the loss itself unless loss-scaled (mixed_float16)
        variables = self.main_variables()
        gradients = precision.skip_together(tape.gradient(scaled_loss, variables), self.optimizer)
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
                "likelihood_kwargs": self.likelihood_kwargs, "prior": self.prior_name,
                "prior_kwargs": self.prior_kwargs, "seed": self.seed,
                "mixed_precision": self.mixed_precision, "name": self.name}

    @classmethod
    def from_config(cls, config):
        # Built here because Keras assigns saved weights right after from_config: weights created lazily (flows,
        # discriminators, priors) would otherwise be skipped silently.
        model = cls(**config)
        model.build_for()
        return model


_trace_steps_as_written(Generator)


def _build_prior(name, latent_dim, prior_kwargs):
    """The registered prior `name` over `latent_dim` dimensions, with a clear error for arguments it does not take."""
    prior_class = registry.get("prior", name)
    accepted = registry.constructor_arguments(prior_class) - {"latent_dim"}
    unknown = sorted(set(prior_kwargs) - accepted)
    if unknown:
        raise ValueError(f"prior_kwargs {unknown} are not arguments of the {name!r} prior (it takes "
                         f"{sorted(accepted) or 'none besides latent_dim, which the model gives'}). "
                         f"Received: prior_kwargs={prior_kwargs}")
    return prior_class(latent_dim, **prior_kwargs)


def batch_size_of(x):
    """The static batch size when known (static shapes under drop_remainder), else the dynamic one."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def _features(data):
    """Accepts x, (x,), or (x, y) batches as `model.fit` may give them."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data
