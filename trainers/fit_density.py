"""Fits ex-post densities on a trained workdir's training latents and validates them on its validation latents.

    python -m trainers.fit_density --workdir=DIR --density=gmm[,gaussian] [--components=10]

Writes WORKDIR/density/NAME/{params.npz,config.json} and logs fit time and validation log-likelihood.
Reference: GMM with 10 components on 1347 x 16 digit latents, under a second.
"""
from absl import app, flags, logging

from trainers import flags as tfvae_flags
from trainers import jobs

flags.DEFINE_list("density", ["gmm"], "Densities to fit: gaussian, gmm.")
flags.DEFINE_integer("components", 10, "Components of the gmm density.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    jobs.fit_densities(tfvae_flags.WORKDIR.value, flags.FLAGS.density, components=flags.FLAGS.components)


def run():
    logging.set_verbosity(logging.INFO)
    app.run(main)


if __name__ == "__main__":
    run()
