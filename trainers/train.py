"""Trains a model, fits its ex-post densities, exports the SavedModel and writes a sample grid.

    python -m trainers.train [--model=rae_l2 --dataset=digits --workdir=/tmp/tfvae/main ...]

With no flags this is the main job: RAE-L2 on scikit-learn's digits, 100 epochs, a 10-component GMM, export to
WORKDIR/export/rae_l2/VERSION and WORKDIR/samples.png. Reference: about 25 seconds on 2 CPU cores, the process
included. Started again on the same workdir it resumes from the last checkpoint that reads completely; --restart
moves the previous run aside and starts over. One process at a time per workdir: a second one is refused.
"""
from absl import app, flags

from trainers import binary
from trainers import flags as tfvae_flags
from trainers import jobs

tfvae_flags.define_train_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    jobs.run_main_job(tfvae_flags.train_config_from_flags(), restart=flags.FLAGS.restart,
                      callbacks=tfvae_flags.load_callbacks(flags.FLAGS.callbacks))


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
