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


def build(name, input_shape, **kwargs):
    """Builds the registered model `name` for examples of `input_shape` and creates its weights."""
    model = registry.get("model", name)(input_shape, **kwargs)
    model.build_for()
    return model
