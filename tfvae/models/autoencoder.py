"""The base class of every autoencoder in tfvae: the encoder, the forward pass and the loss live here once."""
import tensorflow as tf

from tfvae import latent_paths
from tfvae.models.generator import Generator


class Autoencoder(Generator):
    """A deterministic autoencoder trained on -log p(x | z) plus a regularizer; the base of the model zoo.

    Variants override hooks, never the forward pass:

    - `encoder_outputs(latent_dim)`: width of the encoder's output (2 * latent_dim for Gaussian posteriors);
    - `posterior(x, training)`: dict with the decoder input `z` and the posterior parameters (`z_mean`, ...);
    - `regularizer(x, posterior, training)`: per-example penalty [B] added to the loss, and the tracked terms;
    - `weight_penalty()`: a scalar added once per step (weight decay on the decoder).

    Consumers of latents (ex-post densities, latent metrics) call `encode_posterior`, which answers in the space
    the decoder reads for every model.

    Loss terms are tracked under stable names (`loss`, `reconstruction`, and each variant's `loss_terms`).

    Args:
        **kwargs: see `Generator`.
    """

    base_terms = ("loss", "reconstruction")
    # How paths between codes run (`interpolate_codes`): straight for deterministic codes; the VAE family's codes
    # are Gaussian draws in the generation space, where the path is spherical.
    spherical_codes = False

    def encoder_outputs(self, latent_dim):
        return latent_dim

    # -------------------------------------------------------------------------------------------- hooks
    def posterior(self, x, training=False):
        """Returns {"z": decoder input, "z_mean": posterior mean}; deterministic here."""
        z = self.encoder(x, training=training)
        return {"z": z, "z_mean": z}

    def regularizer(self, x, posterior, training=False):
        """Returns (penalty [B], {term name: [B]}). The plain autoencoder has none."""
        del x, training
        return tf.zeros_like(posterior["z"][:, 0]), {}

    # --------------------------------------------------------------------------------------- public API
    def encode(self, x):
        """Maps examples to latents (the posterior mean in the decoder's input space), in inference mode."""
        return self.posterior(x, training=False)["z_mean"]

    def encode_posterior(self, x):
        """Returns (means [B, L], log-variances [B, L] or None) of q(z | x) in the space the decoder reads.

        None: the posterior is a point (deterministic encoders) or not Gaussian there (consumers then use the
        means as codes)."""
        return self.encode(x), None

    def reconstruct(self, x):
        """Returns decode(encode(x))."""
        return self.decode(self.encode(x))

    def interpolate_codes(self, start, end, t, prior=None):
        """Latents at fraction `t` [B] of the path from codes `start` to `end` [B, L]: spherical in the prior's
        generation space for the VAE family (`spherical_codes`), straight in the latent space otherwise (the
        report's interpolation figure and the SavedModel's `interpolate_images` endpoint). `prior`: anything with
        the prior's `to_generation` / `from_generation` (e.g. traced versions of them); defaults to `self.prior`."""
        if not self.spherical_codes:
            return latent_paths.interpolate(start, end, t, spherical=False)
        prior = prior or self.prior
        path = latent_paths.interpolate(prior.to_generation(start), prior.to_generation(end), t, spherical=True)
        return prior.from_generation(path)

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
