"""The rewrites that benchmarks/transposed_conv.py times against `tf.nn.conv2d_transpose` compute the same function
(outputs and both gradients), so the benchmark compares ways to one result."""
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import transposed_conv


def _forward_and_gradients(formulation, x, kernel, stride):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = formulation(x, kernel, stride)
        loss = tf.reduce_sum(tf.square(y))
    return (y, *map(tf.convert_to_tensor, tape.gradient(loss, [x, kernel])))  # gather's are IndexedSlices


@pytest.mark.parametrize("stride,side", [(2, 3), (2, 4), (1, 5), (1, 6)])
def test_rewrites_equal_the_transposed_convolution(stride, side):
    rng = np.random.RandomState(stride * 10 + side)
    # float32: TensorFlow's CPU kernels take NCHW only through oneDNN, which computes in float32.
    x = tf.constant(rng.randn(2, side, side, 3).astype(np.float32))
    kernel = tf.constant(rng.randn(transposed_conv.KERNEL, transposed_conv.KERNEL, 2, 3).astype(np.float32))
    reference = _forward_and_gradients(transposed_conv.conv_transpose, x, kernel, stride)
    assert reference[0].shape == (2, side * stride, side * stride, 2)
    for rewrite in transposed_conv.REWRITES[stride]:
        results = _forward_and_gradients(rewrite, transposed_conv.formulation_input(rewrite, x), kernel, stride)
        for expected, actual in zip(reference, transposed_conv.as_nhwc(rewrite, results)):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max(),
                                       err_msg=rewrite.__name__)


def test_rewrites_refuse_the_stride_they_do_not_rewrite():
    x, kernel = tf.zeros((1, 3, 3, 1)), tf.zeros((4, 4, 1, 1))
    with pytest.raises(ValueError, match="stride 2 and kernel 4"):
        transposed_conv.sub_pixel(x, kernel, 1)
    with pytest.raises(ValueError, match="stride-1"):
        transposed_conv.flipped_conv(x, kernel, 2)
