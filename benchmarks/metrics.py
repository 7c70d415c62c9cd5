"""Cost of the evaluation: feature extraction per second, and each metric on 10,000 samples.

    python -m benchmarks.metrics [--num_samples=10000] [--inception_images=200] [--repeats=3]
        [--inception_policies=mixed_bfloat16,mixed_float16] [--fid_images=1000]

Inception: pool_3 features of the Keras rebuild (TTUR preprocessing, 28 px grey images upsampled to 299), timed on
--inception_images images and extrapolated to --num_samples; the domain classifier likewise. Metrics: each run on
random feature sets of the real sizes (2048-d for the sample metrics, 16-d latents for the latent ones), medians of
--repeats runs. The statistics must cost far less than extracting the features they consume.

Inception under mixed precision (`--inception_policies`): for each policy, the images/s and the FID between
--fid_images Fashion-MNIST test images and as many training images, beside float32's on the same images (the
relative change of FID is what decides whether a policy may compute FID).
"""
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json
from tfvae import metrics
from tfvae.density import aggregate_posterior_log_density
from tfvae.metrics.domain_classifier import DomainClassifier
from tfvae.metrics.inception import InceptionExtractor

FLAGS = flags.FLAGS


def _seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return median_and_spread(times)


def _fid(extractor, first, second):
    moments = []
    for images in (first, second):
        running = metrics.RunningMoments(2048)
        running.update(extractor(images).astype(np.float64))
        moments.append(running.result())
    return metrics.frechet_distance(*moments[0], *moments[1])


def compare_policies(device):
    """Images/s and FID (test vs train images) of the Inception network under each policy, beside float32's."""
    from tfvae import data

    splits = data.load("fashion_mnist")
    first, second = splits.as_float("test")[:FLAGS.fid_images], splits.as_float("train")[:FLAGS.fid_images]
    rows = []
    for policy in ["float32", *FLAGS.inception_policies]:
        extractor = InceptionExtractor(batch_size=50, mixed_precision=policy)
        extractor(first[:50])  # trace
        started = time.perf_counter()
        fid = _fid(extractor, first, second)
        rate = 2 * len(first) / (time.perf_counter() - started)
        rows.append({"policy": policy, "device": device, "images/s": rate, "FID": fid})
    for row in rows:
        row["FID change vs float32 (%)"] = 100 * (row["FID"] / rows[0]["FID"] - 1)
        row["speed vs float32"] = row["images/s"] / rows[0]["images/s"]
    print_table(f"Inception under mixed precision, FID of {len(first)} test vs {len(second)} training images",
                rows, ["policy", "device", "images/s", "speed vs float32", "FID", "FID change vs float32 (%)"])
    return rows


def main(argv):
    del argv
    n = FLAGS.num_samples
    rng = np.random.default_rng(0)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    extractor = InceptionExtractor(batch_size=50)
    images = rng.random((FLAGS.inception_images, 28, 28, 1)).astype(np.float32)
    extractor(images[:50])  # trace
    inception_seconds = _seconds(lambda: extractor(images), 1)[0]
    per_second = len(images) / inception_seconds
    domain = DomainClassifier.train("random", images, rng.integers(0, 10, len(images)), images[:10],
                                    np.zeros(10, int), epochs=1)
    many = rng.random((n, 28, 28, 1)).astype(np.float32)
    domain.features(many[:100])
    domain_seconds = _seconds(lambda: domain.features(many), 1)[0]
    policies = compare_policies(device) if FLAGS.inception_policies else []
    extraction = [{"extractor": f"inception pool_3 ({device})", "images/s": per_second,
                   f"seconds for {n}": n / per_second},
                  {"extractor": f"domain classifier ({device})", "images/s": n / domain_seconds,
                   f"seconds for {n}": domain_seconds}]
    print_table("Feature extraction", extraction, ["extractor", "images/s", f"seconds for {n}"])

    a, b = rng.normal(size=(n, 2048)), rng.normal(size=(n, 2048)) + 0.1
    latents = rng.normal(size=(n, 16))
    probabilities = rng.dirichlet(np.ones(10), size=n)

    def fd():
        moments = [metrics.RunningMoments(2048) for _ in range(2)]
        for m, x in zip(moments, (a, b)):
            for i in range(0, n, 500):
                m.update(x[i:i + 500])
        return metrics.frechet_distance(*moments[0].result(), *moments[1].result())

    cases = {
        "Frechet distance (moments + sqrt, 2048-d)": fd,
        "KID (100 subsets of 1000, 2048-d)": lambda: metrics.kernel_inception_distance(a, b),
        "PRD (20 clusters, 10 runs, 2048-d)": lambda: metrics.prd(a, b),
        "improved precision/recall (k=3, 2048-d)": lambda: metrics.improved_precision_recall(a, b),
        "Inception-style score (10 classes)": lambda: metrics.inception_score(probabilities),
        "1 - MS-SSIM (1000 pairs, 28 px)": lambda: metrics.ms_ssim_diversity(many, num_pairs=1000),
        "MMD to N(0,I), rbf closed form (16-d)": lambda: metrics.mmd_to_standard_normal(latents, "rbf"),
        "MMD to N(0,I), imq (16-d)": lambda: metrics.mmd_to_standard_normal(latents, "imq"),
        "marginal KL alg. 2 (10k x 10k posteriors)": lambda: metrics.marginal_kl_monte_carlo(
            latents, lambda z: aggregate_posterior_log_density(z, latents, np.zeros_like(latents)),
            lambda z: -0.5 * np.sum(z ** 2, axis=1)),
        "leakage score (7 thresholds)": lambda: metrics.leakage_score(a[:, 0], b[:, 0], np.linspace(-3, 0, 7)),
        "singular values (16-d)": lambda: metrics.singular_values(latents),
    }
    rows = []
    for name, fn in cases.items():
        median, low, high = _seconds(fn, FLAGS.repeats)
        rows.append({"metric": name, "seconds (median)": median, "min": low, "max": high,
                     "vs Inception features": median / (n / per_second)})
    print_table(f"Metric cost on {n} samples", rows, ["metric", "seconds (median)", "min", "max",
                                                      "vs Inception features"])
    print("\nwrote", write_json("metrics", {
        "extraction": extraction, "metrics": rows, "policies": policies, "settings": {
        "num_samples": n, "inception_images": FLAGS.inception_images, "repeats": FLAGS.repeats, "device": device}}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("num_samples", 10000, "Samples per set.")
    flags.DEFINE_integer("inception_images", 200, "Images timed through the Inception network.")
    flags.DEFINE_integer("repeats", 3, "Repeats of every metric timing.")
    flags.DEFINE_list("inception_policies", [], "Dtype policies to compare with float32 for Inception features and FID.")
    flags.DEFINE_integer("fid_images", 1000, "Images per set for the FID comparison of --inception_policies.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
