"""VGH++ (Rosca et al. 2018, algorithm 5)."""
import keras

from tfvae import registry
from tfvae.models.vgh import VGH


@registry.register("model", "vgh_pp")
@keras.saving.register_keras_serializable("tfvae")
class VGHPlusPlus(VGH):
    """VGH++: VGH whose data discriminator also sees decoded prior samples as fake, and whose generator is also
    trained to make them look real (Rosca et al., eq. 9 and algorithm 5): marginal matching in visible space.

    Args: see `VGH`.
    """

    uses_prior_samples = True
    supports_learned_prior = True
