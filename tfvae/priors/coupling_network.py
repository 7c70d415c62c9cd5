"""The scale/shift network of one affine coupling layer, a Keras 3 layer."""
import keras
import tensorflow as tf


class CouplingNetwork(keras.layers.Layer):
    """Maps the kept half of z to (shift, log_scale) of the transformed half (dpVAE eq. 3).

    Two hidden layers of `hidden_units` ReLU units; tanh bounds the log-scale, which keeps the flow's Jacobian
    well-conditioned early in training (the dpVAE architecture). The output layer starts at zero, so every coupling
    starts as the identity and the decoupled prior starts as N(0, I).

    Args:
        output_units: int. Dimensions transformed by the coupling (its shift and log-scale sizes).
        hidden_units: int. Width of the two hidden layers. Defaults to 64.
    """

    def __init__(self, output_units, hidden_units=64, **kwargs):
        super().__init__(**kwargs)
        self.output_units = int(output_units)
        self.hidden_units = int(hidden_units)
        self.hidden = [keras.layers.Dense(self.hidden_units, activation="relu") for _ in range(2)]
        self.out = keras.layers.Dense(2 * self.output_units, kernel_initializer="zeros")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = (*shape[:-1], self.hidden_units)
        self.out.build(shape)
        self.built = True

    def call(self, x):
        h = x
        for layer in self.hidden:
            h = layer(h)
        shift, raw_scale = tf.split(self.out(h), 2, axis=-1)
        return shift, tf.tanh(raw_scale)

    def get_config(self):
        return {**super().get_config(), "output_units": self.output_units, "hidden_units": self.hidden_units}
