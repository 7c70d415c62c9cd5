"""The second-stage network of the two-stage VAE: an MLP whose input is concatenated to its last hidden layer."""
import keras

from tfvae import registry


def _skip_mlp(input_dim, output_dim, hidden_units, name):
    inputs = keras.Input((input_dim,))
    hidden = inputs
    for units in hidden_units:
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
    outputs = keras.layers.Dense(output_dim)(keras.layers.Concatenate()([hidden, inputs]))
    return keras.Model(inputs, outputs, name=name)


@registry.register("network", "skip_mlp")
def build_skip_mlp(input_shape, encoder_outputs, latent_dim, hidden_units=(1024, 1024, 1024)):
    """Encoder and decoder of 3 x 1024 ReLU layers with a skip concatenation of the input before the output layer
    (two-stage VAE paper, section 4 and its code). For inputs that are vectors (the first stage's latents).

    Args:
        input_shape: tuple (kappa,).
        hidden_units: tuple of int. Defaults to (1024, 1024, 1024).
    """
    if len(input_shape) != 1:
        raise ValueError(f"skip_mlp takes vectors (latent codes). Received: input_shape={tuple(input_shape)}")
    return (None if encoder_outputs is None else _skip_mlp(input_shape[0], encoder_outputs, hidden_units, "encoder"),
            _skip_mlp(latent_dim, input_shape[0], hidden_units, "decoder"))
