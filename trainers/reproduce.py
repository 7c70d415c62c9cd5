"""Reproduces one paper table: trains and evaluates every cell, writes our numbers beside the paper's.

    python -m trainers.reproduce --experiment=two_stage_table1 --scale=cpu --workdir=/tmp/tfvae/reproduce
    python -m trainers.reproduce --experiment=rae_table1 --scale=paper --workdir=DIR [--data_dir=...]

Writes DIR/EXPERIMENT/{table.md, table.json, report.html}; a killed run resumes where it stopped. Scales: `smoke`
(seconds: digits, one epoch, a check that everything runs), `cpu` (a reduced grid that keeps the papers'
qualitative findings testable on 2 CPU cores, under 45 minutes per experiment), `paper` (the papers' networks,
epochs and 10,000 samples with the Inception network; meant for a GPU). docs/reproduction.md records the results.
"""
from absl import app, flags

from tfvae import registry
from trainers import experiments  # noqa: F401  (registers the experiments)
from trainers import binary
from trainers import reproduction

_EXPERIMENT = flags.DEFINE_enum("experiment", None, registry.names("experiment"), "The paper table to reproduce.",
                                required=True)
_SCALE = flags.DEFINE_enum("scale", "cpu", ["smoke", "cpu", "paper"], "Sizes of the run (never the math).")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/tfvae/reproduce", "Parent folder; cells go to WORKDIR/EXPERIMENT.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "IDX folder (fashion_mnist) or prepared TFDS data_dir.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    _, path = reproduction.run_experiment(_EXPERIMENT.value, _SCALE.value, _WORKDIR.value, _DATA_DIR.value)
    print(path)


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
