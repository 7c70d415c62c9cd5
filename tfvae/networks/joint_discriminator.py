"""VEEGAN's discriminator on (image, code) pairs."""
import keras
import tensorflow as tf


class JointDiscriminator(keras.layers.Layer):
    """D(x, z): image features and code features concatenated, then a head (Rosca et al., appendix K, table 6).

    The paper's head is two convolutions (3x3 and 2x2, 512-1024 maps) over spatial features; ours flattens both
    trunks and uses a dense head of the same width (1024), which is what those convolutions reduce to on the small
    final feature maps of 28 px and smaller images.

    Args:
        image_trunk: keras.Model. Image -> flat features (the data discriminator without its classification layer).
        code_trunk: keras.Model. Code -> flat features (the code discriminator without its classification layer).
        head_units: int. Width of the head. Defaults to 1024.
    """

    def __init__(self, image_trunk, code_trunk, head_units=1024, **kwargs):
        super().__init__(**kwargs)
        self.image_trunk = image_trunk
        self.code_trunk = code_trunk
        self.head = keras.Sequential([keras.layers.Dense(head_units), keras.layers.LeakyReLU(0.2),
                                      keras.layers.Dense(1)])

    def call(self, x, z, training=False):
        features = tf.concat([self.image_trunk(x, training=training), self.code_trunk(z, training=training)], axis=-1)
        return self.head(features, training=training)[:, 0]
