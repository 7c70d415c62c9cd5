"""Exports a trained workdir as a SavedModel in the TF Serving layout, or as a TensorFlow Lite model for devices.

    python -m export.export_saved_model --workdir=DIR [--export_base=DIR/export] [--samplers=gmm,gaussian]
        [--checkpoint=PATH]
    python -m export.export_saved_model --workdir=DIR --format=tflite [--tflite_path=DIR/tflite/MODEL.tflite]
        [--samplers=gmm] [--checkpoint=PATH]

`--format=saved_model` (default) writes EXPORT_BASE/MODEL/VERSION (next integer version, written atomically).
Reference: a few seconds for digits. `--format=tflite` writes MODEL.tflite (signatures sample, sample_<sampler>,
decode; builtin TFLite ops only) and MODEL.json beside it, after checking that the TFLite interpreter gives the
numbers TensorFlow gives for a few seeds (docs/tflite.md). Reference: 8-10 s of conversion for a small model with
two samplers on 2 CPU cores, a few seconds more per further sampler.
"""
import json
import os

from absl import app, flags

from tfvae import workdir as workdirs
from tfvae.export import tflite
from trainers import binary
from trainers import flags as tfvae_flags
from trainers import jobs

flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"],
                  "saved_model: a SavedModel version for TF Serving; tflite: a TensorFlow Lite model of the samplers "
                  "and the decoder, for devices.")
flags.DEFINE_string("export_base", None, "TF Serving base folder (default: the run's, WORKDIR/export).")
flags.DEFINE_string("tflite_path", None, "The TFLite model to write with --format=tflite (default: "
                                         "WORKDIR/tflite/MODEL.tflite; its metadata goes to MODEL.json beside it).")
flags.DEFINE_list("samplers", None, "Samplers to bundle besides the prior (default: every fitted density).")
flags.DEFINE_string("checkpoint", None, "Checkpoint path (default: the latest of the workdir).")


@workdirs.holding
def export_tflite(workdir, path=None, samplers=None, checkpoint=None):
    """Writes the workdir's model with its samplers as a TFLite model (`tfvae.export.tflite`); returns its path.

    The default sampler is the run's (`default_sampler` of its config) when bundled, else the prior, as in the
    SavedModel export (`trainers.jobs.export`)."""
    config, _, model = jobs.load_run(workdir, checkpoint)
    bundled = jobs.load_samplers(workdir, model, samplers)
    default = config.default_sampler if config.default_sampler in bundled else "prior"
    metadata = {"dataset": config.dataset, "training_config": json.loads(config.to_json())}
    path = path or os.path.join(workdir, "tflite", f"{config.model}.tflite")
    return tflite.export_tflite(model, bundled, default, path, metadata=metadata)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if f.format == "tflite":
        if f.export_base is not None:
            raise app.UsageError(f"--export_base is the SavedModel's base folder; --format=tflite writes "
                                 f"--tflite_path instead. Received: --export_base={f.export_base}")
        print(export_tflite(tfvae_flags.WORKDIR.value, path=f.tflite_path, samplers=f.samplers,
                            checkpoint=f.checkpoint))
        return
    if f.tflite_path is not None:
        raise app.UsageError(f"--tflite_path needs --format=tflite. Received: --tflite_path={f.tflite_path}")
    print(jobs.export(tfvae_flags.WORKDIR.value, export_base=f.export_base, samplers=f.samplers,
                      checkpoint=f.checkpoint))


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
