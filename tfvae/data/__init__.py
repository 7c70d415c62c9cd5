"""Data sets as validated in-memory splits and tf.data pipelines."""
from tfvae.data.data_splits import SPLITS, DataSplits, to_float
from tfvae.data.errors import DataError
from tfvae.data.idx import read_idx, write_idx
from tfvae.data.pipeline import make_dataset, shuffled_batches, without_autotuning
from tfvae.data.sources import FASHION_MNIST_DIR, load
