"""Data sets as validated splits (in memory or streamed from files) and tf.data pipelines."""
from tfvae.data.data_splits import SPLITS, DataSplits, to_float
from tfvae.data.errors import DataError
from tfvae.data.idx import read_idx, write_idx
from tfvae.data.options import without_autotuning
from tfvae.data.pipeline import make_dataset, shuffled_batches
from tfvae.data.sources import FASHION_MNIST_DIR, load
from tfvae.data.streamed_split import StreamedSplit
from tfvae.data.tfrecord import write_image_tfrecord
