"""FusedAdam against Keras' Adam: the same update, state, checkpoints and configuration."""
import keras
import numpy as np
import tensorflow as tf

from tests.conftest import assert_same_values
from tfvae.optimizers import FusedAdam

SHAPES = [(5, 3), (3,), (2, 2, 1, 4)]


def _train(optimizer_class, steps=6, dtype="float32", **kwargs):
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype(dtype)) for shape in SHAPES]
    optimizer = optimizer_class(learning_rate=0.05, beta_1=0.5, beta_2=0.9, **kwargs)
    optimizer.build(variables)
    apply = tf.function(lambda gradients: optimizer.apply_gradients(zip(gradients, variables)))
    for step in range(steps):
        step_rng = np.random.default_rng(step + 1)
        apply([tf.constant(step_rng.normal(size=shape).astype(dtype)) for shape in SHAPES])
    return optimizer, [v.numpy() for v in variables]


def test_same_weights_and_moments_as_keras_adam():
    keras_adam, expected = _train(keras.optimizers.Adam)
    fused, actual = _train(FusedAdam)
    assert_same_values(actual, expected, rtol=1e-6, atol=1e-6)
    assert_same_values(fused.variables, keras_adam.variables, rtol=1e-6, atol=1e-6)  # iterations, moments, velocities
    assert not np.allclose(actual[0], np.random.default_rng(0).normal(size=SHAPES[0]))  # the weights moved


def test_float64_update_is_adam_in_numpy():
    """In float64 the kernel is Adam's formula to round-off (Keras' own update rounds its constants through float32
    and is 1e-8 away)."""
    _, actual = _train(FusedAdam, dtype="float64")
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=shape) for shape in SHAPES]
    m, v = [np.zeros(shape) for shape in SHAPES], [np.zeros(shape) for shape in SHAPES]
    lr, beta_1, beta_2, epsilon = float(np.float32(0.05)), 0.5, 0.9, 1e-7  # Keras keeps the learning rate in float32
    for step in range(6):
        step_rng = np.random.default_rng(step + 1)
        for k, shape in enumerate(SHAPES):
            g = step_rng.normal(size=shape)
            m[k] += (g - m[k]) * (1 - beta_1)
            v[k] += (g * g - v[k]) * (1 - beta_2)
            alpha = lr * np.sqrt(1 - beta_2 ** (step + 1)) / (1 - beta_1 ** (step + 1))
            weights[k] -= alpha * m[k] / (np.sqrt(v[k]) + epsilon)
    assert_same_values(actual, weights, rtol=1e-12, atol=1e-12)


def test_amsgrad_takes_keras_update():
    _, expected = _train(keras.optimizers.Adam, amsgrad=True)
    _, actual = _train(FusedAdam, amsgrad=True)
    assert_same_values(actual, expected, rtol=1e-6, atol=1e-6)


def test_checkpoints_interchange_with_keras_adam(tmp_path):
    fused, _ = _train(FusedAdam, steps=3)
    path = tf.train.Checkpoint(optimizer=fused).write(str(tmp_path / "ckpt"))
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    restored = keras.optimizers.Adam(learning_rate=0.05, beta_1=0.5, beta_2=0.9)
    restored.build(variables)
    tf.train.Checkpoint(optimizer=restored).read(path).assert_consumed()
    assert_same_values(restored.variables, fused.variables)


def test_tensor_hyperparameters_are_accepted():
    _, expected = _train(FusedAdam)
    _, actual = _train(lambda **kwargs: FusedAdam(**{**kwargs, "beta_1": tf.constant(0.5), "beta_2": tf.constant(0.9)}))
    assert_same_values(actual, expected, rtol=1e-6, atol=1e-7)


def test_config_round_trip():
    optimizer = FusedAdam(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-6)
    copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(copy) is FusedAdam and copy.get_config() == optimizer.get_config()


def test_mirrored_update_reaches_every_replica(mirrored):
    """Under MirroredStrategy each replica's copy gets the update of the mean gradient, as on one device."""
    initial = np.arange(6, dtype="float32").reshape(2, 3) / 10
    with mirrored.scope():
        variable = keras.Variable(initial)
        optimizer = FusedAdam(0.1)
        optimizer.build([variable])

    @tf.function
    def step():
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            optimizer.apply_gradients([(tf.ones((2, 3)) * tf.cast(replica + 1, tf.float32), variable)])
        mirrored.run(replica_fn)

    step()
    step()
    single = keras.Variable(initial)
    single_optimizer = FusedAdam(0.1)
    single_optimizer.build([single])
    for _ in range(2):
        single_optimizer.apply_gradients([(tf.ones((2, 3)) * 1.5, single)])
    copies = variable.value.values
    assert len(copies) == 2 and int(optimizer.iterations.numpy()) == 2
    for copy in copies:
        np.testing.assert_allclose(copy.numpy(), single.numpy(), atol=1e-6)
    assert not np.allclose(single.numpy(), initial)
