"""Optional spectral normalization of network layers."""
import keras


def spectral_wrapper(enabled, power_iterations=1):
    """Returns a function that wraps a layer in `keras.layers.SpectralNormalization` when `enabled`, else identity."""
    if not enabled:
        return lambda layer: layer
    return lambda layer: keras.layers.SpectralNormalization(layer, power_iterations=power_iterations)
