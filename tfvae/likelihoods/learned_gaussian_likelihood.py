"""Gaussian decoder likelihood with a learned scalar variance (two-stage VAE)."""
import keras
import tensorflow as tf

from tfvae import registry
from tfvae.likelihoods.gaussian_likelihood import GaussianLikelihood


@registry.register("likelihood", "gaussian_learned")
class LearnedGaussianLikelihood(GaussianLikelihood):
    """Gaussian decoder N(x | mu, gamma I) whose scalar log gamma is a trained weight.

    The two-stage VAE paper (section 3, eq. 8) shows gamma -> 0 at optimal solutions, which sharpens
    reconstructions; its code initializes log gamma at 0.

    Args:
        initial_log_variance: float. Initial log gamma. Defaults to 0.0.
        bounded: bool. See GaussianLikelihood. Defaults to True.
    """

    def __init__(self, initial_log_variance=0.0, bounded=True, **kwargs):
        super().__init__(variance=1.0, bounded=bounded, **kwargs)
        self.initial_log_variance = float(initial_log_variance)
        self.log_gamma = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_log_variance),
                                         name="log_gamma")

    def log_variance(self):
        """Returns the learned log gamma."""
        return tf.convert_to_tensor(self.log_gamma)

    def training_state(self):
        """{"log_gamma": the learned log gamma}: its course over training is the two-stage VAE paper's figure 1a."""
        return {"log_gamma": self.log_variance()}

    def get_config(self):
        config = super().get_config()
        config.pop("variance")
        return {**config, "initial_log_variance": self.initial_log_variance}
