"""How well the SavedModel's scores separate Fashion-MNIST test images from a shifted set (scikit-learn's 8x8
digits resized to 28 px), as AUROC: docs/serving.md, "Scores for anomaly detection".

    python -m benchmarks.ood_scores [--workdir=/tmp/tfvae/ood] [--models=rae_l2,vae] [--network=mlp] [--epochs=10]
        [--max_train_examples=20000] [--num_test=2000] [--num_importance=16]

Each model is trained by the main job on Fashion-MNIST (resumed if its workdir holds a run; GMM fitted), then the
exported `score` (and for the VAE `score_likelihood`) endpoint scores the first --num_test Fashion-MNIST test images
(label 0) and all 1797 digits (label 1). The anomaly score is the negated log-density, the reconstruction error, or
the negated IWAE bound; AUROC 1 separates perfectly, 0.5 is chance, below 0.5 ranks the shifted set as *more*
typical. Prints a table and writes benchmarks/results/ood_scores.json.
"""
import os

import numpy as np
import tensorflow as tf
from absl import app, flags
from sklearn.metrics import roc_auc_score

from benchmarks.common import print_table, write_json
from tfvae import data

FLAGS = flags.FLAGS


def _scores(signatures, images, num_importance, batch_size=256):
    """{score name: [N]} of every score the export has; anomaly scores are oriented so that higher = more unusual."""
    columns = {}
    for start in range(0, len(images), batch_size):
        x = tf.constant(images[start:start + batch_size])
        for name, value in signatures["score"](images=x).items():
            columns.setdefault(name, []).append(-value.numpy() if name.startswith("log_density") else value.numpy())
        if "score_likelihood" in signatures:
            rows = int(x.shape[0])
            seeds = tf.stack([tf.fill([rows], 0), tf.range(start, start + rows)], axis=1)
            bounds = signatures["score_likelihood"](images=x, seed=seeds,
                                                    num_importance=tf.fill([rows], num_importance))
            columns.setdefault("iwae", []).append(-bounds["iwae"].numpy())
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def main(argv):
    del argv
    from trainers import jobs
    from trainers.config import TrainConfig

    fashion = data.load("fashion_mnist", data_dir=FLAGS.data_dir).as_float("test")[:FLAGS.num_test]
    digits_splits = data.load("digits", resize_to=28)
    digits = np.concatenate([digits_splits.as_float(split) for split in ("train", "validation", "test")])
    rows = []
    for model in FLAGS.models:
        config = TrainConfig(workdir=os.path.join(FLAGS.workdir, model), model=model, dataset="fashion_mnist",
                             data_dir=FLAGS.data_dir, network=FLAGS.network, epochs=FLAGS.epochs,
                             max_train_examples=FLAGS.max_train_examples, densities=("gmm",))
        export = jobs.run_main_job(config)["export"]
        signatures = tf.saved_model.load(export).signatures
        inside, shifted = (_scores(signatures, images, FLAGS.num_importance) for images in (fashion, digits))
        for name in inside:
            labels = np.concatenate([np.zeros(len(inside[name])), np.ones(len(shifted[name]))])
            auroc = roc_auc_score(labels, np.concatenate([inside[name], shifted[name]]))
            rows.append({"model": model, "score": name if name != "iwae" else f"iwae (K={FLAGS.num_importance})",
                         "AUROC": float(auroc), "median fashion": float(np.median(inside[name])),
                         "median digits": float(np.median(shifted[name]))})
    print_table("Fashion-MNIST test (in) vs digits resized to 28 px (shifted): AUROC of each anomaly score "
                "(log-densities and the IWAE bound negated)", rows,
                ["model", "score", "AUROC", "median fashion", "median digits"])
    print("\nwrote", write_json("ood_scores", {"rows": rows, "settings": {
        "models": FLAGS.models, "network": FLAGS.network, "epochs": FLAGS.epochs,
        "max_train_examples": FLAGS.max_train_examples, "num_test": FLAGS.num_test, "num_shifted": int(len(digits)),
        "num_importance": FLAGS.num_importance}}))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_string("workdir", "/tmp/tfvae/ood", "Parent of one workdir per model.")
    flags.DEFINE_list("models", ["rae_l2", "vae"], "Models to train on Fashion-MNIST and score with.")
    flags.DEFINE_integer("epochs", 10, "Training epochs of each model.")
    flags.DEFINE_string("network", "mlp", "Network of the models (mlp: minutes on 2 CPU cores; conv: about 25 minutes "
                        "per model there).")
    flags.DEFINE_integer("max_train_examples", 20000, "Fashion-MNIST training images used.")
    flags.DEFINE_integer("num_test", 2000, "Fashion-MNIST test images scored (the in-distribution set).")
    flags.DEFINE_integer("num_importance", 16, "Importance samples of the IWAE score.")
    flags.DEFINE_string("data_dir", None, "Fashion-MNIST IDX folder (default: the Debian package's).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
