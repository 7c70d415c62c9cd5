"""Ex-post density estimation: GMM fit cost on 60,000 x 16 latents, and sampling + decoding throughput of each
sampler beside drawing from N(0, I) and decoding (the limit: a sampler should add little to the decoder).

    python -m benchmarks.density [--repeats=5] [--num_latents=60000] [--batch=1000]

The latents are drawn from a 10-component mixture with random full covariances (a stand-in for trained codes of
that size); the decoder is the RAE conv net at CPU scale (`conv`, 28 px). Medians of `repeats` runs.
"""
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json
from tfvae import models
from tfvae.density import Flow, Gaussian, GaussianMixture, PriorSampler, TwoStage

FLAGS = flags.FLAGS
LATENT_DIM = 16


def _latents(rng, count):
    centers = rng.normal(size=(10, LATENT_DIM)) * 3
    mixing = rng.normal(size=(10, LATENT_DIM, LATENT_DIM)) * 0.3
    labels = rng.integers(0, 10, count)
    noise = rng.normal(size=(count, LATENT_DIM))
    return (centers[labels] + np.einsum("nij,nj->ni", mixing[labels], noise)).astype(np.float32)


def _time(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    # One draw split in two: validation latents must come from the same mixture as the training ones.
    everything = _latents(rng, FLAGS.num_latents + 10000)
    train, validation = everything[:FLAGS.num_latents], everything[FLAGS.num_latents:]
    fit_rows = []
    fitted = {}
    for name, make in (("gaussian", Gaussian), ("gmm", GaussianMixture), ("flow", lambda: Flow(epochs=5)),
                       ("two_stage", lambda: TwoStage(epochs=3))):
        seconds, reports = [], []
        repeats = FLAGS.repeats if name in ("gaussian", "gmm") else 1  # Neural fits are long; one run each.
        for _ in range(repeats):
            estimator = make()
            seconds.append(_time(lambda: reports.append(estimator.fit(train, validation))))
        fitted[name] = estimator
        median, low, high = median_and_spread(seconds)
        fit_rows.append({"density": name, "fit seconds (median)": median, "min": low, "max": high,
                         "validation log-lik": reports[-1]["validation_log_likelihood"], "runs": repeats})
    print_table(f"Fitting on {FLAGS.num_latents} x {LATENT_DIM} latents", fit_rows,
                ["density", "fit seconds (median)", "min", "max", "validation log-lik", "runs"])

    model = models.build("rae", (28, 28, 1), latent_dim=LATENT_DIM, network="conv")
    decode = tf.function(model.decode)
    samplers = {"N(0,I) + decode (limit)": None, "prior": PriorSampler(model.prior), **fitted}
    seeds = tf.stack([tf.zeros(FLAGS.batch, tf.int32), tf.range(FLAGS.batch)], axis=1)
    sample_rows = []
    for name, sampler in samplers.items():
        if sampler is None:
            fn = tf.function(lambda s: decode(tf.random.stateless_normal([FLAGS.batch, LATENT_DIM], seed=s[0])))
        else:
            fn = tf.function(lambda s, sampler=sampler: decode(sampler.sample_from_seeds(s)))
        fn(seeds)  # Trace.
        rates = [FLAGS.batch / _time(lambda: fn(seeds).numpy()) for _ in range(FLAGS.repeats)]
        median, low, high = median_and_spread(rates)
        sample_rows.append({"sampler": name, "samples/s (median)": median, "min": low, "max": high})
    limit = sample_rows[0]["samples/s (median)"]
    for row in sample_rows:
        row["vs limit"] = row["samples/s (median)"] / limit
    print_table(f"Sampling + decoding, batches of {FLAGS.batch} (per-row seeds, as the exported endpoint)",
                sample_rows, ["sampler", "samples/s (median)", "min", "max", "vs limit"])
    print("\nwrote", write_json("density", {"fit": fit_rows, "sampling": sample_rows,
                                            "settings": {"num_latents": FLAGS.num_latents, "batch": FLAGS.batch,
                                                         "repeats": FLAGS.repeats}}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("repeats", 5, "Timed repeats of every measurement.")
    flags.DEFINE_integer("num_latents", 60000, "Latents the densities are fitted on.")
    flags.DEFINE_integer("batch", 1000, "Samples drawn and decoded per call.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
