"""Every model with every prior it takes, through the training binary on a Fashion-MNIST subset.

The tests train every model through the main job's code on digits (and one configuration per convolutional network
on Fashion-MNIST); this runs the whole zoo as a user would, one `python -m trainers.train` process per
configuration on real images: training, the ex-post densities, the SavedModel export and the sample grid drawn
through the exported endpoint.

    python -m benchmarks.model_zoo [--examples=1000] [--validation_examples=1000] [--epochs=3] [--network=conv]
        [--models=all] [--priors=standard,decoupled] [--data_dir=/usr/share/datasets/fashion-mnist]
        [--workdir=TEMPORARY]

Each configuration runs the CPU-scale `conv` net by default (`--network=` for the job's own default for the data,
the RAE paper's net at 32 px, much slower on CPU), the job's other defaults for the data (latent size, likelihood:
`trainers/config.py`) and the model's own defaults; the decoupled prior runs for the models that take it
(`supports_learned_prior`). The table gives per configuration the wall time of its process, the last epoch's
training and validation loss, the export's default sampler and the spread of the sample grid's pixels (a grid of one
colour would be 0).
benchmarks/results/model_zoo.json keeps it. Exits non-zero when a configuration fails.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from benchmarks.common import print_table, write_json

FLAGS = flags.FLAGS


def _configurations():
    from tfvae import registry

    names = registry.names("model") if FLAGS.models == ["all"] else FLAGS.models
    for name in names:
        model_class = registry.get("model", name)
        for prior in FLAGS.priors:
            registry.get("prior", prior)
            if prior == "standard" or model_class.supports_learned_prior:
                yield name, prior


def _run(model, prior, workdir):
    command = [sys.executable, "-m", "trainers.train", f"--workdir={workdir}", f"--model={model}", f"--prior={prior}",
               "--dataset=fashion_mnist", f"--data_dir={FLAGS.data_dir}", f"--max_train_examples={FLAGS.examples}",
               f"--max_validation_examples={FLAGS.validation_examples}", f"--epochs={FLAGS.epochs}"]
    if FLAGS.network:
        command.append(f"--network={FLAGS.network}")
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    row = {"model": model, "prior": prior, "seconds": time.perf_counter() - started}
    if result.returncode:
        errors = [line for line in result.stderr.splitlines() if "rror" in line] or result.stderr.splitlines()[-1:]
        return {**row, "status": f"failed (exit {result.returncode}): {errors[-1][:200] if errors else ''}"}
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(workdir, "logs", "history.jsonl")) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    export = os.path.join(workdir, "export", model)
    version = max(os.listdir(export), key=int)
    with open(os.path.join(export, version, "assets.extra", "tfvae_metadata.json")) as f:
        sampler = json.load(f)["default_sampler"]
    return {**row, "status": "ok", "network": config["network"], "latents": config["latent_dim"],
            "train loss": last["train/loss"], "validation loss": last["validation/loss"], "sampler": sampler,
            "grid pixel std": _grid_spread(os.path.join(workdir, "samples.png"))}


def _grid_spread(path):
    import tensorflow as tf

    return float(np.std(tf.io.decode_png(tf.io.read_file(path)).numpy() / 255.0))


def main(argv):
    del argv
    if not os.path.isfile(os.path.join(FLAGS.data_dir, "train-images-idx3-ubyte.gz")):
        raise app.UsageError(f"Fashion-MNIST is not in --data_dir={FLAGS.data_dir}: `apt-get install -y "
                             f"dataset-fashion-mnist` or point --data_dir at the IDX files.")
    configurations = list(_configurations())
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        base = FLAGS.workdir or temporary
        for index, (model, prior) in enumerate(configurations, start=1):
            row = _run(model, prior, os.path.join(base, f"{model}-{prior}"))
            rows.append(row)
            print(f"[{index}/{len(configurations)}] {model} {prior}: {row['status']} ({row['seconds']:.0f} s)",
                  flush=True)
    print_table(f"Every model through `python -m trainers.train` on {FLAGS.examples} Fashion-MNIST images "
                f"({FLAGS.validation_examples} for validation), {FLAGS.epochs} epochs", rows,
                ["model", "prior", "network", "latents", "seconds", "train loss", "validation loss", "sampler",
                 "grid pixel std", "status"])
    settings = {"examples": FLAGS.examples, "validation_examples": FLAGS.validation_examples,
                "epochs": FLAGS.epochs, "network": FLAGS.network or "(the job's default)"}
    print("\nwrote", write_json("model_zoo", {"settings": settings, "rows": rows}))
    failed = [f"{row['model']}/{row['prior']}" for row in rows if row["status"] != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} configurations failed: {', '.join(failed)}")


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("examples", 1000, "Training images (the first of the training split).")
    flags.DEFINE_integer("validation_examples", 1000, "Validation images (the first of the validation split).")
    flags.DEFINE_integer("epochs", 3, "Epochs per configuration.")
    flags.DEFINE_string("network", "conv", "Network of every configuration; empty for the job's default for the data.")
    flags.DEFINE_list("models", ["all"], "Models to run (registered names), or all.")
    flags.DEFINE_list("priors", ["standard", "decoupled"], "Priors to run; decoupled only for the models that take it.")
    flags.DEFINE_string("data_dir", "/usr/share/datasets/fashion-mnist", "Folder of the Fashion-MNIST IDX files.")
    flags.DEFINE_string("workdir", None, "Where the runs' workdirs go (default: a temporary folder, removed after).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
