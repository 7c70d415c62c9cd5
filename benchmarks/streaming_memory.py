"""Memory of the main job on a streamed data set: peak resident memory is flat in the data set's size.

    python -m benchmarks.streaming_memory [--sizes=10000,200000] [--image_size=64] [--epochs=1] [--network=mlp]

For each size N, writes N synthetic 64x64x3 images as TFRecord files of PNGs (`tfrecord:` layout, training files
only, so validation and test are held out by hash; --examples_per_file images per file, generated and written one
file at a time, so the writer stays flat too) into a temporary folder, runs the main job on it in a fresh child
process (`python -m trainers.train --dataset=tfrecord:DIR/*.tfrecord`: loading pass, training, validation, the
Gaussian and GMM densities fitted on the training latents, export, sample grid) and reads the child's peak resident
set size from `os.wait4` (the kernel's ru_maxrss of that child alone). The folder is deleted afterwards. Target: the
largest size's peak within 10% of the smallest's. What grows with N is the [N, latent_dim] latents the densities are
fitted on (200k x 16 float32: 13 MB, plus scikit-learn's float64 work arrays for the GMM).

The images are smooth random colour fields (8x8 random colours resized bilinearly to 64x64), about 3 KB each as PNG.
Reference: docs/training.md, "Streaming data sets: memory".
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import child_environment, print_table, write_json
from tfvae.data import write_image_tfrecord

FLAGS = flags.FLAGS
# Target of the benchmark: the largest size's peak at most this much above the smallest's.
TOLERANCE = 0.10


def _images(count, size, seed):
    """`count` smooth random RGB images [count, size, size, 3] uint8 (one file's worth)."""
    colours = np.random.default_rng(seed).integers(0, 256, (count, 8, 8, 3)).astype(np.float32)
    return tf.cast(tf.round(tf.image.resize(colours, (size, size))), tf.uint8).numpy()


def write_data_set(directory, count, size, per_file):
    """Writes `count` images into DIRECTORY/train-KKKKK.tfrecord, `per_file` to a file; returns (files, bytes)."""
    os.makedirs(directory)
    files = 0
    for start in range(0, count, per_file):
        path = os.path.join(directory, f"train-{files:05d}.tfrecord")
        write_image_tfrecord(path, _images(min(per_file, count - start), size, seed=files))
        files += 1
    written = sum(os.path.getsize(os.path.join(directory, name)) for name in os.listdir(directory))
    return files, written


def run_main_job(data_dir, workdir):
    """Runs trainers.train on DATA_DIR in a child process; returns (seconds, peak RSS in MiB, exit status)."""
    arguments = [sys.executable, "-m", "trainers.train", f"--dataset=tfrecord:{data_dir}/*.tfrecord",
                 f"--network={FLAGS.network}", f"--model={FLAGS.model}", f"--epochs={FLAGS.epochs}",
                 f"--workdir={workdir}"]
    started = time.perf_counter()
    process = subprocess.Popen(arguments, env=child_environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"`{' '.join(arguments)}` failed (exit {process.returncode}): {stderr[-3000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024  # Linux reports ru_maxrss in KiB


def main(argv):
    del argv
    sizes = [int(size) for size in FLAGS.sizes]
    root = tempfile.mkdtemp(prefix="tfvae-streaming-memory-", dir=FLAGS.tmp_dir)
    rows = []
    try:
        for size in sizes:
            data_dir = os.path.join(root, f"data-{size}")
            started = time.perf_counter()
            files, written = write_data_set(data_dir, size, FLAGS.image_size, FLAGS.examples_per_file)
            write_seconds = time.perf_counter() - started
            seconds, peak = run_main_job(data_dir, os.path.join(root, f"run-{size}"))
            rows.append({"images": size, "files": files, "data MB": written / 2**20,
                         "write s": write_seconds, "main job s": seconds, "peak RSS MiB": peak})
            print(f"{size} images: wrote {files} files ({written / 2**20:.0f} MB) in {write_seconds:.0f} s; main job "
                  f"{seconds:.0f} s, peak RSS {peak:.0f} MiB", flush=True)
            shutil.rmtree(data_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    reference = rows[0]["peak RSS MiB"]
    for row in rows:
        row["vs first"] = row["peak RSS MiB"] / reference
    print_table(f"Main job ({FLAGS.model}, {FLAGS.network}, {FLAGS.epochs} epoch(s), densities gaussian + gmm) on "
                f"{FLAGS.image_size}x{FLAGS.image_size}x3 TFRecords", rows,
                ["images", "files", "data MB", "write s", "main job s", "peak RSS MiB", "vs first"])
    within = rows[-1]["vs first"] <= 1 + TOLERANCE
    print(f"\ntarget (largest within {TOLERANCE:.0%} of the smallest): {'met' if within else 'missed'}")
    print("wrote", write_json("streaming_memory", {
        "settings": {"sizes": sizes, "image_size": FLAGS.image_size, "examples_per_file": FLAGS.examples_per_file,
                     "epochs": FLAGS.epochs, "network": FLAGS.network, "model": FLAGS.model},
        "writer_peak_rss_mib": _own_peak(), "rows": rows, "target_met": within}))


def _own_peak():
    """This process's peak RSS in MiB (the writer's: it generates and writes every data set)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_list("sizes", ["10000", "200000"], "Data set sizes (images) to compare; the first is the reference.")
    flags.DEFINE_integer("image_size", 64, "Height and width of the synthetic RGB images.")
    flags.DEFINE_integer("examples_per_file", 1000, "Images per TFRecord file.")
    flags.DEFINE_integer("epochs", 1, "Training epochs of each main job.")
    flags.DEFINE_string("network", "mlp", "Network of the main job (mlp: the cheapest at 64 px on a CPU).")
    flags.DEFINE_string("model", "rae_l2", "Model of the main job.")
    flags.DEFINE_string("tmp_dir", None, "Folder for the temporary data and workdirs (default: the system's).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
