"""The variational autoencoder, the base of the VAE family."""
import math

import keras
import tensorflow as tf

from tfvae import registry, rowwise_random
from tfvae.models import noise_salts
from tfvae.models.autoencoder import Autoencoder
from tfvae.priors.coupling_network import CouplingNetwork
from tfvae.priors.real_nvp import real_nvp_chain

_LOG_2PI = math.log(2.0 * math.pi)


@registry.register("model", "vae")
@keras.saving.register_keras_serializable("tfvae")
class VAE(Autoencoder):
    """Variational autoencoder with a diagonal Gaussian posterior, optionally refined by a RealNVP flow.

    Math:
        q(z|x): z_base = mu(x) + sigma(x) * eps, eps ~ N(0, I)   (reparameterization)
                z = f(z_base) with an optional RealNVP flow f ("VAE + Flow" of the two-stage VAE paper, table 1)
        L = -log p(x | z) + KL[q(z|x) || p(z)]                   (negative ELBO)
        KL is closed-form for a Gaussian posterior and the standard prior; otherwise the one-sample estimate
        log q(z|x) - log p(z) at the decoded sample (the decoupled prior: dpVAE eq. 5).
        Likelihoods: `bernoulli` (cross-entropy), `gaussian` (fixed gamma), `gaussian_learned` (scalar log gamma,
        two-stage VAE paper eq. 2).

    The variants of the VAE family override `posterior_parameters` (CV-VAE) or `regularizer` (beta-VAE,
    beta-TCVAE, FactorVAE, InfoVAE) only. Every one works with `prior="decoupled"`.

    Args:
        likelihood: str. Defaults to "bernoulli".
        posterior_flow_couplings: int. Affine couplings of a RealNVP flow applied to the posterior sample; 0 for
            the plain Gaussian posterior. Defaults to 0.
        **kwargs: see `Autoencoder`.
    """

    loss_terms = ("kl",)
    supports_learned_prior = True
    spherical_codes = True

    def __init__(self, input_shape, likelihood="bernoulli", posterior_flow_couplings=0, **kwargs):
        super().__init__(input_shape, likelihood=likelihood, **kwargs)
        self.posterior_flow_couplings = int(posterior_flow_couplings)
        if self.posterior_flow_couplings and self.latent_dim < 2:
            raise ValueError(f"A posterior flow needs latent_dim >= 2. Received: latent_dim={self.latent_dim}")
        self.posterior_flow = [CouplingNetwork(self.latent_dim - self.latent_dim // 2, name=f"posterior_flow_{k}")
                               for k in range(self.posterior_flow_couplings)]

    def encoder_outputs(self, latent_dim):
        return 2 * latent_dim

    def posterior_parameters(self, x, training=False):
        """Returns (z_mean, z_log_var) of the Gaussian posterior, each [B, L]."""
        return tf.split(self.encoder(x, training=training), 2, axis=-1)

    def _flow(self):
        """The posterior flow f: the library's RealNVP chain over the posterior flow's networks, built per call."""
        return real_nvp_chain(self.posterior_flow, self.latent_dim)

    def posterior_flow_bijector(self):
        """The posterior flow f (the decoder reads z = f(u), u the Gaussian posterior draw) as a TFP bijector built
        from the current couplings, or None without a posterior flow. For consumers that need q(z | x) in the
        decoder's space (the aggregate posterior of the latent metrics): N(f^-1(z); mu, sigma^2) / |det df/du|."""
        return self._flow() if self.posterior_flow else None

    def posterior(self, x, training=False):
        z_mean, z_log_var = self.posterior_parameters(x, training=training)
        # The loss is always the one-sample negative ELBO (validation included, with its own noise stream);
        # `encode` and `reconstruct` use the posterior mean.
        seed = self.noise_seed(noise_salts.TRAIN if training else noise_salts.TEST)
        epsilon = rowwise_random.stream_normal(tf.shape(z_mean), seed)
        z = z_mean + tf.exp(0.5 * z_log_var) * epsilon
        result = {"z": z, "z_mean": z_mean, "z_log_var": z_log_var}
        if self.posterior_flow:
            flow = self._flow()
            base_log_q = -0.5 * tf.reduce_sum(tf.square(epsilon) + z_log_var + _LOG_2PI, axis=-1)
            result["z"] = flow.forward(z)
            result["log_q"] = base_log_q - flow.forward_log_det_jacobian(z, event_ndims=1)
            # The representation of x is the flow applied to the posterior mean.
            result["z_mean"] = flow.forward(z_mean)
        return result

    def encode_posterior(self, x):
        """(means, log-variances) of q(z | x) in the decoder's input space; with a posterior flow f the posterior
        there is not Gaussian, so the means f(mu) come with None (consumers treat them as codes)."""
        z_mean, z_log_var = self.posterior_parameters(x, training=False)
        if self.posterior_flow:
            return self.encode(x), None
        return z_mean, z_log_var

    def importance_sampling_terms(self):
        """Callables for importance-sampled log p(x) with the Gaussian posterior as the proposal.

        Returns:
            (posterior, log_likelihood, log_prior): x -> (z_mean, z_log_var) of the proposal over the base
            latents u; (x, u) -> log p(x | f(u)) [B]; u -> log p(f(u)) + log|det df/du| [B]. Without a posterior
            flow f is the identity; with one, the change of variables makes the estimate exact in the limit:
            p(x) = integral p(x | f(u)) p(f(u)) |det df/du| du.
        """
        if not self.posterior_flow:
            return (lambda x: self.posterior_parameters(x, training=False),
                    lambda x, z: self.likelihood.log_prob(x, self.decoder(z, training=False)),
                    self.prior.log_prob)
        flow = self._flow()
        return (lambda x: self.posterior_parameters(x, training=False),
                lambda x, u: self.likelihood.log_prob(x, self.decoder(flow.forward(u), training=False)),
                lambda u: self.prior.log_prob(flow.forward(u)) + flow.forward_log_det_jacobian(u, event_ndims=1))

    def kl_divergence(self, posterior):
        """KL[q(z|x) || p(z)] per example under the model's prior (see the class docstring)."""
        if "log_q" in posterior:
            return posterior["log_q"] - self.prior.log_prob(posterior["z"])
        return self.prior.kl_divergence(posterior["z_mean"], posterior["z_log_var"], posterior["z"])

    def log_posterior(self, posterior):
        """log q(z|x) of the posterior sample, shape [B]."""
        if "log_q" in posterior:
            return posterior["log_q"]
        z, mean, log_var = posterior["z"], posterior["z_mean"], posterior["z_log_var"]
        return -0.5 * tf.reduce_sum(tf.square(z - mean) * tf.exp(-log_var) + log_var + _LOG_2PI, axis=-1)

    def regularizer(self, x, posterior, training=False):
        kl = self.kl_divergence(posterior)
        return kl, {"kl": kl}

    def build_for(self, batch_size=2):
        super().build_for(batch_size)
        # The prior's weights must exist even if the variant's loss does not evaluate log p(z). Built, not called:
        # an eager call of the decoupled prior's TFP chain costs about 0.4 s.
        if not self.prior.built:
            self.prior.build((batch_size, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "posterior_flow_couplings": self.posterior_flow_couplings}
