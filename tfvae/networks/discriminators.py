"""Discriminators and critics on latent codes or images."""
import keras

from tfvae import registry


@registry.register("discriminator", "mlp")
def build_mlp_discriminator(input_shape, hidden_units=(1000,) * 6, outputs=1, negative_slope=0.2,
                            output_bias=True, name="discriminator"):
    """A leaky-ReLU MLP discriminator.

    Defaults follow FactorVAE's (Kim & Mnih 2018, appendix: 6 layers of 1000 units, leaky ReLU 0.2); the code
    discriminators of AAE / VGH use 3 x 1000 (Rosca et al., appendix K).

    Args:
        input_shape: tuple. Shape of one input.
        hidden_units: tuple of int. Hidden widths. Defaults to 6 x 1000.
        outputs: int. Output logits (1 for a binary logit or critic score, 2 for FactorVAE's two classes).
        negative_slope: float. Leaky-ReLU slope. Defaults to 0.2.
        output_bias: bool. False for Wasserstein critics, whose output bias cancels out of every loss term.

    Returns:
        keras.Sequential mapping [B, *input_shape] -> [B, outputs] logits.
    """
    layers = [keras.Input(tuple(input_shape)), keras.layers.Flatten()]
    for units in hidden_units:
        layers += [keras.layers.Dense(units), keras.layers.LeakyReLU(negative_slope)]
    layers.append(keras.layers.Dense(outputs, use_bias=output_bias))
    return keras.Sequential(layers, name=name)
