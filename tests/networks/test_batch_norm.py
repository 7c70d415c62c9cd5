"""FusedBatchNormalization against Keras' BatchNormalization: same outputs, gradients and moving statistics."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae.networks.batch_norm import FusedBatchNormalization
from tfvae.networks.conv import build_conv


def _pair(shape, seed=0, **kwargs):
    rng = np.random.RandomState(seed)
    keras_layer, fused = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    keras_layer.build(shape)
    fused.build(shape)
    for weight in keras_layer.weights:  # non-trivial gamma, beta and moving statistics, shared
        weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
    for source, target in zip(keras_layer.weights, fused.weights):
        target.assign(source)
    return keras_layer, fused


def _step(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        objective = tf.reduce_sum(y * tf.sin(y))  # a loss whose gradient varies per element
    gradients = tape.gradient(objective, [x] + layer.trainable_weights)
    return y.numpy(), [g.numpy() for g in gradients], layer.moving_mean.numpy(), layer.moving_variance.numpy()


@pytest.mark.parametrize("shape", [(50, 7), (20, 5, 6, 3)])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.5, "epsilon": 1e-2}, {"center": False, "scale": False}])
def test_training_step_matches_keras(shape, kwargs):
    keras_layer, fused = _pair(shape, **kwargs)
    initial_variance = fused.moving_variance.numpy()
    x = tf.constant(np.random.RandomState(1).randn(*shape).astype("float32") * 3 + 1)
    expected, got = _step(keras_layer, x), _step(fused, x)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-5)
    # d/dx, then d/dgamma and d/dbeta where the layer has them: a bare zip would skip a weight the fused layer lacks
    assert len(got[1]) == len(expected[1]) == 1 + kwargs.get("scale", True) + kwargs.get("center", True)
    for g, e in zip(got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * np.abs(e).max())
    # Moving statistics use the biased batch variance, as Keras: the kernel's unbiased one is rescaled.
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-6)
    np.testing.assert_allclose(got[3], expected[3], rtol=1e-6)
    assert np.abs(got[3] - initial_variance).min() > 1e-3  # the statistics did move
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(keras_layer(x, training=False)),
                               rtol=1e-6, atol=1e-6)


def test_fused_kernel_is_the_one_that_runs():
    """The training graph holds FusedBatchNormV3 and its gradient, not Keras' element-wise moments."""
    _, fused = _pair((8, 4, 4, 2))
    x = tf.random.normal((8, 4, 4, 2))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(fused(x, training=True))
        return tape.gradient(y, x)

    ops = {op.type for op in step.get_concrete_function(x).graph.get_operations()}
    assert "FusedBatchNormV3" in ops and "SquaredDifference" not in ops


@pytest.mark.parametrize("kwargs,shape", [({"axis": 1}, (8, 3, 4, 4)), ({}, (8, 3, 4)), ({"epsilon": 1e-6}, (8, 5))])
def test_cases_outside_the_kernel_run_keras_code(kwargs, shape):
    keras_layer, fused = _pair(shape, **kwargs)
    x = tf.constant(np.random.RandomState(2).randn(*shape).astype("float32"))
    expected, got = _step(keras_layer, x), _step(fused, x)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[3], expected[3])


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_computes_in_float32(policy):
    keras_layer, fused = keras.layers.BatchNormalization(dtype=policy), FusedBatchNormalization(dtype=policy)
    x = tf.cast(tf.random.stateless_normal((16, 3, 3, 4), seed=[3, 4]) * 2 + 1, keras_layer.compute_dtype)
    expected, got = keras_layer(x, training=True), fused(x, training=True)
    assert got.dtype == expected.dtype and fused.moving_variance.dtype == tf.float32
    # The same float32 normalization rounded once to the compute dtype: equal up to one rounding of the output.
    resolution = {"mixed_bfloat16": 2 ** -7, "mixed_float16": 2 ** -10}[policy]
    np.testing.assert_allclose(tf.cast(got, tf.float32), tf.cast(expected, tf.float32), atol=4 * resolution)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_16_bit_inputs_go_into_the_kernel_uncast(policy):
    """Under a 16-bit policy the kernel takes the activations as they are (its T), computing in float32 inside: the
    step's outputs, gradients and moving statistics are those of the float32 kernel on the same values, up to one
    rounding to 16 bits, and both kernels (forward and gradient) run in the 16-bit dtype: no casts around them."""
    shape = (12, 5, 5, 3)
    _, fused = _pair(shape)
    half = FusedBatchNormalization(dtype=policy)
    half.build(shape)
    for source, target in zip(fused.weights, half.weights):
        target.assign(source)
    x16 = tf.cast(tf.random.stateless_normal(shape, seed=[5, 6]) * 2 + 1, half.compute_dtype)

    def step(layer, weights, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            objective = tf.reduce_sum(tf.cast(y, tf.float32) * tf.sin(tf.cast(x, tf.float32)))
        return [y] + tape.gradient(objective, [x] + weights)

    def cast_around(x, training):  # the float32 kernel between two casts, as the layer ran 16-bit inputs before
        return tf.cast(fused(tf.cast(x, tf.float32), training=training), x.dtype)

    got, expected = step(half, half.trainable_weights, x16), step(cast_around, fused.trainable_weights, x16)
    assert got[0].dtype == got[1].dtype == x16.dtype and got[2].dtype == tf.float32
    resolution = {"mixed_bfloat16": 2 ** -7, "mixed_float16": 2 ** -10}[policy]  # an ulp at 1
    assert len(got) == len(expected) == 4  # output, d/dx, d/dgamma, d/dbeta
    for g, e in zip(got[:2], expected[:2]):  # output and input gradient, each rounded once to 16 bits
        g, e = tf.cast(g, tf.float32).numpy(), tf.cast(e, tf.float32).numpy()
        np.testing.assert_allclose(g, e, rtol=resolution, atol=resolution * np.abs(e).max())
    for g, e in zip(got[2:], expected[2:]):  # gamma and beta: float32 sums of the same 16-bit terms
        np.testing.assert_allclose(g, e, rtol=1e-5)
    np.testing.assert_allclose(half.moving_mean, fused.moving_mean, rtol=1e-6)
    np.testing.assert_allclose(half.moving_variance, fused.moving_variance, rtol=1e-6)

    graph = tf.function(lambda x: step(half, half.trainable_weights, x)).get_concrete_function(x16).graph
    kernels = {op.type: op.get_attr("T") for op in graph.get_operations() if op.type.startswith("FusedBatchNorm")}
    assert kernels == {"FusedBatchNormV3": x16.dtype, "FusedBatchNormGradV3": x16.dtype}


def test_networks_use_it_and_reload(tmp_path):
    encoder, _ = build_conv((28, 28, 1), 4, 2)
    assert any(isinstance(layer, FusedBatchNormalization) for layer in encoder.layers)
    encoder.save(tmp_path / "encoder.keras")
    loaded = keras.saving.load_model(tmp_path / "encoder.keras")
    x = np.random.RandomState(0).rand(3, 28, 28, 1).astype("float32")
    assert isinstance(loaded.layers[1], FusedBatchNormalization)
    np.testing.assert_allclose(loaded(x), encoder(x), rtol=1e-6)
