"""`.keras` files and checkpoints written while tfvae had its own ShiftAddConv2DTranspose and FusedAdam load into
today's models, which use Keras' Conv2DTranspose and Adam."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import legacy
from tfvae.networks import build_conv, build_dcgan, build_infogan
from tfvae.training.trainer import restore_weights, weights_by_position


def test_a_keras_file_naming_the_old_layer_loads_as_keras_layer(tmp_path):
    old = keras.Sequential([keras.Input((7, 7, 8)), legacy.ShiftAddConv2DTranspose(1, 4, strides=2, padding="same")])
    old.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in old.weights])
    old.save(tmp_path / "old.keras")
    assert "tfvae>ShiftAddConv2DTranspose" in (tmp_path / "old.keras").read_bytes().decode("latin-1")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    plain = keras.Sequential([keras.Input((7, 7, 8)), keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same")])
    plain.set_weights(loaded.get_weights())
    x = tf.random.stateless_normal((3, 7, 7, 8), seed=[1, 2])
    np.testing.assert_allclose(loaded(x), plain(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded(x), old(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", [build_conv, build_dcgan, build_infogan])
def test_a_checkpoint_of_a_decoder_ending_in_the_old_layer_restores_into_today_s(build, tmp_path):
    _, decoder = build((28, 28, 1), None, 4)
    last = decoder.layers[-1]
    assert type(last) is keras.layers.Conv2DTranspose

    def as_before(layer):  # the decoder as tfvae built it before: the same layers, the old class at the end
        cls = legacy.ShiftAddConv2DTranspose if layer is last else type(layer)
        return cls.from_config(layer.get_config())

    old = keras.models.clone_model(decoder, clone_function=as_before)
    assert type(old.layers[-1]) is legacy.ShiftAddConv2DTranspose
    old.set_weights([np.random.default_rng(8).normal(size=w.shape).astype("float32") * 0.1 for w in old.weights])
    path = tf.train.Checkpoint(weights=weights_by_position(old)).save(str(tmp_path / "old"))
    restore_weights(decoder, path)
    z = tf.random.stateless_normal((6, 4), seed=[9, 9])
    np.testing.assert_allclose(decoder(z, training=False), old(z, training=False), rtol=1e-5, atol=1e-6)


def test_a_keras_file_naming_the_old_optimizer_loads_keras_adam_with_its_state(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=legacy.FusedAdam(0.01, beta_1=0.5, beta_2=0.9), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model.fit(x, x[:, :2], epochs=2, verbose=0)
    model.save(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.optimizer, keras.optimizers.Adam) and int(loaded.optimizer.iterations) == 2
    assert loaded.optimizer.get_config()["beta_1"] == 0.5
    for expected, found in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(found), np.asarray(expected))
