"""The conv net's transposed convolutions against equal-valued rewrites: is there a faster way to the same function?

The decoder's transposed convolutions are the largest part of a training step on CPU (benchmarks/step_profile.py:
their forward and backward passes are about 60% of the VAE step's op time). Each rewrite below computes the same
function from the same kernel (Keras' Conv2DTranspose layout, (k, k, out_channels, in_channels)), so a faster one
could replace the layer without changing a model or a checkpoint:

- `conv_transpose`: `tf.nn.conv2d_transpose`, what `keras.layers.Conv2DTranspose` runs (oneDNN's backward-data
  kernel forward, its forward and backward-weights kernels backward);
- `sub_pixel` (stride 2): one stride-1 2x2 convolution to 4x the channels on the input padded by one pixel, whose
  four channel groups are the four output phases (rows/columns even or odd), sliced and interleaved;
- `channels_first`: the same kernel call in the NCHW layout (oneDNN's preferred order on paper), its input given
  in NCHW (a whole network in that layout would need no transposes between layers);
- `flipped_conv` (stride 1): a convolution with the kernel flipped in space and its channel axes swapped, on the
  input padded by `tf.pad`; `flipped_conv_explicit`: the same padding given to `tf.nn.conv2d` itself;
- `shift_add`: one matmul onto every kernel tap, then a shift-add (`tfvae.networks.shift_add`, the forward pass of
  `ShiftAddConv2DTranspose`, whose backward pass is TensorFlow's). Also timed on layers to few channels that other
  decoders end with: RGB at 28 px, InfoGAN's last layer (64 -> 1, stride 2), the same to RGB and DCGAN's last
  layer (32 -> 1, 5x5, stride 2).

    python -m benchmarks.transposed_conv [--repeats=5] [--steps=30]

Timed: forward and backward (gradients of a sum of squares for the input and the kernel) of each of the conv net's
decoder layers at batch 100 (28 px, filters 32-64-128, kernel 4) and of the few-channel layers above, `steps` steps
per run, the formulations alternated in each repeat. Each rewrite's largest difference from `conv_transpose` is
printed beside its time (float round-off only; tests/networks/test_transposed_conv_rewrites.py checks the
equalities). benchmarks/results/transposed_conv.json keeps every run.
"""
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json
from tfvae.networks.shift_add import shift_add_conv_transpose

FLAGS = flags.FLAGS
BATCH = 100
KERNEL = 4
# The conv net's decoder layers (tfvae/networks/conv.py at 28 px): (input side, in channels, out channels, stride).
LAYERS = ((7, 128, 64, 2), (14, 64, 32, 2), (28, 32, 1, 1))
# Layers to few channels, (side, in, out, stride, kernel): an RGB output at 28 px, InfoGAN's output layer, the same to
# RGB, the DCGAN generator's output layer (5x5).
FEW_CHANNEL_LAYERS = ((28, 32, 3, 1, 4), (14, 64, 1, 2, 4), (14, 64, 3, 2, 4), (14, 32, 1, 2, 5))
# Stride-1 "same" padding of an even kernel puts the extra pixel after; the flipped correlation's padding mirrors it.
_FLIPPED_PADDING = ((KERNEL - 1) - (KERNEL - 1) // 2, (KERNEL - 1) // 2)
# Stride 2, kernel 4, "same": output row 2m + phase reads input rows (m - 1, m) for phase 0 with kernel rows (3, 1)
# and rows (m, m + 1) for phase 1 with kernel rows (2, 0).
_PHASE_TAPS = ((3, 1), (2, 0))


def conv_transpose(x, kernel, stride):
    batch, height, width, _ = x.shape
    return tf.nn.conv2d_transpose(x, kernel, (batch, height * stride, width * stride, kernel.shape[2]), stride,
                                  padding="SAME")


def channels_first(x, kernel, stride):
    """`conv_transpose` on an NCHW input, answering in NCHW."""
    batch, _, height, width = x.shape
    return tf.nn.conv2d_transpose(x, kernel, (batch, kernel.shape[2], height * stride, width * stride), stride,
                                  padding="SAME", data_format="NCHW")


def formulation_input(formulation, x):
    """x (NHWC) in the layout `formulation` reads."""
    return tf.transpose(x, (0, 3, 1, 2)) if formulation is channels_first else x


def as_nhwc(formulation, results):
    """(output, input gradient, kernel gradient) of `formulation` with the first two in NHWC."""
    if formulation is not channels_first:
        return results
    output, input_gradient, kernel_gradient = results
    return tf.transpose(output, (0, 2, 3, 1)), tf.transpose(input_gradient, (0, 2, 3, 1)), kernel_gradient


def sub_pixel(x, kernel, stride):
    if stride != 2 or kernel.shape[0] != 4:
        raise ValueError(f"sub_pixel is written for stride 2 and kernel 4. Received: stride={stride}, "
                         f"kernel shape={tuple(kernel.shape)}")
    _, side, _, in_channels = x.shape
    out_channels = kernel.shape[2]
    phases = [tf.gather(tf.gather(kernel, _PHASE_TAPS[row], axis=0), _PHASE_TAPS[column], axis=1)
              for row in (0, 1) for column in (0, 1)]  # 4 x (2, 2, out, in)
    merged = tf.reshape(tf.transpose(tf.stack(phases, axis=2), (0, 1, 4, 2, 3)), (2, 2, in_channels, 4 * out_channels))
    grid = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), merged, 1, "VALID")  # side + 1 positions
    grid = tf.reshape(grid, (-1, side + 1, side + 1, 2, 2, out_channels))
    rows = [tf.stack([grid[:, row:row + side, column:column + side, row, column] for column in (0, 1)], axis=3)
            for row in (0, 1)]  # each (batch, side, side, 2, out): the row phase's two column phases
    return tf.reshape(tf.stack(rows, axis=2), (-1, 2 * side, 2 * side, out_channels))


def _flipped_kernel(kernel):
    return tf.transpose(tf.reverse(kernel, [0, 1]), (0, 1, 3, 2))


def flipped_conv(x, kernel, stride):
    _check_stride_one(stride)
    padding = [[0, 0], _FLIPPED_PADDING, _FLIPPED_PADDING, [0, 0]]
    return tf.nn.conv2d(tf.pad(x, padding), _flipped_kernel(kernel), 1, "VALID")


def flipped_conv_explicit(x, kernel, stride):
    _check_stride_one(stride)
    return tf.nn.conv2d(x, _flipped_kernel(kernel), 1, [[0, 0], _FLIPPED_PADDING, _FLIPPED_PADDING, [0, 0]])


def _check_stride_one(stride):
    if stride != 1:
        raise ValueError(f"The flipped convolution rewrites a stride-1 transposed convolution. Received: "
                         f"stride={stride}")


def shift_add(x, kernel, stride):
    return shift_add_conv_transpose(x, kernel, (stride, stride), "SAME")


REWRITES = {2: (channels_first, sub_pixel, shift_add), 1: (channels_first, flipped_conv, flipped_conv_explicit,
                                                             shift_add)}


def _step(formulation, kernel, stride):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = formulation(x, kernel, stride)
            loss = tf.reduce_sum(tf.square(y))
        return (y, *map(tf.convert_to_tensor, tape.gradient(loss, [x, kernel])))

    return step


def _largest_difference(reference, other):
    return max(float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a))) for a, b in zip(reference, other))


def main(argv):
    del argv
    rng = np.random.RandomState(0)
    rows, runs = [], []
    layers = ([((*layer, KERNEL), REWRITES[layer[3]]) for layer in LAYERS]
              + [(layer, (shift_add,)) for layer in FEW_CHANNEL_LAYERS])
    for (side, in_channels, out_channels, stride, size), rewrites in layers:
        x = tf.constant(rng.randn(BATCH, side, side, in_channels).astype(np.float32))
        kernel = tf.Variable(rng.randn(size, size, out_channels, in_channels).astype(np.float32) * 0.05)
        formulations = {f.__name__: f for f in (conv_transpose, *rewrites)}
        steps = {name: _step(f, kernel, stride) for name, f in formulations.items()}
        inputs = {name: formulation_input(f, x) for name, f in formulations.items()}
        reference = steps["conv_transpose"](x)
        differences = {name: _largest_difference(reference, as_nhwc(f, steps[name](inputs[name])))
                       for name, f in formulations.items()}
        times = {name: [] for name in steps}
        for _ in range(FLAGS.repeats):
            for name, step in steps.items():
                for _ in range(3):  # warm-up: oneDNN's primitive cache
                    step(inputs[name])
                started = time.perf_counter()
                for _ in range(FLAGS.steps):
                    step(inputs[name])[0].numpy()
                times[name].append((time.perf_counter() - started) / FLAGS.steps * 1000)
        layer = f"{side}px {in_channels}->{out_channels} s{stride} k{size}"
        for name, values in times.items():
            median, low, high = median_and_spread(values)
            ratios = [t / c for t, c in zip(values, times["conv_transpose"])]
            rows.append({"layer": layer, "formulation": name, "ms/step (median)": median,
                         "range": f"{low:.1f}-{high:.1f}",
                         "time / conv_transpose": statistics.median(ratios),
                         "max relative difference": f"{differences[name]:.1e}"})
            runs.append({"layer": layer, "formulation": name, "ms_per_step": values})
    print_table(f"Forward + backward of transposed convolutions (batch {BATCH}; {FLAGS.repeats} "
                f"runs of {FLAGS.steps} steps, alternated)", rows,
                ["layer", "formulation", "ms/step (median)", "range", "time / conv_transpose",
                 "max relative difference"])
    print("\nwrote", write_json("transposed_conv", {"settings": {"repeats": FLAGS.repeats, "steps": FLAGS.steps},
                                                     "rows": rows, "runs": runs}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its formulations."""
    flags.DEFINE_integer("repeats", 5, "Runs of each formulation, alternated.")
    flags.DEFINE_integer("steps", 30, "Forward-backward steps per run.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
