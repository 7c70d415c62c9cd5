"""The model zoo. Every model is a registered `Autoencoder` subclass; build one by name with `build`."""
from tfvae import registry
from tfvae.models.ae import AE
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.rae import RAE
from tfvae.models.rae_l2 import RAEL2
from tfvae.models.vae import VAE


def build(name, input_shape, **kwargs):
    """Builds the registered model `name` for examples of `input_shape` and creates its weights."""
    model = registry.get("model", name)(input_shape, **kwargs)
    model.build_for()
    return model


def is_variational(model):
    """Whether the model has a stochastic encoder whose prior is a meaningful sampler."""
    return isinstance(model, VAE)
