"""ShiftAddConv2DTranspose against Keras' Conv2DTranspose: same outputs and gradients (first and second order), the
same weights, and Keras' own code wherever the shift-add does not apply."""
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae.networks.conv import build_conv
from tfvae.networks.dcgan import build_dcgan
from tfvae.networks.infogan import build_infogan
from tfvae.networks import shift_add as shift_add_module
from tfvae.networks.shift_add import ShiftAddConv2DTranspose, shift_add_conv_transpose
from tfvae.training.trainer import restore_weights, weights_by_position


def _pair(input_shape, filters, kernel_size, seed=0, **kwargs):
    keras_layer = keras.layers.Conv2DTranspose(filters, kernel_size, **kwargs)
    shift_add = ShiftAddConv2DTranspose(filters, kernel_size, **kwargs)
    keras_layer.build(input_shape)
    shift_add.build(input_shape)
    rng = np.random.RandomState(seed)
    for source, target in zip(keras_layer.weights, shift_add.weights):
        source.assign(rng.randn(*source.shape).astype("float32"))  # a non-zero bias too
        target.assign(source)
    return keras_layer, shift_add


def _results(layer, x):
    """Output, first-order gradients of a loss, and second-order gradients of a gradient penalty (as RAE-GP and
    WGAN-GP differentiate the decoder's input gradient)."""
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.sin(y))
        input_gradient, kernel_gradient, bias_gradient = inner.gradient(loss, [x, layer.kernel, layer.bias])
        penalty = tf.reduce_sum(tf.square(input_gradient))
    return [y, input_gradient, kernel_gradient, bias_gradient, *outer.gradient(penalty, [x, layer.kernel])]


@pytest.mark.parametrize("side,in_channels,kernel_size,strides,padding", [
    (6, 5, 4, 1, "same"),  # the conv net's output layer (even kernel: SAME pads unevenly)
    (5, 4, 5, 2, "same"),  # the DCGAN generator's output layer
    (4, 6, 4, 2, "same"),  # InfoGAN's output layer
    (5, 3, 3, 1, "valid"),
    (4, 3, 3, 2, "valid"),
    (5, 2, 3, (2, 1), "same"),  # unequal strides
    (4, 3, (3, 5), (1, 2), "same"),  # a kernel that is not square: rows and columns kept apart
    (4, 3, (3, 5), (1, 2), "valid"),
    (4, 3, 2, 2, "same"),  # stride equal to the kernel: one tap per phase
])
def test_matches_keras(side, in_channels, kernel_size, strides, padding):
    keras_layer, shift_add = _pair((3, side, side + 1, in_channels), 1, kernel_size, strides=strides, padding=padding)
    x = tf.constant(np.random.RandomState(1).randn(3, side, side + 1, in_channels).astype("float32"))
    expected, got = _results(keras_layer, x), _results(shift_add, x)
    assert got[0].shape == expected[0].shape
    for name, g, e in zip(["output", "d/dx", "d/dkernel", "d/dbias", "d2/dx", "d2/dkernel"], got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * np.abs(e).max(), err_msg=name)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("filters,strides", [(1, 1), (2, 2), (3, 1), (4, 2)])
def test_function_matches_tensorflow_for_any_channel_count(filters, strides, padding):
    rng = np.random.RandomState(filters)
    x = tf.constant(rng.randn(2, 5, 4, 3).astype("float32"))
    kernel = tf.constant(rng.randn(4, 4, filters, 3).astype("float32"))
    shape = (2, 5 * strides, 4 * strides, filters) if padding == "SAME" else (2, 4 * strides + 4, 3 * strides + 4,
                                                                             filters)
    expected = tf.nn.conv2d_transpose(x, kernel, shape, strides, padding)
    np.testing.assert_allclose(shift_add_conv_transpose(x, kernel, (strides, strides), padding.lower()), expected,
                               rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("kernel_shape,strides,padding,match", [
    ((4, 4, 1, 3), (1, 1), "causal", "padding must be"),
    ((1, 1, 1, 3), (2, 2), "same", "at least as large as the stride"),
    ((4, 4, 1, 2), (1, 1), "same", "channels"),
])
def test_function_refuses_what_it_does_not_compute(kernel_shape, strides, padding, match):
    with pytest.raises(ValueError, match=match):
        shift_add_conv_transpose(tf.zeros((2, 5, 5, 3)), tf.zeros(kernel_shape), strides, padding)


def test_function_refuses_unknown_spatial_sizes():
    call = tf.function(lambda x: shift_add_conv_transpose(x, tf.zeros((4, 4, 1, 3)), (1, 1), "same"))
    with pytest.raises(ValueError, match="static height, width and channels"):
        call.get_concrete_function(tf.TensorSpec((None, None, 5, 3)))


def test_the_shift_add_is_what_runs():
    """One output channel: the traced forward pass holds the tap matmul and no transposed-convolution kernel."""
    _, shift_add = _pair((2, 5, 5, 3), 1, 4, strides=2, padding="same")
    graph = tf.function(shift_add).get_concrete_function(tf.TensorSpec((None, 5, 5, 3))).graph
    ops = {op.type for op in graph.get_operations()}
    assert "MatMul" in ops and "Conv2DBackpropInput" not in ops


@pytest.mark.parametrize("filters,kwargs,input_shape", [
    (3, {}, (2, 5, 5, 4)),  # more output channels than pay off
    (1, {"dilation_rate": 2}, (2, 5, 5, 4)),
    (1, {"strides": 2, "output_padding": 1}, (2, 5, 5, 4)),
    (1, {"strides": 3, "padding": "valid"}, (2, 5, 5, 4)),  # a kernel smaller than its stride
])
def test_cases_outside_the_shift_add_run_keras_code(filters, kwargs, input_shape):
    keras_layer, shift_add = _pair(input_shape, filters, 2 if "strides" in kwargs else 3, **kwargs)
    call = tf.function(shift_add).get_concrete_function(tf.TensorSpec(input_shape))
    assert "MatMul" not in {op.type for op in call.graph.get_operations()}
    x = tf.constant(np.random.RandomState(3).randn(*input_shape).astype("float32"))
    np.testing.assert_array_equal(call(x), keras_layer(x))


def test_processes_with_an_accelerator_run_keras_code(monkeypatch):
    keras_layer, shift_add = _pair((2, 5, 5, 4), 1, 4, padding="same")
    monkeypatch.setattr(shift_add_module, "accelerator_present", lambda: True)
    call = tf.function(shift_add).get_concrete_function(tf.TensorSpec((None, 5, 5, 4)))
    assert "MatMul" not in {op.type for op in call.graph.get_operations()}
    x = tf.constant(np.random.RandomState(5).randn(2, 5, 5, 4).astype("float32"))
    np.testing.assert_array_equal(call(x), keras_layer(x))


def test_layers_traced_in_keras_kernels_run_keras_code():
    """`keras_kernels()` (the TFLite export's tracing) leaves the shift-add out while it is open, and only then."""
    keras_layer, shift_add = _pair((2, 5, 5, 4), 1, 4, strides=2, padding="same")
    with shift_add_module.keras_kernels():
        call = tf.function(shift_add).get_concrete_function(tf.TensorSpec((None, 5, 5, 4)))
    assert "MatMul" not in {op.type for op in call.graph.get_operations()}
    x = tf.constant(np.random.RandomState(6).randn(2, 5, 5, 4).astype("float32"))
    np.testing.assert_array_equal(call(x), keras_layer(x))
    after = tf.function(shift_add).get_concrete_function(tf.TensorSpec((None, 5, 5, 4)))
    assert "MatMul" in {op.type for op in after.graph.get_operations()}


def test_unknown_spatial_size_runs_keras_code():
    keras_layer, shift_add = _pair((2, 5, 5, 4), 1, 3)
    x = tf.constant(np.random.RandomState(4).randn(2, 5, 5, 4).astype("float32"))
    call = tf.function(shift_add).get_concrete_function(tf.TensorSpec((None, None, None, 4)))
    assert "Conv2DBackpropInput" in {op.type for op in call.graph.get_operations()}
    np.testing.assert_array_equal(call(x), keras_layer(x))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision(policy):
    keras_layer, shift_add = _pair((4, 6, 6, 8), 1, 4, padding="same")
    keras_layer.dtype_policy = shift_add.dtype_policy = keras.DTypePolicy(policy)
    x = tf.random.stateless_normal((4, 6, 6, 8), seed=[5, 6])
    results = []
    for layer in (keras_layer, shift_add):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        results.append([y, *tape.gradient(loss, [x, layer.kernel])])
    assert results[1][0].dtype == results[0][0].dtype == keras_layer.compute_dtype
    # Both sum 8 channels x 16 taps of low-precision products in a different order.
    resolution = {"mixed_bfloat16": 2 ** -7, "mixed_float16": 2 ** -10}[policy]
    for name, expected, got in zip(["output", "d/dx", "d/dkernel"], *results):
        expected, got = tf.cast(expected, tf.float32), tf.cast(got, tf.float32)
        scale = float(tf.reduce_max(tf.abs(expected)))
        np.testing.assert_allclose(got, expected, atol=8 * resolution * scale, err_msg=name)


def test_dynamic_batch_in_a_saved_function(tmp_path):
    """The exported decoders take any batch size: the shift-add reshapes with the batch left unknown."""
    _, decoder = build_conv((28, 28, 1), None, 3)
    module = tf.Module()
    module.decode = tf.function(lambda z: decoder(z, training=False), input_signature=[tf.TensorSpec((None, 3))])
    module.decoder = decoder
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    for batch in (1, 5):
        z = tf.random.stateless_normal((batch, 3), seed=[7, batch])
        np.testing.assert_allclose(loaded.decode(z), decoder(z, training=False), rtol=1e-5, atol=1e-5)


def _output_layer(decoder):
    layer = decoder.layers[-1]
    return layer.layer if isinstance(layer, keras.layers.SpectralNormalization) else layer


@pytest.mark.parametrize("build,kwargs", [(build_conv, {}), (build_conv, {"spectral_normalization": True}),
                                          (build_dcgan, {}), (build_infogan, {})])
def test_networks_use_it_and_load_keras_layer_weights(build, kwargs, tmp_path, monkeypatch):
    """A checkpoint written with Keras' layer (by tfvae's Trainer before this layer) restores into today's."""
    _, decoder = build((28, 28, 1), None, 4, **kwargs)
    assert isinstance(_output_layer(decoder), ShiftAddConv2DTranspose)
    monkeypatch.setattr(sys.modules[build.__module__], "ShiftAddConv2DTranspose", keras.layers.Conv2DTranspose)
    _, old = build((28, 28, 1), None, 4, **kwargs)
    assert type(_output_layer(old)) is keras.layers.Conv2DTranspose
    old.set_weights([np.random.RandomState(8).randn(*w.shape).astype("float32") * 0.1 for w in old.weights])
    path = tf.train.Checkpoint(weights=weights_by_position(old)).save(str(tmp_path / "old"))
    restore_weights(decoder, path)
    z = tf.random.stateless_normal((6, 4), seed=[9, 9])
    np.testing.assert_allclose(decoder(z, training=False), old(z, training=False), rtol=1e-4, atol=1e-5)
    decoder.save(tmp_path / "decoder.keras")
    loaded = keras.saving.load_model(tmp_path / "decoder.keras")
    assert isinstance(_output_layer(loaded), ShiftAddConv2DTranspose)
    np.testing.assert_allclose(loaded(z, training=False), decoder(z, training=False), rtol=1e-6, atol=1e-6)
