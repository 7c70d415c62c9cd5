"""The second-stage VAE of the two-stage VAE (Dai & Wipf 2019) as an ex-post density over latents."""
import numpy as np
import tensorflow as tf

from tfvae import registry, rowwise_random
from tfvae.density.density_estimator import DensityEstimator

_IMPORTANCE_SALT = 7


@registry.register("density", "two_stage")
class TwoStage(DensityEstimator):
    """q(z) modelled by a second VAE trained on the first stage's latents (two-stage VAE paper, section 3.2).

    The second stage is a `tfvae.models.VAE` with `latent_dim` = kappa (the first stage's latent size), the
    `skip_mlp` network (3 x 1024 with a skip concatenation) and its own learned gamma (`gaussian_learned`, unbounded).
    It is trained after the first stage, never jointly (paper, section 4), on fresh posterior samples
    z = mu + sigma * eps of the first stage every epoch when the posterior variances are given, else on the latents.
    Sampling: u ~ N(0, I) -> z = decoder mean(u). log q(z) is an importance-sampled estimate (IWAE) with
    `importance_samples` draws from the second stage's encoder.

    Args:
        epochs: int. Training epochs of the second stage. Defaults to 100.
        batch_size: int. Defaults to 64 (two-stage VAE protocol).
        learning_rate: float. Adam learning rate. Defaults to 1e-4 (two-stage VAE protocol).
        hidden_units: tuple of int. Defaults to (1024, 1024, 1024).
        importance_samples: int. Samples per latent of the log-density estimate. Defaults to 64.
        latent_dim: int or None. kappa; set by `fit` (stored so `load` can rebuild the network).
        seed: int. Seed of initialization, sampling of training latents and shuffling. Defaults to 0.
    """

    name_in_registry = "two_stage"
    uses_posterior_variances = True

    def __init__(self, epochs=100, batch_size=64, learning_rate=1e-4, hidden_units=(1024, 1024, 1024),
                 importance_samples=64, latent_dim=None, seed=0):
        super().__init__(seed=seed)
        if int(epochs) < 1 or int(batch_size) < 1 or int(importance_samples) < 1:
            raise ValueError(f"epochs, batch_size and importance_samples must be positive. Received: epochs={epochs}, "
                             f"batch_size={batch_size}, importance_samples={importance_samples}")
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.importance_samples = int(importance_samples)
        self._latent_dim = None if latent_dim is None else int(latent_dim)
        self.vae = None
        self._means = self._log_variances = None

    @property
    def latent_dim(self):
        self._check_fitted()
        return self._latent_dim

    def _build(self, latent_dim):
        from tfvae import models  # The models import the density package's siblings; import at use.

        self._latent_dim = int(latent_dim)
        self.vae = models.build("vae", (self._latent_dim,), latent_dim=self._latent_dim, network="skip_mlp",
                                network_kwargs={"hidden_units": self.hidden_units}, likelihood="gaussian_learned",
                                likelihood_kwargs={"bounded": False}, seed=self.seed)

    def fit(self, latents, validation_latents=None, posterior_log_variances=None):
        """Trains the second stage. `posterior_log_variances` [N, L] (the first stage's log sigma^2 of each latent)
        makes every epoch train on fresh posterior samples; without it the latents are used as they are."""
        self._means = np.asarray(latents, np.float32)
        if posterior_log_variances is not None:
            posterior_log_variances = np.asarray(posterior_log_variances, np.float32)
            if posterior_log_variances.shape != self._means.shape:
                raise ValueError(f"posterior_log_variances must have the latents' shape {self._means.shape}. "
                                 f"Received: {posterior_log_variances.shape}")
        self._log_variances = posterior_log_variances
        try:
            return super().fit(latents, validation_latents)
        finally:
            self._means = self._log_variances = None

    def training_latents(self, epoch):
        """The second stage's training set for `epoch`: z = mu + sigma * eps with fresh eps (or the latents)."""
        if self._log_variances is None:
            return self._means
        noise = np.random.default_rng([self.seed, epoch]).standard_normal(self._means.shape).astype(np.float32)
        return self._means + np.exp(0.5 * self._log_variances) * noise

    def _fit(self, latents):
        import keras

        self._build(latents.shape[1])
        self.vae.compile(optimizer=keras.optimizers.Adam(self.learning_rate))
        batch_size = min(self.batch_size, len(latents))
        history = []
        for epoch in range(self.epochs):
            dataset = (tf.data.Dataset.from_tensor_slices(self.training_latents(epoch))
                       .shuffle(len(latents), seed=self.seed + epoch).batch(batch_size, drop_remainder=True))
            history.append(self.vae.fit(dataset, epochs=1, verbose=0).history["loss"][-1])
        params = {f"weight_{i:03d}": w.numpy() for i, w in enumerate(self.vae.weights)}
        return params, {"epochs": self.epochs, "final_loss": float(history[-1]),
                        "log_gamma": float(self.vae.likelihood.log_variance().numpy()),
                        "trained_on": "posterior samples" if self._log_variances is not None else "latents"}

    def set_params(self, arrays):
        if self.vae is None:
            self._build(self._latent_dim)
        weights = [arrays[name] for name in sorted(arrays)]
        self.vae.set_weights(weights)
        self.params = {name: w for name, w in zip(sorted(arrays), self.vae.weights)}

    def log_prob(self, z, chunk_size=256):
        """Importance-sampled log q(z) (IWAE bound with K = importance_samples, tight as K grows), shape [N].

        Latents go through the networks `chunk_size` at a time (K * chunk_size rows), so memory stays bounded
        whatever N is."""
        self._check_fitted()
        z = tf.convert_to_tensor(z, tf.float32)
        return tf.concat([self._log_prob_chunk(z[start:start + chunk_size], start)
                          for start in range(0, int(z.shape[0]), chunk_size)], axis=0)

    def _log_prob_chunk(self, z, offset):
        vae, k = self.vae, self.importance_samples
        mean, log_var = vae.posterior_parameters(z, training=False)
        noise = tf.random.stateless_normal([k, *z.shape], seed=[self.seed * 7919 + offset, _IMPORTANCE_SALT])
        u = mean[None] + tf.exp(0.5 * log_var)[None] * noise                                     # [K, n, L]
        flat_u = tf.reshape(u, [-1, self._latent_dim])
        flat_z = tf.reshape(tf.broadcast_to(z[None], u.shape), [-1, self._latent_dim])
        log_likelihood = vae.likelihood.log_prob(flat_z, vae.decoder(flat_u, training=False))
        log_prior = vae.prior.log_prob(flat_u)
        log_posterior = -0.5 * tf.reduce_sum(tf.square(noise) + log_var[None] + np.log(2 * np.pi), axis=-1)
        log_weights = tf.reshape(log_likelihood + log_prior, [k, -1]) - log_posterior
        return tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(float(k))

    def sample(self, num_samples, seed):
        self._check_fitted()
        u = tf.random.stateless_normal([num_samples, self._latent_dim], seed=tf.convert_to_tensor(seed, tf.int32))
        return self.vae.decode(u)

    def sample_from_seeds(self, seeds):
        self._check_fitted()
        return self.vae.decode(rowwise_random.normal(seeds, self._latent_dim))

    def encode_to_generation_space(self, z):
        """The second stage's posterior means u for latents z: should look like N(0, I) after training."""
        self._check_fitted()
        return self.vae.encode(tf.convert_to_tensor(z, tf.float32))

    def get_config(self):
        return {**super().get_config(), "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "hidden_units": list(self.hidden_units),
                "importance_samples": self.importance_samples, "latent_dim": self._latent_dim}
