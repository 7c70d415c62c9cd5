"""Configuration files for `tensorflow_model_server`: a models.config for several models and versions, and a
batching parameters file tuned for the `sample` endpoint.

    python -m serving.config --export_base=BASE [--models=a,b] [--versions=latest|all|1,3]
        [--server_base=/models] [--output_dir=BASE]

writes OUTPUT_DIR/models.config and OUTPUT_DIR/batching_parameters.txt; then

    tensorflow_model_server --model_config_file=BASE/models.config --enable_batching \
        --batching_parameters_file=BASE/batching_parameters.txt --port=8500 --rest_api_port=8501

(`serving.dev_server` reads the same models.config; it ignores the batching file.)
"""
import os

import tensorflow as tf
from absl import app, flags
from google.protobuf import text_format

from tfvae.export.saved_model import DEFAULT_MAX_BATCH_SIZE
from serving.model_manager import available_versions
from tfvae import files
from tfvae.files import atomic_write

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"

# Why these values (CPU serving of the `sample` endpoint; benchmarks/serving.py measures samples per second per batch
# size): a `sample` call costs a fixed overhead plus a per-row cost, and rows per second stop growing past a few
# hundred rows, so merged batches up to 256 rows buy throughput while a 16-sample request waits at most 2 ms for
# company. allowed_batch_sizes bound the number of distinct shapes the server warms and runs; every endpoint answers
# row by row (tfvae/export/saved_model.py), so padding rows, which the server drops, never change a client's answers,
# and requests to the path and score endpoints batch like those to `sample`. The queue is
# bounded so an overloaded server answers UNAVAILABLE quickly instead of queueing without limit.
BATCHING_DEFAULTS = {
    "max_batch_size": 256,
    "batch_timeout_micros": 2000,
    "max_enqueued_batches": 64,
    "num_batch_threads": os.cpu_count() or 1,
    "allowed_batch_sizes": (16, 32, 64, 128, 256),
}


def discover_models(export_base):
    """{model name: [versions]} for every folder of `export_base` that holds integer SavedModel versions."""
    if not tf.io.gfile.isdir(export_base):
        raise FileNotFoundError(f"No export base folder at {export_base}: expected BASE/MODEL_NAME/VERSION "
                                f"folders written by python -m export.export_saved_model. Received: {export_base}")
    models = {name: available_versions(os.path.join(export_base, name)) for name in files.listdir(export_base)}
    return {name: versions for name, versions in models.items() if versions}


def model_server_config(models):
    """Text-format ModelServerConfig.

    Args:
        models: list of dicts {"name": str, "base_path": str, "versions": "latest" | "all" | [int, ...]}.
            "latest" serves the newest version and moves on as new ones are exported (TF Serving's default);
            a list pins exactly those versions.
    """
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    for model in models:
        entry = config.model_config_list.config.add()
        entry.name = model["name"]
        entry.base_path = model["base_path"]
        entry.model_platform = "tensorflow"
        versions = model.get("versions", "latest")
        if versions == "all":
            entry.model_version_policy.all.SetInParent()
        elif versions == "latest":
            entry.model_version_policy.latest.num_versions = 1
        else:
            if not versions or any(int(v) < 1 for v in versions):
                raise ValueError(f"Model {model['name']!r}: versions must be 'latest', 'all' or positive integers. "
                                 f"Received: {versions!r}")
            entry.model_version_policy.specific.versions.extend(int(v) for v in versions)
    return text_format.MessageToString(config)


def batching_parameters(max_batch_size=BATCHING_DEFAULTS["max_batch_size"],
                        batch_timeout_micros=BATCHING_DEFAULTS["batch_timeout_micros"],
                        max_enqueued_batches=BATCHING_DEFAULTS["max_enqueued_batches"],
                        num_batch_threads=BATCHING_DEFAULTS["num_batch_threads"],
                        allowed_batch_sizes=BATCHING_DEFAULTS["allowed_batch_sizes"],
                        export_max_batch_size=DEFAULT_MAX_BATCH_SIZE):
    """Text-format BatchingParameters for `--batching_parameters_file`.

    A merged batch must never exceed the rows an export accepts (its INVALID_ARGUMENT bound), or every request in
    that batch would fail; TF Serving also requires the last allowed batch size to equal max_batch_size.
    """
    sizes = [int(s) for s in allowed_batch_sizes]
    if not 1 <= max_batch_size <= export_max_batch_size:
        raise ValueError(f"max_batch_size must be in [1, {export_max_batch_size}] (the export's row limit). "
                         f"Received: {max_batch_size}")
    if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != max_batch_size or sizes[0] < 1):
        raise ValueError(f"allowed_batch_sizes must be increasing positive integers ending at max_batch_size "
                         f"{max_batch_size}. Received: {sizes}")
    for name, value in (("batch_timeout_micros", batch_timeout_micros), ("max_enqueued_batches", max_enqueued_batches),
                        ("num_batch_threads", num_batch_threads)):
        if value < (0 if name == "batch_timeout_micros" else 1):
            raise ValueError(f"{name} must be {'non-negative' if name == 'batch_timeout_micros' else 'positive'}. "
                             f"Received: {value}")
    lines = [f"max_batch_size {{ value: {int(max_batch_size)} }}",
             f"batch_timeout_micros {{ value: {int(batch_timeout_micros)} }}",
             f"max_enqueued_batches {{ value: {int(max_enqueued_batches)} }}",
             f"num_batch_threads {{ value: {int(num_batch_threads)} }}"]
    lines += [f"allowed_batch_sizes: {size}" for size in sizes]
    return "\n".join(lines) + "\n"


def write_configs(export_base, output_dir=None, models=None, versions="latest", server_base=None, **batching):
    """Writes models.config and batching_parameters.txt for the models under `export_base`; returns both paths.

    Args:
        export_base: str. BASE holding BASE/MODEL_NAME/VERSION exports.
        output_dir: str or None. Where to write (default: `export_base`).
        models: list of str or None. Model names (default: every model found).
        versions: "latest", "all" or a list of ints, for every model.
        server_base: str or None. BASE as the server sees it (e.g. /models inside the tensorflow/serving container);
            default: the absolute `export_base`.
        **batching: overrides of `batching_parameters` arguments.
    """
    found = discover_models(export_base)
    names = list(models) if models else sorted(found)
    unknown = sorted(set(names) - set(found))
    if not names or unknown:
        raise ValueError(f"Models {unknown or names} have no exported versions under {export_base}; found "
                         f"{found}. Received: models={names}")
    if isinstance(versions, (list, tuple)):
        for name in names:
            missing = sorted(set(int(v) for v in versions) - set(found[name]))
            if missing:
                raise ValueError(f"Model {name!r} has no versions {missing} under {export_base}; it has "
                                 f"{found[name]}. Received: versions={list(versions)}")
    server_base = server_base or files.absolute(export_base)
    text = model_server_config([{"name": n, "base_path": f"{server_base.rstrip('/')}/{n}", "versions": versions}
                                for n in names])
    output_dir = output_dir or export_base
    paths = (os.path.join(output_dir, MODELS_CONFIG), os.path.join(output_dir, BATCHING_PARAMETERS))
    # A server started with --model_config_file_poll_wait_seconds re-reads models.config while it runs: it must
    # never read a half-written file.
    for path, content in zip(paths, (text, batching_parameters(**batching))):
        atomic_write(path, content)
    return paths


def define_flags():
    """Defines the binary's flags (only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("export_base", None, "BASE folder of BASE/MODEL_NAME/VERSION exports.", required=True)
    flags.DEFINE_list("models", None, "Model names to serve (default: every model under --export_base).")
    flags.DEFINE_list("versions", ["latest"], "latest, all, or a list of version numbers served for every model.")
    flags.DEFINE_string("server_base", None,
                        "BASE as the server sees it (/models in the tensorflow/serving container).")
    flags.DEFINE_string("output_dir", None, "Where to write the files (default: --export_base).")
    flags.DEFINE_integer("max_batch_size", BATCHING_DEFAULTS["max_batch_size"], "Largest merged batch.")
    flags.DEFINE_integer("batch_timeout_micros", BATCHING_DEFAULTS["batch_timeout_micros"],
                         "Longest wait for a batch to fill.")
    flags.DEFINE_integer("num_batch_threads", BATCHING_DEFAULTS["num_batch_threads"], "Batches run at the same time.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    try:
        versions = f.versions[0] if f.versions in (["latest"], ["all"]) else [int(v) for v in f.versions]
    except ValueError:
        raise app.UsageError(f"--versions must be latest, all or version numbers. Received: {f.versions}") from None
    sizes = [s for s in BATCHING_DEFAULTS["allowed_batch_sizes"] if s < f.max_batch_size] + [f.max_batch_size]
    for path in write_configs(f.export_base, f.output_dir, f.models, versions, f.server_base,
                              max_batch_size=f.max_batch_size, batch_timeout_micros=f.batch_timeout_micros,
                              num_batch_threads=f.num_batch_threads, allowed_batch_sizes=sizes):
        print(path)


if __name__ == "__main__":
    define_flags()
    app.run(main)
