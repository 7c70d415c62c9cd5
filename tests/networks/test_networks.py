"""Properties every registered network shares: no bias directly before batch norm, which cancels it."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import registry

IMAGE_SHAPE, POINT_SHAPE = (28, 28, 1), (2,)
SMALL = {"rae_conv": {"filters": (8, 16)}, "conv": {"filters": (4, 8)}, "skip_mlp": {"hidden_units": (8, 8)},
         "mlp": {"hidden_units": (8, 8)}}


def _layer_pairs(model):
    layers = [layer.layer if isinstance(layer, keras.layers.SpectralNormalization) else layer
              for layer in model.layers]
    return list(zip(layers, layers[1:] + [None]))


def _networks():
    """(label, builder's models) for every registered network and discriminator, and the conv nets without BN."""
    for name in registry.names("network"):
        shape = POINT_SHAPE if "mlp" in name else IMAGE_SHAPE
        yield name, registry.get("network", name)(shape, 6, 3, **SMALL.get(name, {}))
    for name in ("conv", "rae_conv"):
        yield f"{name}, batch_norm=False", registry.get("network", name)(IMAGE_SHAPE, 6, 3, batch_norm=False,
                                                                         **SMALL[name])
    for name in registry.names("discriminator"):
        yield f"{name} discriminator", (registry.get("discriminator", name)(IMAGE_SHAPE if name == "dcgan"
                                                                            else POINT_SHAPE),)


@pytest.mark.parametrize("label,nets", list(_networks()), ids=lambda value: value if isinstance(value, str) else "")
def test_no_bias_before_batch_norm_and_biases_elsewhere(label, nets):
    for net in nets:
        pairs = _layer_pairs(net)
        for layer, following in pairs:
            if getattr(layer, "use_bias", None) is None:
                continue
            followed_by_batch_norm = isinstance(following, keras.layers.BatchNormalization)
            assert layer.use_bias != followed_by_batch_norm, (label, net.name, layer.name, following)
        output_layer = [layer for layer, _ in pairs if hasattr(layer, "use_bias")][-1]
        assert output_layer.use_bias or "discriminator" in label, (label, net.name, "the output layer keeps its bias")


def test_a_bias_before_batch_norm_changes_nothing_in_training():
    """The invariant behind dropping those biases: batch norm subtracts the batch mean, bias included, so outputs
    match and the bias's gradient is zero (in float64, to leave float32's round-off out)."""
    x = tf.constant(np.random.RandomState(0).normal(size=(16, 8, 8, 3)))
    with_bias, without = (keras.layers.Conv2D(4, 3, use_bias=flag, dtype="float64") for flag in (True, False))
    with_bias.build(x.shape)
    without.build(x.shape)
    without.kernel.assign(with_bias.kernel)
    with_bias.bias.assign([0.5, -1.0, 2.0, 3.0])
    norm = keras.layers.BatchNormalization(dtype="float64")
    with tf.GradientTape() as tape:
        y = norm(with_bias(x), training=True)
        objective = tf.reduce_sum(y * tf.sin(y))
    np.testing.assert_allclose(y, norm(without(x), training=True), atol=1e-9)
    np.testing.assert_allclose(tape.gradient(objective, with_bias.bias), 0.0, atol=1e-9)
