"""A RealNVP normalizing flow fitted to the latents by maximum likelihood."""
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import registry, rowwise_random
from tfvae.data import pipeline
from tfvae.density.density_estimator import DensityEstimator
from tfvae.priors.decoupled_prior import DecoupledPrior

tfb = tfp.bijectors
tfd = tfp.distributions


@registry.register("density", "flow")
class Flow(DensityEstimator):
    """q(z) = a RealNVP flow of N(0, I), fitted by maximum likelihood on standardized latents.

    The flow is the decoupled prior's (`tfvae.priors.DecoupledPrior`, on the library's one RealNVP chain
    `tfvae.priors.real_nvp.real_nvp_chain`), composed with the affine map that standardizes the latents, so one flow
    implementation serves the VAE's posterior flow, the jointly trained prior (dpVAE) and this ex-post density. The
    epoch with the best validation log-likelihood is kept when validation latents are given.

    Math:
        z = m + s * f(z0), z0 ~ N(0, I);  log q(z) = log N(f^{-1}((z - m) / s)) + log|det J_{f^{-1}}| - sum log s

    Args:
        num_couplings: int. Affine couplings of the flow. Defaults to 6.
        hidden_units: int. Width of each scale/shift network's two hidden layers. Defaults to 64.
        epochs: int. Passes over the latents. Defaults to 50.
        batch_size: int. Defaults to 256.
        learning_rate: float. Adam. Defaults to 1e-3.
        seed: int. Seed of initialization and shuffling. Defaults to 0.

    References:
        Dinh, Sohl-Dickstein and Bengio 2017, "Density estimation using Real NVP", arXiv:1605.08803.
    """

    def __init__(self, num_couplings=6, hidden_units=64, epochs=50, batch_size=256, learning_rate=1e-3, seed=0):
        super().__init__(seed=seed)
        if min(int(num_couplings), int(epochs), int(batch_size)) < 1:
            raise ValueError(f"num_couplings, epochs and batch_size must be positive. Received: {num_couplings}, "
                             f"{epochs}, {batch_size}")
        self.num_couplings = int(num_couplings)
        self.hidden_units = int(hidden_units)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.flow = None

    def _build(self, latent_dim):
        import keras

        keras.utils.set_random_seed(self.seed)
        self.flow = DecoupledPrior(latent_dim, self.num_couplings, self.hidden_units)
        self.flow.build()

    def distribution(self):
        standardize = tfb.Chain([tfb.Shift(self.params["shift"]), tfb.Scale(self.params["scale"])])
        return tfd.TransformedDistribution(self.flow.distribution(), standardize)

    def sample_from_seeds(self, seeds):
        """One latent per row of `seeds` [B, 2]: m + s * f(eps), eps from the row's seed (vectorized over rows)."""
        self._check_fitted()
        eps = rowwise_random.normal(seeds, self.latent_dim)
        return self.params["shift"] + self.params["scale"] * self.flow.from_generation(eps)

    def _fit(self, data):
        latents = data.latents.astype(np.float32)
        shift, scale = latents.mean(axis=0), latents.std(axis=0) + 1e-6
        standardized = (latents - shift) / scale
        # log q(z) is the standardized flow's log-density minus sum log s, a constant: both rank epochs alike.
        validation = (None if data.validation_latents is None
                      else tf.constant((data.validation_latents.astype(np.float32) - shift) / scale))
        optimizer = keras.optimizers.Adam(self.learning_rate)
        variables = self.flow.trainable_variables
        optimizer.build(variables)

        # Traced without autograph: there is no tensor-dependent Python control flow, and converting the TFP and Keras
        # code called inside took about a third of a small fit. Scoring the validation latents eagerly took half.
        @tf.function(autograph=False)
        def step(batch):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(self.flow.log_prob(batch))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        @tf.function(autograph=False)
        def validation_score():
            return tf.reduce_mean(self.flow.log_prob(validation))

        batch_size = min(self.batch_size, len(latents))
        best, best_weights, losses = -np.inf, None, []
        progress = self.epoch_progress(self.epochs)
        for epoch in range(self.epochs):
            dataset = pipeline.shuffled_batches(standardized, batch_size, seed=self.seed + epoch)
            losses.append(float(np.mean([step(batch).numpy() for batch in dataset])))
            progress.epoch_done(epoch, losses[-1])
            if validation is not None:
                score = float(validation_score())
                if score > best:
                    best, best_weights = score, [w.numpy() for w in self.flow.weights]
        if best_weights is not None:
            self.flow.set_weights(best_weights)
        params = {"shift": shift, "scale": scale,
                  **{f"weight_{i:03d}": w.numpy() for i, w in enumerate(self.flow.weights)}}
        return params, {"epochs": self.epochs, "final_train_nll_standardized": losses[-1]}

    def set_params(self, arrays):
        names = sorted(name for name in arrays if name.startswith("weight_"))
        self.flow.set_weights([arrays[name] for name in names])
        self.params = {"shift": tf.Variable(np.asarray(arrays["shift"], np.float32), trainable=False, name="shift"),
                       "scale": tf.Variable(np.asarray(arrays["scale"], np.float32), trainable=False, name="scale"),
                       **{name: w for name, w in zip(names, self.flow.weights)}}

    def get_config(self):
        return {**super().get_config(), "num_couplings": self.num_couplings, "hidden_units": self.hidden_units,
                "epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate}
