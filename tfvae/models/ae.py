"""The plain deterministic autoencoder."""
import keras

from tfvae import registry
from tfvae.models.autoencoder import Autoencoder


@registry.register("model", "ae")
@keras.saving.register_keras_serializable("tfvae")
class AE(Autoencoder):
    """Deterministic autoencoder trained on the reconstruction loss only.

    The "AE" baseline of the RAE paper (section 3): no explicit regularizer, relying on the architecture's implicit
    regularization. Sample from it with an ex-post density (`gmm`).

    Args: see `Autoencoder`.
    """
