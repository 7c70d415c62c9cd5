"""Where oneDNN spends a training step: each primitive it executes, timed by oneDNN itself (ONEDNN_VERBOSE=1).

TensorFlow's profiler names ops (Conv2DBackpropFilter, ...); oneDNN's verbose log names the kernel behind each call
(brgemm or older jit code, the blocked weight layout it reorders to), its shapes and its wall time. That is what
showed the conv net's one-channel output layer taking as long as a stride-2 layer with 16 times its FLOPs
(tfvae/networks/shift_add.py).

    python -m benchmarks.onednn_primitives [--model=vae] [--steps=20] [--keras_conv_transpose]
        [--framework=tensorflow|pytorch] [--inter_op_threads=1] [--mixed_precision=float32]

`--keras_conv_transpose` runs the decoder's one-channel output layer on Keras' kernel, as before the shift-add.
`--framework=pytorch` logs the step of our plain PyTorch loop (benchmarks/torch_reference.py, the same network),
whose oneDNN is PyTorch's own build: the two frameworks' kernels side by side. `--mixed_precision` sets tfvae's dtype
policy (`tfvae.precision`; a bfloat16 step runs oneDNN's bfloat16 kernels where the CPU has them).

A child process (oneDNN reads the variable when it loads) builds the model of `train_throughput` (conv net, batch
100, 16 latents), runs warm-up steps, then `steps` steps with the log on; the first table sums each primitive's time
per step, largest first, the second each pass (convolutions forward, backward-data and backward-weights, reorders of
activations and of weights, batch norm, ...). The log costs time itself, so compare rows, not the total with a
step's wall time. TensorFlow runs independent ops at once on its inter-op pool, and calls that overlap each count
their whole wall time; `--inter_op_threads=1` runs one op at a time, as PyTorch's step does, so that each call's
time is its own. benchmarks/results/onednn_primitives[_pytorch].json keeps the tables.
"""
import collections
import os
import subprocess
import sys

from absl import app, flags

from benchmarks.common import print_table, write_json

FLAGS = flags.FLAGS
BATCH = 100
WARM_UP = 10
_MARK = "tfvae-steps-start"


def _run_steps():
    if FLAGS.framework == "pytorch":
        _run_pytorch_steps()
        return
    import keras
    import numpy as np
    import tensorflow as tf

    from tfvae import models, precision
    from tfvae.networks import shift_add

    if FLAGS.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    if FLAGS.keras_conv_transpose:
        shift_add.MAX_SHIFT_ADD_FILTERS = 0  # no layer qualifies: Keras' code runs
    with precision.policy_scope(FLAGS.mixed_precision):
        model = models.build(FLAGS.model, (28, 28, 1), latent_dim=16, network="conv")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_for()
    step = tf.function(model.replica_step)
    x = tf.constant(np.random.default_rng(0).random((BATCH, 28, 28, 1), dtype=np.float32))
    for _ in range(WARM_UP):
        float(step(x)["loss"])
    print(_MARK, flush=True)
    for _ in range(FLAGS.steps):
        float(step(x)["loss"])
    sys.stdout.flush()


def _run_pytorch_steps():
    import torch

    from benchmarks import torch_reference

    step = torch_reference.make_step(FLAGS.model)
    x = torch.rand(BATCH, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for _ in range(WARM_UP):
        float(step(x))
    print(_MARK, flush=True)
    for _ in range(FLAGS.steps):
        float(step(x))
    sys.stdout.flush()


# A transposed convolution is a convolution's backward-data pass run forward (and the reverse): TensorFlow logs the
# decoder's layers as convolutions, PyTorch as deconvolutions. The summary names both in convolution terms.
_DECONVOLUTION_AS_CONVOLUTION = {"forward_training": "backward_data", "backward_data": "forward_training",
                                 "backward_weights": "backward_weights"}


def by_pass(totals, batch=BATCH):
    """{pass: ms per step} from `parse`'s totals: convolutions (transposed ones included, in convolution terms) by
    direction, reorders of activations (shapes that start with the batch size) apart from the rest (weights), and the
    other primitives by kind and direction."""
    passes = collections.Counter()
    for (kind, _, direction, shapes), (_, ms) in totals.items():
        if kind == "deconvolution":
            kind, direction = "convolution", _DECONVOLUTION_AS_CONVOLUTION.get(direction, direction)
        if kind == "reorder":
            name = "reorder, activations" if shapes.split("x")[0] == str(batch) else "reorder, weights"
        else:
            name = kind if direction == "undef" else f"{kind} {direction}"
        passes[name] += ms
    return dict(passes)


def parse(log, steps):
    """{(kind, implementation, direction, shapes): [calls per step, ms per step]} from oneDNN's exec lines after the
    mark. A line reads onednn_verbose,[timestamp,]v1,primitive,exec,cpu,KIND,IMPL,DIRECTION,FORMATS,...,SHAPES,MS."""
    if _MARK not in log:
        raise RuntimeError("The child printed no start mark: did it fail? Its output ends with:\n" + log[-2000:])
    totals = collections.defaultdict(lambda: [0.0, 0.0])
    for line in log.split(_MARK, 1)[1].splitlines():
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields:
            continue
        at = fields.index("exec")
        key = (fields[at + 2], fields[at + 3], fields[at + 4], fields[-2])
        totals[key][0] += 1 / steps
        totals[key][1] += float(fields[-1]) / steps
    if not totals:
        raise RuntimeError("oneDNN logged no primitive: is TensorFlow's oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)?")
    return dict(totals)


def main(argv):
    del argv
    if FLAGS.child:
        _run_steps()
        return
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if FLAGS.framework == "pytorch" and (FLAGS.keras_conv_transpose or FLAGS.inter_op_threads
                                         or FLAGS.mixed_precision != "float32"):
        raise app.UsageError("--keras_conv_transpose, --inter_op_threads and --mixed_precision change TensorFlow's "
                             "step only: leave them out with --framework=pytorch")
    result = subprocess.run([sys.executable, "-m", "benchmarks.onednn_primitives", "--child",
                             f"--model={FLAGS.model}", f"--steps={FLAGS.steps}", f"--framework={FLAGS.framework}",
                             f"--inter_op_threads={FLAGS.inter_op_threads}",
                             f"--keras_conv_transpose={FLAGS.keras_conv_transpose}",
                             f"--mixed_precision={FLAGS.mixed_precision}"], env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"The child failed (exit {result.returncode}): {result.stderr[-2000:]}")
    totals = parse(result.stdout, FLAGS.steps)
    total_ms = sum(ms for _, ms in totals.values())
    rows = [{"primitive": kind, "implementation": implementation, "direction": direction, "shapes": shapes,
             "calls/step": round(calls, 2), "ms/step": ms, "share": f"{ms / total_ms:.1%}"}
            for (kind, implementation, direction, shapes), (calls, ms) in
            sorted(totals.items(), key=lambda item: -item[1][1])]
    if FLAGS.framework == "pytorch":
        side = "our PyTorch loop"
    else:
        side = "Keras' output layer" if FLAGS.keras_conv_transpose else "shift-add output layer"
        if FLAGS.inter_op_threads:
            side += f", {FLAGS.inter_op_threads} inter-op thread(s)"
        side += f", {FLAGS.mixed_precision}"
    print_table(f"oneDNN primitives of the {FLAGS.model} step ({side}, batch {BATCH}, {FLAGS.steps} steps; "
                f"{total_ms:.1f} ms per step in oneDNN, as logged)", rows[:FLAGS.top],
                ["primitive", "implementation", "direction", "shapes", "calls/step", "ms/step", "share"])
    passes = [{"pass": name, "ms/step": ms, "share": f"{ms / total_ms:.1%}"}
              for name, ms in sorted(by_pass(totals).items(), key=lambda item: -item[1])]
    print_table("The same by pass (transposed convolutions in convolution terms)", passes, ["pass", "ms/step", "share"])
    name = "onednn_primitives" + ("_pytorch" if FLAGS.framework == "pytorch" else "")
    print("\nwrote", write_json(name, {
        "settings": {"model": FLAGS.model, "steps": FLAGS.steps, "framework": FLAGS.framework,
                     "inter_op_threads": FLAGS.inter_op_threads, "keras_conv_transpose": FLAGS.keras_conv_transpose,
                     "mixed_precision": FLAGS.mixed_precision},
        "total_ms_per_step": total_ms, "rows": rows, "passes": passes}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_string("model", "vae", "Model whose step to log (vae or rae_l2).")
    flags.DEFINE_integer("steps", 20, "Steps logged after the warm-up.")
    flags.DEFINE_integer("top", 25, "Primitives shown.")
    flags.DEFINE_boolean("keras_conv_transpose", False, "The one-channel output layer on Keras' transposed-convolution "
                         "kernel instead of the shift-add.")
    flags.DEFINE_enum("framework", "tensorflow", ["tensorflow", "pytorch"], "Whose step to log: tfvae's "
                      "(tensorflow) or our plain PyTorch loop's (pytorch, benchmarks/torch_reference.py).")
    flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow's inter-op threads (0: its default); 1 runs one op at a "
                         "time, so that each call's logged time is its own.", lower_bound=0)
    flags.DEFINE_enum("mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Dtype policy of tfvae's step (tfvae.precision.POLICIES).")
    flags.DEFINE_boolean("child", False, "Internal: run the steps in this process.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
