"""Fits ex-post densities on a trained workdir's training latents and validates them on its validation latents.

    python -m trainers.fit_density --workdir=DIR --density=gmm[,gaussian,flow,two_stage] [--components=10]
        [--latents=mean|sample]

Writes WORKDIR/density/NAME/{params.npz,config.json} and logs fit time and validation log-likelihood.
Reference: GMM with 10 components on 1347 x 16 digit latents, under a second.
"""
from absl import app, flags

from trainers import binary
from trainers import flags as tfvae_flags
from trainers import jobs

flags.DEFINE_list("density", ["gmm"], "Densities to fit: gaussian, gmm, flow, two_stage.")
flags.DEFINE_integer("components", 10, "Components of the gmm density.")
flags.DEFINE_enum("latents", "mean", ["mean", "sample"], "Fit on posterior means or on one posterior sample each.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    reports = jobs.fit_densities(tfvae_flags.WORKDIR.value, flags.FLAGS.density, components=flags.FLAGS.components,
                                 latents=flags.FLAGS.latents)
    for name, report in reports.items():
        print(f"{name:10s} fit {report['fit_seconds']:7.2f}s  "
              f"train log-likelihood {report['train_log_likelihood']:9.3f}"
              f"  validation {report.get('validation_log_likelihood', float('nan')):9.3f}")


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
