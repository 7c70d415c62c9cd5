"""One worker of the multi-worker tests: trains one epoch and saves its final weights.

Run by tests/training/test_distributed.py with TF_CONFIG set; argv: WORKDIR OUTPUT.npz [DATASET]. Without DATASET,
the binaries' Trainer on 200 in-memory digits; with it, the main job's first half (`trainers.jobs
.train_and_fit_densities`: strategy, data, training, a Gaussian fitted on the chief) on data set DATASET (a streamed
one: each worker reads its own files).
"""
import sys

import numpy as np

from tfvae import data, models, training
from tfvae.data import DataSplits
from trainers import jobs
from trainers.config import TrainConfig


def main(workdir, output, dataset=None):
    if dataset is None:
        strategy = training.make_strategy("multi_worker")  # before any TensorFlow op (jobs.prepare_run says why)
        digits = data.load("digits")
        splits = DataSplits(name="digits-200", train=digits.train[:200], validation=digits.validation[:100],
                            test=digits.test[:100])
        trainer = training.Trainer(
            lambda: models.build("rae_l2", splits.element_shape, latent_dim=4,
                                 network_kwargs={"hidden_units": (32,)}),
            splits, workdir, strategy=strategy, epochs=1, batch_size=100, log_images=False)
        trainer.fit()
    else:
        trainer, _, _, _, _ = jobs.train_and_fit_densities(TrainConfig(
            workdir=workdir, dataset=dataset, strategy="multi_worker", epochs=1, latent_dim=4, densities=("gaussian",),
            model_kwargs={"network_kwargs": {"hidden_units": [32]}}))
    np.savez(output, *[w.numpy() for w in trainer.model.weights],
             iterations=trainer.optimizer.iterations.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:])
