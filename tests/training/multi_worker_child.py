"""One worker of the multi-worker test: trains 2 steps with the binaries' Trainer and saves its final weights.

Run by tests/training/test_distributed.py with TF_CONFIG set; argv: WORKDIR OUTPUT.npz
"""
import sys

import numpy as np

from tfvae import data, models, training
from tfvae.data import DataSplits


def main(workdir, output):
    digits = data.load("digits")
    splits = DataSplits(name="digits-200", train=digits.train[:200], validation=digits.validation[:100],
                        test=digits.test[:100])
    strategy = training.make_strategy("multi_worker")
    trainer = training.Trainer(
        lambda: models.build("rae_l2", splits.element_shape, latent_dim=4, network_kwargs={"hidden_units": (32,)}),
        splits, workdir, strategy=strategy, epochs=1, batch_size=100, log_images=False)
    trainer.fit()
    np.savez(output, *[w.numpy() for w in trainer.model.weights],
             iterations=trainer.optimizer.iterations.numpy())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
