"""Exports a trained workdir as a SavedModel in the TF Serving layout.

    python -m export.export_saved_model --workdir=DIR [--export_base=DIR/export] [--samplers=gmm,gaussian]
        [--checkpoint=PATH]

Writes EXPORT_BASE/MODEL/VERSION (next integer version, written atomically). Reference: a few seconds for digits.
"""
from absl import app, flags

from trainers import binary
from trainers import flags as tfvae_flags
from trainers import jobs

flags.DEFINE_string("export_base", None, "TF Serving base folder (default: the run's, WORKDIR/export).")
flags.DEFINE_list("samplers", None, "Samplers to bundle besides the prior (default: every fitted density).")
flags.DEFINE_string("checkpoint", None, "Checkpoint path (default: the latest of the workdir).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    print(jobs.export(tfvae_flags.WORKDIR.value, export_base=f.export_base, samplers=f.samplers,
                      checkpoint=f.checkpoint))


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
