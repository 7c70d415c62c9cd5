"""Prepares the standard TFDS `fashion_mnist` data set offline from the local IDX files.

TFDS' own `manual_dir` route rejects the Debian copies (their .gz checksums differ, the decompressed bytes do not), so
this builder reads the IDX files itself and writes the standard TFDS layout. Afterwards
`tfds.load("fashion_mnist", data_dir=DIR, download=False)` and `--dataset=tfds:fashion_mnist --data_dir=DIR` work
without network.

    python -m tfvae.data.tfds_local --data_dir=/tmp/tfds [--source_dir=/usr/share/datasets/fashion-mnist]
"""
import os

import tensorflow_datasets as tfds

from tfvae.data.idx import read_idx
from tfvae.data.sources import FASHION_MNIST_DIR


class LocalFashionMNIST(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """The `fashion_mnist` TFDS builder fed from local IDX files instead of a download."""

    name = "fashion_mnist"
    VERSION = tfds.core.Version("3.0.1")

    def __init__(self, source_dir=FASHION_MNIST_DIR, max_examples=None, **kwargs):
        self.source_dir = source_dir
        self.max_examples = max_examples
        super().__init__(**kwargs)

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(28, 28, 1)),
                                                 "label": tfds.features.ClassLabel(num_classes=10)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing is downloaded.
        return {"train": self._generate_examples("train"), "test": self._generate_examples("t10k")}

    def _generate_examples(self, prefix):
        images = read_idx(os.path.join(self.source_dir, f"{prefix}-images-idx3-ubyte.gz"), 3, (28, 28))
        labels = read_idx(os.path.join(self.source_dir, f"{prefix}-labels-idx1-ubyte.gz"), 1)
        count = len(images) if self.max_examples is None else min(len(images), self.max_examples)
        for index in range(count):
            yield index, {"image": images[index][..., None], "label": int(labels[index])}


def prepare_fashion_mnist(data_dir, source_dir=FASHION_MNIST_DIR, max_examples=None):
    """Writes the TFDS `fashion_mnist` layout into `data_dir` from IDX files in `source_dir`; returns data_dir."""
    builder = LocalFashionMNIST(source_dir=source_dir, max_examples=max_examples, data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return data_dir


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("data_dir", None, "TFDS data_dir to write.", required=True)
    flags.DEFINE_string("source_dir", FASHION_MNIST_DIR, "Folder of the IDX files.")
    app.run(lambda argv: print(prepare_fashion_mnist(flags.FLAGS.data_dir, flags.FLAGS.source_dir)))
