"""A stride-2 convolution's kernel gradient: TensorFlow's kernel against rewrites from public ops.

The weight gradients are the largest pass of the conv VAE's step on CPU (benchmarks/onednn_primitives.py: about a
third of its oneDNN time), and TensorFlow's NHWC kernel for them is slower than the one PyTorch reaches through
oneDNN's blocked layout (benchmarks/README.md, "The step's kernels beside PyTorch's"). Each rewrite below computes
the same gradient, dL/dW[i, j, c, o] = sum over (n, y, x) of xp[n, 2y + i, 2x + j, c] * dy[n, y, x, o] (xp: the
input padded by one pixel, kernel 4, stride 2), from other kernels:

- `backprop_filter`: `Conv2DBackpropFilter`, what TensorFlow's gradient of a convolution (and of a transposed one)
  runs;
- `patches`: the 16 taps of every output pixel gathered (`tf.image.extract_patches`), then one matrix product;
- `space_to_depth`: the padded input's four stride phases stacked as channels, so that the gradient becomes a
  stride-1 2x2 convolution's, the 16 taps put back in order afterwards;
- `dilated_forward`: a forward convolution over the batch: the input with its channels as the batch and its batch as
  the channels, the output gradient as a 2-dilated kernel;
- `forward` (not a rewrite): the layer's forward convolution, the same multiply-adds, as the yardstick of the
  fastest kernel this machine runs for that work.

    python -m benchmarks.weight_gradient [--repeats=5] [--steps=30] [--dtype=float32|bfloat16]

Timed: `steps` calls per run at batch 100, the formulations alternated in each repeat, on the conv net's stride-2
layers as oneDNN names them (benchmarks/onednn_primitives.py): the decoder's two transposed convolutions (whose
kernel gradient is the convolution's of 28 -> 14 px, 32 -> 64 channels and of 14 -> 7 px, 64 -> 128) and the
encoder's 14 -> 7 px, 32 -> 64 layer. Each rewrite's largest difference from `backprop_filter` is printed beside its
time (float round-off only; tests/test_benchmark_parsers.py checks the equalities). `--dtype=bfloat16` times every
formulation on bfloat16 tensors, as a mixed_bfloat16 step runs them (oneDNN's bfloat16 kernels where the CPU has
them); the differences are then to the float32 kernel's gradient of the same bfloat16 values. benchmarks/results/
weight_gradient.json keeps every run.
"""
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json

FLAGS = flags.FLAGS
BATCH = 100
KERNEL = 4
STRIDE = 2
# (input side, in channels, out channels): kernel 4, stride 2, padded by one pixel on each side.
LAYERS = ((28, 32, 64), (14, 64, 128), (14, 32, 64))


def pad(x):
    """The input padded by one pixel on each side, as the layers' "same" padding does at kernel 4, stride 2."""
    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])


def backprop_filter(padded, output_gradient):
    return tf.raw_ops.Conv2DBackpropFilter(
        input=padded, filter_sizes=[KERNEL, KERNEL, padded.shape[-1], output_gradient.shape[-1]],
        out_backprop=output_gradient, strides=[1, STRIDE, STRIDE, 1], padding="VALID")


def patches(padded, output_gradient):
    channels, filters = padded.shape[-1], output_gradient.shape[-1]
    taps = tf.image.extract_patches(padded, [1, KERNEL, KERNEL, 1], [1, STRIDE, STRIDE, 1], [1, 1, 1, 1], "VALID")
    gradient = tf.matmul(tf.reshape(taps, [-1, KERNEL * KERNEL * channels]), tf.reshape(output_gradient, [-1, filters]),
                         transpose_a=True)
    return tf.reshape(gradient, [KERNEL, KERNEL, channels, filters])


def space_to_depth(padded, output_gradient):
    # Kernel row i = STRIDE * p + a reads phase a of the input at offset p: a stride-1 kernel of KERNEL / STRIDE taps.
    channels, filters = padded.shape[-1], output_gradient.shape[-1]
    half = KERNEL // STRIDE
    phases = tf.nn.space_to_depth(padded, STRIDE)  # [n, side / 2, side / 2, (a, b, c)]
    gradient = tf.raw_ops.Conv2DBackpropFilter(
        input=phases, filter_sizes=[half, half, STRIDE * STRIDE * channels, filters], out_backprop=output_gradient,
        strides=[1, 1, 1, 1], padding="VALID")  # [p, q, (a, b, c), o]
    gradient = tf.reshape(gradient, [half, half, STRIDE, STRIDE, channels, filters])
    return tf.reshape(tf.transpose(gradient, [0, 2, 1, 3, 4, 5]), [KERNEL, KERNEL, channels, filters])


def dilated_forward(padded, output_gradient):
    by_channel = tf.transpose(padded, [3, 1, 2, 0])  # [c, side, side, n]
    as_kernel = tf.transpose(output_gradient, [1, 2, 0, 3])  # [y, x, n, o]
    gradient = tf.nn.conv2d(by_channel, as_kernel, 1, "VALID", dilations=STRIDE)  # [c, i, j, o]
    return tf.transpose(gradient, [1, 2, 0, 3])


FORMULATIONS = {"backprop_filter": backprop_filter, "patches": patches, "space_to_depth": space_to_depth,
                "dilated_forward": dilated_forward}


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    runs, rows = {}, []
    for side, channels, filters in LAYERS:
        layer = f"{side} -> {side // STRIDE} px, {channels} -> {filters}"
        padded = pad(tf.constant(rng.standard_normal((BATCH, side, side, channels)), FLAGS.dtype))
        output_gradient = tf.constant(rng.standard_normal((BATCH, side // STRIDE, side // STRIDE, filters)), FLAGS.dtype)
        kernel = tf.constant(rng.standard_normal((KERNEL, KERNEL, channels, filters)), FLAGS.dtype)
        calls = {name: tf.function(lambda f=f: f(padded, output_gradient)) for name, f in FORMULATIONS.items()}
        calls["forward"] = tf.function(lambda: tf.nn.conv2d(padded, kernel, STRIDE, "VALID"))
        reference = backprop_filter(tf.cast(padded, tf.float32), tf.cast(output_gradient, tf.float32)).numpy()
        differences = {name: float(np.abs(calls[name]().numpy().astype(np.float32) - reference).max()
                                   / np.abs(reference).max()) for name in FORMULATIONS}
        times = {name: [] for name in calls}
        for _ in range(FLAGS.repeats):
            for name, call in calls.items():
                call().numpy()  # warm
                started = time.perf_counter()
                for _ in range(FLAGS.steps):
                    result = call()
                result.numpy()
                times[name].append((time.perf_counter() - started) / FLAGS.steps * 1000)
        runs[layer] = times
        baseline = np.median(times["backprop_filter"])
        for name, values in times.items():
            ratios = [value / base for value, base in zip(values, times["backprop_filter"])]
            median, low, high = median_and_spread(values)
            rows.append({"layer": layer, "formulation": name, "ms/call, median (range)": f"{median:.2f} ({low:.2f}-{high:.2f})",
                         "vs backprop_filter": f"{np.median(ratios):.2f}x",
                         "relative difference": f"{differences[name]:.1e}" if name in differences else "-"})
        print(f"{layer}: backprop_filter {baseline:.2f} ms", flush=True)
    print_table(f"A stride-2 convolution's kernel gradient at batch {BATCH}, {FLAGS.dtype} ({FLAGS.repeats} runs of {FLAGS.steps} "
                "calls, alternated; time ratio: median of the per-run ratios)", rows,
                ["layer", "formulation", "ms/call, median (range)", "vs backprop_filter", "relative difference"])
    print("\nwrote", write_json("weight_gradient", {"settings": {"repeats": FLAGS.repeats, "steps": FLAGS.steps,
                                                                 "dtype": FLAGS.dtype},
                                                    "runs_ms": runs, "rows": rows}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("repeats", 5, "Runs of each formulation, alternated.")
    flags.DEFINE_integer("steps", 30, "Calls per run.")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Dtype of the tensors (bfloat16: as a "
                      "mixed_bfloat16 step runs the layers).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
