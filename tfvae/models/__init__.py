"""The model zoo. Every model is a registered `Generator` subclass (GANs) or `Autoencoder` subclass (everything with
an encoder); models trained against discriminators mix in `DiscriminatorTraining`. Build one by name with `build`."""

from tfvae import registry
from tfvae.models.aae import AAE
from tfvae.models.ae import AE
from tfvae.models.autoencoder import Autoencoder
from tfvae.models.beta_tcvae import BetaTCVAE
from tfvae.models.beta_vae_b import BetaVAEB
from tfvae.models.beta_vae_h import BetaVAEH
from tfvae.models.cv_vae import CVVAE
from tfvae.models.dcgan import DCGAN
from tfvae.models.discriminator_training import DiscriminatorTraining
from tfvae.models.factor_vae import FactorVAE
from tfvae.models.generator import Generator
from tfvae.models.info_vae import InfoVAE
from tfvae.models.rae import RAE
from tfvae.models.rae_gp import RAEGP
from tfvae.models.rae_l2 import RAEL2
from tfvae.models.rae_sn import RAESN
from tfvae.models.two_stage_vae import TwoStageVAE
from tfvae.models.vae import VAE
from tfvae.models.veegan import VEEGAN
from tfvae.models.vgh import VGH
from tfvae.models.vgh_plus_plus import VGHPlusPlus
from tfvae.models.wae_mmd import WAEMMD
from tfvae.models.wgan_gp import WGANGP


def hyperparameters(model_class):
    """The constructor arguments `model_class` accepts: its own and those its bases (mixins such as
    `DiscriminatorTraining` included) receive through **kwargs."""
    return sorted(registry.constructor_arguments(model_class) - {"input_shape"} | {"name"})  # name: keras.Model's


def build(name, input_shape, **kwargs):
    """Builds the registered model `name` for examples of `input_shape` and creates its weights.

    Raises:
        ValueError: for an unknown model, an argument the model does not take (the message lists those it takes),
            or an argument of the wrong type.
    """
    model_class = registry.get("model", name)
    valid = hyperparameters(model_class)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"Model {name!r} has no hyperparameters {unknown}; it takes {valid}. Received: "
                         f"{ {key: kwargs[key] for key in unknown} }")
    try:
        model = model_class(input_shape, **kwargs)
    except TypeError as error:  # e.g. a string where a number belongs ('<' not supported between 'str' and 'int')
        raise ValueError(f"Model {name!r} got an argument of the wrong type ({error}); check the values of "
                         f"{sorted(kwargs)}. Received: {kwargs}") from error
    model.build_for()
    return model
