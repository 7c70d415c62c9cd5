"""A transposed convolution to one channel whose forward pass is one matmul and a shift-add.

A decoder's last layer maps many channels to the image's few (32 -> 1 in the conv net). oneDNN computes a
transposed convolution forward with its backward-data kernel, which is slow for one output channel: 4 ms of the conv
VAE's 62 ms CPU step (oneDNN's own timing, ONEDNN_VERBOSE=1) for about 2% of its forward FLOPs (benchmarks/README.md).

For one output channel the same function is cheaper as: one matmul of every input pixel's channels onto every
(kernel row, kernel column, output channel) tap, then a shift-add placing each tap's image at its offset. The
backward pass is TensorFlow's own gradient of a transposed convolution (a convolution for the input, the filter
gradient for the kernel), so only the forward op changes. The layer is Keras' `Conv2DTranspose` with the same
weights, arguments and results (to float round-off); whatever the shift-add does not cover (more output channels,
channels-first data, dilation, output padding, unknown spatial sizes) runs Keras' code, and so does every layer in
a process with a GPU or TPU: the gain was measured on CPU, where oneDNN runs the convolutions, and cuDNN's kernels
were not measured against it. `shift_add_conv_transpose` itself computes any number of channels.
"""
import contextlib
import threading

import keras
import tensorflow as tf

# The shift-add pays for one output channel only. `python -m benchmarks.transposed_conv` (forward + backward, batch
# 100, kernel 4): 0.62x the time of Keras' layer for 32 -> 1 at 28 px, 0.70x for 64 -> 1 at stride 2; no gain at 3
# channels (1.01x), 1.6-1.9x slower at 32 and 64.
MAX_SHIFT_ADD_FILTERS = 1


_KERAS_KERNELS = threading.local()  # `.active`: whether layers traced in this thread skip the shift-add


@contextlib.contextmanager
def keras_kernels():
    """Layers traced inside this context run Keras' transposed convolution, never the shift-add.

    For TensorFlow Lite (`tfvae.export.tflite`): the shift-add holds its taps in a 6-D tensor, which TFLite's
    strided slice refuses at run time (at most 5-D), and TFLite's builtin TRANSPOSE_CONV is the kernel on-device
    runtimes optimize. The results agree to float round-off (the class docstring).
    """
    previous = getattr(_KERAS_KERNELS, "active", False)
    _KERAS_KERNELS.active = True
    try:
        yield
    finally:
        _KERAS_KERNELS.active = previous


def accelerator_present():
    """Whether TensorFlow sees a GPU or TPU (the shift-add is then left to Keras' kernels)."""
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def _same_padding_before(kernel_size, stride):
    """Rows TensorFlow's SAME transposed convolution crops before its output: half of max(k - s, 0), rounded down."""
    return max(kernel_size - stride, 0) // 2


def shift_add_conv_transpose(inputs, kernel, strides, padding):
    """`tf.nn.conv2d_transpose(inputs, kernel, ..., strides, padding)` for NHWC inputs of static height and width.

    Args:
        inputs: [B, H, W, C_in] tensor, H, W and C_in static.
        kernel: [k_h, k_w, C_out, C_in] tensor (Keras' and TensorFlow's transposed-convolution layout).
        strides: (s_h, s_w), at most the kernel's (k_h, k_w).
        padding: "same" or "valid" (either case).

    Returns:
        [B, H_out, W_out, C_out]: H_out = H s_h for "same", (H - 1) s_h + k_h for "valid".

    Raises:
        ValueError: another padding, unknown sizes, a kernel that does not match the inputs' channels or is smaller
            than the stride.
    """
    padding = padding.upper()
    inputs, kernel = tf.convert_to_tensor(inputs), tf.convert_to_tensor(kernel)
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'same' or 'valid'. Received: padding={padding!r}")
    if inputs.shape.rank != 4 or None in inputs.shape[1:] or kernel.shape.rank != 4 or None in kernel.shape:
        raise ValueError(f"The shift-add needs NHWC inputs of static height, width and channels and a static 4-D "
                         f"kernel. Received: inputs shape {inputs.shape}, kernel shape {kernel.shape}")
    _, height, width, in_channels = inputs.shape
    kernel_h, kernel_w, out_channels, kernel_in = kernel.shape
    stride_h, stride_w = strides
    if kernel_in != in_channels or kernel_h < stride_h or kernel_w < stride_w:
        raise ValueError(f"The kernel [k_h, k_w, out, in] must read the inputs' {in_channels} channels and be at least "
                         f"as large as the stride. Received: kernel shape {tuple(kernel.shape)}, strides "
                         f"{tuple(strides)}")
    if padding == "SAME":
        out_h, out_w = height * stride_h, width * stride_w
        top, left = _same_padding_before(kernel_h, stride_h), _same_padding_before(kernel_w, stride_w)
    else:
        out_h, out_w = (height - 1) * stride_h + kernel_h, (width - 1) * stride_w + kernel_w
        top = left = 0

    @tf.custom_gradient
    def forward(x, w):
        # taps[i, j, o] is the image sum_c x[..., c] w[i, j, o, c]: one matmul for all of them.
        matrix = tf.reshape(w, (kernel_h * kernel_w * out_channels, in_channels))
        taps = tf.matmul(matrix, tf.reshape(x, (-1, in_channels)), transpose_b=True)
        taps = tf.reshape(taps, (kernel_h, kernel_w, out_channels, -1, height, width))
        # Output row y = s * (input row) + i - top. Split i = s * q + r: each phase r of the output rows is the sum
        # of its taps' images shifted by q coarse rows, so every phase is a plain shift-add on the input grid.
        rows_q, cols_q = -(-kernel_h // stride_h), -(-kernel_w // stride_w)
        grid_h, grid_w = height + rows_q - 1, width + cols_q - 1
        phases = []
        for row_phase in range(stride_h):
            for col_phase in range(stride_w):
                shifted = [tf.pad(taps[i, j], [[0, 0], [0, 0], [i // stride_h, rows_q - 1 - i // stride_h],
                                               [j // stride_w, cols_q - 1 - j // stride_w]])
                           for i in range(row_phase, kernel_h, stride_h)
                           for j in range(col_phase, kernel_w, stride_w)]
                phases.append(tf.add_n(shifted))
        if stride_h == stride_w == 1:
            canvas = phases[0]
        else:  # interleave the phases: canvas[o, b, s_h m + r, s_w n + t] = phase (r, t) at [o, b, m, n]
            canvas = tf.reshape(tf.stack(phases, axis=-1), (out_channels, -1, grid_h, grid_w, stride_h, stride_w))
            canvas = tf.reshape(tf.transpose(canvas, (0, 1, 2, 4, 3, 5)),
                                (out_channels, -1, grid_h * stride_h, grid_w * stride_w))
        canvas = canvas[:, :, top:top + out_h, left:left + out_w]
        outputs = (tf.reshape(canvas, (-1, out_h, out_w, 1)) if out_channels == 1
                   else tf.transpose(canvas, (1, 2, 3, 0)))

        def gradient(upstream):
            # TensorFlow's gradient of Conv2DBackpropInput, the op conv2d_transpose runs: written out so that the
            # backward pass runs the same oneDNN kernels as Keras' layer (and is itself differentiable).
            step = [1, stride_h, stride_w, 1]
            input_gradient = tf.nn.conv2d(upstream, w, step, padding)
            kernel_gradient = tf.raw_ops.Conv2DBackpropFilter(
                input=upstream, filter_sizes=tf.shape(w), out_backprop=x, strides=step, padding=padding)
            return input_gradient, kernel_gradient

        return outputs, gradient

    return forward(inputs, kernel)


@keras.saving.register_keras_serializable("tfvae")
class ShiftAddConv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` whose forward pass, for one output channel, is a matmul and a shift-add.

    Same weights, arguments and results as Keras' layer, in the same order: a tfvae checkpoint (weights by position)
    written with Keras' layer restores into it.
    The shift-add runs on CPU-only processes for channels-last inputs of static height and width with at most
    `MAX_SHIFT_ADD_FILTERS` output channels, a kernel at least as large as the stride, no dilation and no output
    padding; anything else runs Keras' code, and so does a layer traced inside `keras_kernels()`.

    Args:
        **kwargs: those of `keras.layers.Conv2DTranspose`.
    """

    def _shift_add_applies(self, inputs):
        return (self.filters <= MAX_SHIFT_ADD_FILTERS and self.data_format == "channels_last"
                and tuple(self.dilation_rate) == (1, 1) and self.output_padding is None
                and all(k >= s for k, s in zip(self.kernel_size, self.strides))
                and inputs.shape.rank == 4 and None not in inputs.shape[1:] and not accelerator_present()
                and not getattr(_KERAS_KERNELS, "active", False))

    def call(self, inputs):
        if not self._shift_add_applies(inputs):
            return super().call(inputs)
        kernel = tf.cast(self.kernel, self.compute_dtype)
        outputs = shift_add_conv_transpose(tf.cast(inputs, self.compute_dtype), kernel, self.strides, self.padding)
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, self.compute_dtype)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs
