"""The decoupled prior of dpVAE: a RealNVP bijection between representation space z and generation space z0."""
import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import registry, rowwise_random
from tfvae.priors.coupling_network import CouplingNetwork
from tfvae.priors.real_nvp import real_nvp_chain

tfd = tfp.distributions
_LOG_2PI = math.log(2.0 * math.pi)


@registry.register("prior", "decoupled")
class DecoupledPrior(keras.layers.Layer):
    """p(z) = N(g(z); 0, I) |det dg/dz| with g a RealNVP flow learned jointly with the VAE (dpVAE, section 4.2).

    g^{-1} is the library's RealNVP chain (`tfvae.priors.real_nvp.real_nvp_chain`): K `tfb.RealNVP` affine couplings
    whose scale/shift networks are Keras 3 layers, with a `tfb.Permute` reversing the dimensions between couplings so
    every dimension gets transformed. The TFP chain is the generative direction g^{-1}: z = g^{-1}(z0); its inverse
    is g. The distribution is rebuilt on every call from the live weights (a distribution built once from Keras
    variables would be frozen).

    Math:
        log p(z) = log N(g(z); 0, I) + log |det dg(z)/dz|                                   (dpVAE eq. 2)
        KL[q(z|x) || p(z)] = -H[q(z|x)] - E_q[log p(z)]
                           = -1/2 sum log sigma^2 - L/2 (1 + log 2 pi) - E_q[ log N(g(z)) + log|det dg/dz| ]
        (dpVAE eq. 5 with its constants), estimated with the posterior sample z the VAE decodes.

    Args:
        latent_dim: int. L (at least 2: a coupling keeps half of the dimensions).
        num_couplings: int. K. Defaults to 6 (dpVAE).
        hidden_units: int. Width of the two hidden layers of each scale/shift network. Defaults to 64 (dpVAE).

    References:
        Bhalodia, Lee and Elhabian 2020, "dpVAEs: Fixing Sample Generation for Regularized VAEs" (ACCV 2020).
        Dinh, Sohl-Dickstein and Bengio 2017, "Density estimation using Real NVP", arXiv:1605.08803.
    """

    def __init__(self, latent_dim, num_couplings=6, hidden_units=64, **kwargs):
        super().__init__(**kwargs)
        if int(latent_dim) < 2:
            raise ValueError(f"The decoupled prior needs latent_dim >= 2 (a coupling keeps half of the dimensions). "
                             f"Received: latent_dim={latent_dim}")
        self.latent_dim = int(latent_dim)
        self.num_couplings = int(num_couplings)
        self.hidden_units = int(hidden_units)
        self.num_masked = self.latent_dim // 2
        self.networks = [CouplingNetwork(self.latent_dim - self.num_masked, self.hidden_units, name=f"coupling_{k}")
                         for k in range(self.num_couplings)]

    def build(self, input_shape=None):
        for network in self.networks:
            if not network.built:  # a call of log_prob, sample, ... builds them too
                network.build((None, self.num_masked))
        self.built = True

    def bijector(self):
        """The TFP bijector g^{-1} (generation space -> representation space), built from the live weights."""
        return real_nvp_chain(self.networks, self.latent_dim)

    def distribution(self):
        """The decoupled prior as a TFP TransformedDistribution of N(0, I)."""
        base = tfd.MultivariateNormalDiag(loc=tf.zeros(self.latent_dim))
        return tfd.TransformedDistribution(base, self.bijector())

    def to_generation(self, z):
        """g(z): representation space -> generation space."""
        return self.bijector().inverse(z)

    def from_generation(self, z0):
        """g^{-1}(z0): generation space -> representation space."""
        return self.bijector().forward(z0)

    def log_prob(self, z):
        """Returns log p(z) = log N(g(z); 0, I) + log |det dg/dz|, shape [B]: what `distribution().log_prob` gives,
        by the bijector's inverse and its log-Jacobian directly (TFP's TransformedDistribution reaches the same
        numbers through its tangent-space machinery, which took most of a training step's tracing time)."""
        bijector = self.bijector()
        z0 = bijector.inverse(z)
        log_base = -0.5 * tf.reduce_sum(tf.square(z0) + _LOG_2PI, axis=-1)
        return log_base + bijector.inverse_log_det_jacobian(z, event_ndims=1)

    def sample(self, num_samples, seed):
        """z = g^{-1}(z0), z0 ~ N(0, I) drawn with the stateless `seed` [2]."""
        return self.from_generation(rowwise_random.stream_normal([num_samples, self.latent_dim], seed))

    def sample_from_seeds(self, seeds):
        """One latent per row of `seeds` [B, 2]; row b depends on seeds[b] only."""
        return self.from_generation(rowwise_random.normal(seeds, self.latent_dim))

    def kl_divergence(self, z_mean, z_log_var, z):
        """One-sample estimate of KL[q(z|x) || p(z)] per example (dpVAE eq. 5), at the posterior sample z."""
        negative_entropy = -0.5 * tf.reduce_sum(z_log_var + 1.0 + _LOG_2PI, axis=-1)
        return negative_entropy - self.log_prob(z)

    def call(self, z):
        return self.log_prob(z)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "num_couplings": self.num_couplings,
                "hidden_units": self.hidden_units}
