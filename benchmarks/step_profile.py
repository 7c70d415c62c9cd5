"""Where one training step's time goes: TensorFlow's op profile of a model's step (the conv net of the throughput
benchmark, batch 100, 16 latents, Fashion-MNIST-shaped inputs), beside PyTorch's profile of the same step in our
plain loop (benchmarks/torch_reference.py) when torch is installed.

    python -m benchmarks.step_profile [--model=vae] [--steps=20] [--top=15] [--mixed_precision=float32]

Each side: warm-up steps, then the mean wall time of `steps` steps, then a profiled pass of `steps` steps whose op
self-times (summed over the threads, so they add up to more than the wall time on 2 cores) are grouped by op type.
TensorFlow's side reads the profiler's trace with the converter TensorBoard's profile plugin uses
(`_pywrap_profiler_plugin`, a TensorFlow-internal module: this benchmark may need a change on another TensorFlow
minor). `--mixed_precision` sets tfvae's side's dtype policy (`tfvae.precision`; the PyTorch side stays float32).
benchmarks/results/step_profile.json keeps both tables.
"""
import collections
import glob
import importlib.util
import json
import tempfile
import time

import numpy as np
from absl import app, flags

from benchmarks.common import print_table, write_json
from tfvae import precision

flags.DEFINE_string("model", "vae", "Model whose step to profile (vae or rae_l2).")
flags.DEFINE_integer("steps", 20, "Steps timed and profiled on each side.")
flags.DEFINE_integer("top", 15, "Op types shown per side.")
flags.DEFINE_enum("mixed_precision", "float32", list(precision.POLICIES),
                  "Dtype policy of tfvae's side (tfvae.precision).")
FLAGS = flags.FLAGS
BATCH = 100


def _tensorflow_profile(images):
    import keras
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    from tfvae import models

    with precision.policy_scope(FLAGS.mixed_precision):
        model = models.build(FLAGS.model, (28, 28, 1), latent_dim=16, network="conv")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_for()
    step = tf.function(model.replica_step)
    x = tf.constant(images)
    for _ in range(5):
        step(x)
    started = time.perf_counter()
    for _ in range(FLAGS.steps):
        float(step(x)["loss"])
    wall_ms = (time.perf_counter() - started) / FLAGS.steps * 1000
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(FLAGS.steps):
            float(step(x)["loss"])
        tf.profiler.experimental.stop()
        paths = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
        raw = _pywrap_profiler_plugin.xspace_to_tools_data(paths, "framework_op_stats", {})
    table = json.loads(raw[0] if isinstance(raw, tuple) else raw)[0]
    columns = [column["id"] for column in table["cols"]]
    self_us = collections.Counter()
    for row in table["rows"]:
        record = dict(zip(columns, [cell.get("v") for cell in row["c"]]))
        if record["type"] != "IDLE":
            self_us[record["type"]] += record["total_self_time"]
    return wall_ms, {name: us / 1000 / FLAGS.steps for name, us in self_us.items()}


def _torch_profile(images):
    import torch
    from torch.profiler import ProfilerActivity, profile

    from benchmarks import torch_reference

    step = torch_reference.make_step(FLAGS.model)
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))))
    for _ in range(5):
        step(x)
    started = time.perf_counter()
    for _ in range(FLAGS.steps):
        float(step(x).detach())
    wall_ms = (time.perf_counter() - started) / FLAGS.steps * 1000
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(FLAGS.steps):
            float(step(x).detach())
    return wall_ms, {event.key: event.self_cpu_time_total / 1000 / FLAGS.steps
                     for event in profiler.key_averages() if event.self_cpu_time_total > 0}


def _rows(side, wall_ms, self_ms):
    total = sum(self_ms.values())
    rows = [{"side": side, "op type": name, "self ms/step": ms, "share": ms / total}
            for name, ms in sorted(self_ms.items(), key=lambda item: -item[1])[:FLAGS.top]]
    rows.append({"side": side, "op type": "(all ops)", "self ms/step": total, "share": 1.0})
    rows.append({"side": side, "op type": "(wall time of a step)", "self ms/step": wall_ms})
    return rows


def main(argv):
    del argv
    if FLAGS.model not in ("vae", "rae_l2"):
        raise ValueError(f"--model must be vae or rae_l2. Received: {FLAGS.model!r}")
    images = np.random.RandomState(0).rand(BATCH, 28, 28, 1).astype(np.float32)
    sides = {"tensorflow": _tensorflow_profile(images)}
    if importlib.util.find_spec("torch") is None:
        print("torch is not installed: TensorFlow's side only (pip install -e \".[bench]\" -c constraints.txt)")
    else:
        sides["pytorch"] = _torch_profile(images)
    rows = [row for side, (wall_ms, self_ms) in sides.items() for row in _rows(side, wall_ms, self_ms)]
    print_table(f"One {FLAGS.model} training step (conv net, batch {BATCH}, tfvae in {FLAGS.mixed_precision}): op "
                "self-time summed over threads",
                rows, ["side", "op type", "self ms/step", "share"])
    print("\nwrote", write_json("step_profile", {"settings": {"model": FLAGS.model, "steps": FLAGS.steps,
                                                               "mixed_precision": FLAGS.mixed_precision},
                                                  "rows": rows}))


if __name__ == "__main__":
    app.run(main)
