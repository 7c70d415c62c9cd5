"""The second-stage VAE of the two-stage VAE (Dai & Wipf 2019) as an ex-post density over latents."""
import keras
import numpy as np
import tensorflow as tf

from tfvae import registry, rowwise_random
from tfvae.data import pipeline
from tfvae.density.density_estimator import DensityEstimator, EpochCheckpoint
from tfvae.models.vae import VAE

_IMPORTANCE_SALT = 7
# rowwise_random stream of the sampling noise of p(z | u) (stream 0 draws u).
_SAMPLE_NOISE_STREAM = 2


@registry.register("density", "two_stage")
class TwoStage(DensityEstimator):
    """q(z) modelled by a second VAE trained on the first stage's latents (two-stage VAE paper, section 3.2).

    The second stage is a `tfvae.models.VAE` with `latent_dim` = kappa (the first stage's latent size), the
    `skip_mlp` network (3 x 1024 with a skip concatenation) and its own learned gamma (`gaussian_learned`, unbounded).
    It is trained after the first stage, never jointly (paper, section 4), on fresh posterior samples
    z = mu + sigma * eps of the first stage every epoch when `fit` gets the posterior log-variances, else on the
    latents (`resamples_posterior_every_epoch`). Sampling: u ~ N(0, I) -> z = decoder mean(u) + gamma_z^(1/2) eps,
    the second stage's own Gaussian p(z | u) as in the authors' code (daib13/TwoStageVAE), which is also the
    density `log_prob` estimates. log q(z) is an importance-sampled estimate (IWAE) with `importance_samples` draws
    from the second stage's encoder.

    Math:
        log q(z) ~= log 1/K sum_k p(z | u_k) p(u_k) / q(u_k | z),  u_k ~ q(u | z)

    Args:
        epochs: int. Training epochs of the second stage. Defaults to 800 (the authors' code).
        batch_size: int. Defaults to 64 (two-stage VAE protocol).
        learning_rate: float. Adam learning rate. Defaults to 1e-4 (two-stage VAE protocol).
        halve_every_epochs: int. The learning rate is halved every this many epochs; 0 keeps it fixed. Defaults to
            300 (the authors' code).
        hidden_units: tuple of int. Defaults to (1024, 1024, 1024).
        importance_samples: int. K, samples per latent of the log-density estimate. Defaults to 64.
        seed: int. Seed of initialization, shuffling and the importance samples. Defaults to 0.

    References:
        Dai and Wipf 2019, "Diagnosing and Enhancing VAE Models", arXiv:1903.05789.
        Burda, Grosse and Salakhutdinov 2016, "Importance Weighted Autoencoders", arXiv:1509.00519.
    """

    resamples_posterior_every_epoch = True
    has_generation_encoder = True
    row_wise_log_prob = False  # an importance-sampled bound whose draws are keyed by the row's position

    def __init__(self, epochs=800, batch_size=64, learning_rate=1e-4, halve_every_epochs=300,
                 hidden_units=(1024, 1024, 1024), importance_samples=64, seed=0):
        super().__init__(seed=seed)
        if int(epochs) < 1 or int(batch_size) < 1 or int(importance_samples) < 1:
            raise ValueError(f"epochs, batch_size and importance_samples must be positive. Received: epochs={epochs}, "
                             f"batch_size={batch_size}, importance_samples={importance_samples}")
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        if int(halve_every_epochs) < 0:
            raise ValueError(f"halve_every_epochs must be 0 (fixed) or positive. Received: {halve_every_epochs}")
        self.halve_every_epochs = int(halve_every_epochs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.importance_samples = int(importance_samples)
        self.vae = None

    def _build(self, latent_dim):
        import keras

        keras.utils.set_random_seed(self.seed)  # the initialization is the seed's, whatever ran before in the process
        self.vae = VAE((latent_dim,), latent_dim=latent_dim, network="skip_mlp",
                       network_kwargs={"hidden_units": self.hidden_units}, likelihood="gaussian_learned",
                       likelihood_kwargs={"bounded": False}, seed=self.seed)
        self.vae.build_for()

    def _fit(self, data):
        from tfvae.training.trainer import weights_by_position

        self.vae.compile(optimizer=keras.optimizers.Adam(self.learning_rate))
        self.vae.optimizer.build(self.vae.trainable_variables)
        checkpoint = EpochCheckpoint(self, data, weights=weights_by_position(self.vae), optimizer=self.vae.optimizer)
        start = checkpoint.restore()
        size = len(data.latents)
        batch_size = min(self.batch_size, size)
        progress = self.epoch_progress(self.epochs, first_epoch=start)
        for epoch in range(start, self.epochs):
            if self.halve_every_epochs:
                self.vae.optimizer.learning_rate = self.learning_rate * 0.5 ** (epoch // self.halve_every_epochs)
            dataset = pipeline.shuffled_batches(data.epoch_latents(epoch).astype(np.float32), batch_size,
                                                seed=self.seed + epoch)
            loss = self.vae.fit(dataset, epochs=1, verbose=0).history["loss"][-1]
            progress.epoch_done(epoch, loss)
            checkpoint.epoch_done(epoch + 1, loss, last=epoch + 1 == self.epochs)
        params = {f"weight_{i:03d}": w.numpy() for i, w in enumerate(self.vae.weights)}
        return params, {"epochs": self.epochs, "final_loss": float(checkpoint.last_loss.numpy()),
                        "log_gamma": float(self.vae.likelihood.log_variance().numpy())}

    def set_params(self, arrays):
        weights = [arrays[name] for name in sorted(arrays)]
        self.vae.set_weights(weights)
        self.params = {name: w for name, w in zip(sorted(arrays), self.vae.weights)}

    def generation_posterior(self, z, chunk_size=1024):
        """(means, log-variances) of the second stage's encoder q(u | z), [N, latent_dim] each: u is the space
        whose aggregate posterior the paper compares with N(0, I) (table 3, figure 2)."""
        self._check_fitted()
        z = np.asarray(z, np.float32)
        parts = [self.vae.posterior_parameters(tf.constant(z[start:start + chunk_size]), training=False)
                 for start in range(0, len(z), chunk_size)]
        return (np.concatenate([np.asarray(mean) for mean, _ in parts]),
                np.concatenate([np.asarray(log_var) for _, log_var in parts]))

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
        noise = tf.random.stateless_normal([k, *z.shape], seed=[self.seed * 7919 + offset, _IMPORTANCE_SALT],
                                           alg="philox")
        u = mean[None] + tf.exp(0.5 * log_var)[None] * noise                                     # [K, n, L]
        flat_u = tf.reshape(u, [-1, self.latent_dim])
        flat_z = tf.reshape(tf.broadcast_to(z[None], u.shape), [-1, self.latent_dim])
        log_likelihood = vae.likelihood.log_prob(flat_z, vae.decoder(flat_u, training=False))
        log_prior = vae.prior.log_prob(flat_u)
        log_posterior = -0.5 * tf.reduce_sum(tf.square(noise) + log_var[None] + np.log(2 * np.pi), axis=-1)
        log_weights = tf.reshape(log_likelihood + log_prior, [k, -1]) - log_posterior
        return tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(float(k))

    def sample(self, num_samples, seed):
        self._check_fitted()
        seed = tf.convert_to_tensor(seed, tf.int32)
        u = tf.random.stateless_normal([num_samples, self.latent_dim], seed=seed, alg="philox")
        eps = tf.random.stateless_normal([num_samples, self.latent_dim],
                                         seed=tf.random.experimental.stateless_fold_in(seed, _SAMPLE_NOISE_STREAM),
                                         alg="philox")
        return self._decode_with_noise(u, eps)

    def sample_from_seeds(self, seeds):
        self._check_fitted()
        return self._decode_with_noise(rowwise_random.normal(seeds, self.latent_dim),
                                       rowwise_random.normal(seeds, self.latent_dim, stream=_SAMPLE_NOISE_STREAM))

    def _decode_with_noise(self, u, eps):
        """z ~ p(z | u) = N(decoder mean(u), gamma_z I)."""
        return self.vae.decode(u) + tf.exp(0.5 * self.vae.likelihood.log_variance()) * eps

    def encode_to_generation_space(self, z):
        """The second stage's posterior means u for latents z: should look like N(0, I) after training."""
        return self.generation_posterior(z)[0]

    def get_config(self):
        return {**super().get_config(), "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "halve_every_epochs": self.halve_every_epochs,
                "hidden_units": list(self.hidden_units),
                "importance_samples": self.importance_samples}
