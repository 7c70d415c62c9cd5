"""Batch normalization whose training step is one fused TensorFlow kernel.

Keras 3's `BatchNormalization` computes the batch moments and the normalization with separate element-wise ops
(mean, squared difference, multiply, add) and differentiates through each of them. On a 2-core CPU these ops and
their gradients were about a quarter of the conv VAE's training step (benchmarks/README.md).
TensorFlow's `FusedBatchNormV3` does the forward pass in one kernel and the backward pass in another (oneDNN's on
CPU, cuDNN's on GPU): the conv VAE's step is about 1.2x faster with it on this project's CPU.

The layer is Keras' own with the same weights, arguments and results: only the training-mode computation
changes. Whatever the fused kernel does not cover (masks, batch renormalization, synchronized moments, another axis
than the last, inputs that are not (N, C) or (N, H, W, C), an epsilon under the kernel's minimum, a symbolic
`training` flag) runs Keras' code. Inference always runs Keras' code.
"""
import keras
import tensorflow as tf

# The input dtypes FusedBatchNormV3 takes (its T); scale, offset and the batch's moments are float32 (its U).
_KERNEL_DTYPES = (tf.float32, tf.bfloat16, tf.float16)
# FusedBatchNormV3 refuses a smaller epsilon (cuDNN's CUDNN_BN_MIN_EPSILON); Keras' default is 1e-3.
_MIN_FUSED_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable("tfvae")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with the training step in TensorFlow's fused kernel.

    Math (as Keras): in training, y = gamma (x - mean_B) / sqrt(var_B + epsilon) + beta with the batch's mean and
    biased variance over every axis but the last; moving statistics m <- momentum m + (1 - momentum) stat_B, where
    stat_B is the biased variance as in Keras (the kernel returns the unbiased one, rescaled here by (n - 1) / n
    for n values per channel). The moments and the normalization are computed in float32 whatever the dtype policy
    (a 16-bit input goes into the kernel as it is, which computes in float32 inside); the output is in the compute
    dtype.

    Args:
        **kwargs: those of `keras.layers.BatchNormalization`.
    """

    def _fused_applies(self, inputs, training, mask):
        return (training is True and self.trainable and mask is None and not self.renorm
                and not self.synchronized and self.axis in (-1, len(inputs.shape) - 1)
                and len(inputs.shape) in (2, 4) and self.epsilon >= _MIN_FUSED_EPSILON)

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        # The kernel takes float16 and bfloat16 inputs as they are and computes the moments and the normalization in
        # float32 (its U type) inside: casting a 16-bit input up first gives the same outputs and gradients up to
        # one rounding, and costs two casts forward, two backward, and twice the memory traffic over the
        # activations. Under mixed_bfloat16 on a 2-core CPU those casts were 6% of the conv VAE's op time, they kept
        # Grappler from fusing the kernel with the ReLU after it, and without them it trains about 1.15x faster
        # (benchmarks/README.md).
        x = inputs if inputs.dtype in _KERNEL_DTYPES else tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        as_images = x if len(x.shape) == 4 else tf.reshape(x, [-1, 1, 1, channels])
        scale = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
        offset = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
        empty = tf.zeros([0], tf.float32)  # no running statistics: the kernel computes the batch's
        y, mean, unbiased_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=as_images, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        count = tf.cast(tf.size(as_images) // channels, tf.float32)
        variance = unbiased_variance * tf.maximum(count - 1.0, 0.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        if len(x.shape) != 4:
            y = tf.reshape(y, tf.shape(x))
        return tf.cast(y, self.compute_dtype)
