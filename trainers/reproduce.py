"""Reproduces one paper table: trains and evaluates every cell (row x seed), writes our numbers beside the paper's.

    python -m trainers.reproduce --experiment=two_stage_table1 --scale=cpu --workdir=/tmp/tfvae/reproduce
    python -m trainers.reproduce --experiment=two_stage_table1 --scale=cpu --seeds=1 --workdir=...   (one seed)
    python -m trainers.reproduce --experiment=two_stage_table1 --scale=paper --rows="2-Stage VAE" --workdir=...
    python -m trainers.reproduce --experiment=rae_table1 --scale=paper --workdir=DIR [--data_dir=...]

Writes DIR/EXPERIMENT/{table.md, table.json, report.html}; a killed run resumes where it stopped. Each seed's cell is
its own workdir: seeds (`--seeds`) and rows (`--rows`) can run in separate processes or machines, and the table
merges every finished cell of the folder, with each number's seed count, its 95% interval over the seeds and a
three-way verdict per claim (reproduced, contradicted, inconclusive; not judged while a value is missing). Progress
lines give an ETA for the cell and for the run.

Scales: `smoke` (seconds per cell: digits, one epoch, 2 seeds; a check that everything runs), `cpu` (a reduced grid
that keeps the papers' qualitative findings testable on 2 CPU cores, 3 seeds; one seed of an experiment took 11
(two_stage_table1) to 60 (distribution_matching) minutes on a 2-core machine, docs/reproduction.md records each
run's time), `paper` (the papers' networks, epochs and 10,000 samples with the Inception network; meant for a GPU,
or for one row at a time with `--rows`).
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
_SEEDS = flags.DEFINE_list("seeds", None, "Seeds to run, e.g. 0,1,2 (default: the scale's). Finished cells of other "
                           "seeds in the folder are merged into the table.")
_ROWS = flags.DEFINE_list("rows", None, "Rows to run, by label or cell-folder name, comma-separated, e.g. "
                          "--rows=\"2-Stage VAE\" (default: every row). The table still shows every row.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    _, path = reproduction.run_experiment(_EXPERIMENT.value, _SCALE.value, _WORKDIR.value, _DATA_DIR.value,
                                          seeds=reproduction.parse_seeds(_SEEDS.value), rows=_ROWS.value)
    print(path)


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
