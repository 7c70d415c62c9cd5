"""Data sources: functions that return `DataSplits` for a data set name.

Registered names: `digits` (scikit-learn's 1797 8x8 digits, the embedded default), `moons` (the two-moons toy set of
the dpVAE paper), `fashion_mnist` (the standard IDX files). `load()` also accepts `npz:PATH`, `folder:PATH`,
`tfrecord:PATTERN`, `tfds:NAME` and any other TFDS name. The embedded sets, npz files and image folders are read
into memory; `tfrecord:` and TFDS data sets are streamed from their files (`StreamedSplit`), and held in memory or a
cache file only when the caller asks for a cache (`load(cache=...)`).

Every data file is read through `tf.io.gfile`: IDX files, npz files, image folders and TFRecord files may lie on the
local disk or behind any URL TensorFlow reads (gs://, s3://, ram://).
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfvae import registry
from tfvae.data import preprocessing
from tfvae.data.data_splits import SPLITS, DataSplits, split_off
from tfvae.data.errors import DataError
from tfvae.data.idx import read_idx
from tfvae.data.streamed_split import StreamedSplit, check_cache
from tfvae.data.tfrecord import tfrecord_source

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
# Fractions of a single-array data set set aside for validation and test.
_HELD_OUT = (0.1, 0.15)
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


@registry.register("dataset", "digits")
def digits(data_dir=None):
    """scikit-learn's 1797 real 8x8 handwritten digits (values 0..16), scaled to [0, 1]; fixed 75/10/15 split."""
    del data_dir  # Ships with scikit-learn.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    return DataSplits(name="digits", **split_off(x, bunch.target.astype(np.int64), _HELD_OUT))


@registry.register("dataset", "moons")
def moons(data_dir=None, num_examples=10000, noise=0.05):
    """The two-moons toy set (dpVAE paper, figures 1 and 3): 2-D points, standardized, fixed 75/10/15 split."""
    del data_dir
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=num_examples, noise=noise, random_state=0)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    return DataSplits(name="moons", is_image=False, **split_off(x, y.astype(np.int64), _HELD_OUT))


@registry.register("dataset", "fashion_mnist")
def fashion_mnist(data_dir=None, num_validation=10000):
    """Fashion-MNIST from the four standard IDX files.

    The last `num_validation` training images form the validation split (the RAE protocol sets 10k aside); the
    10k test images are the test split.

    Args:
        data_dir: str or None. Folder holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, on any
            filesystem `tf.io.gfile` reads. Defaults to /usr/share/datasets/fashion-mnist (installed by
            `apt-get install -y dataset-fashion-mnist`).
        num_validation: int. Training images held out for validation. Defaults to 10000.
    """
    data_dir = data_dir or FASHION_MNIST_DIR

    def read(stem, ndim, trailing):
        for name in (f"{stem}.gz", stem):
            path = os.path.join(data_dir, name)
            if tf.io.gfile.exists(path):
                return read_idx(path, ndim, trailing)
        return read_idx(os.path.join(data_dir, f"{stem}.gz"), ndim, trailing)  # Raises the missing-file error.

    train_x = read("train-images-idx3-ubyte", 3, (28, 28))
    train_y = read("train-labels-idx1-ubyte", 1, ())
    test_x = read("t10k-images-idx3-ubyte", 3, (28, 28))
    test_y = read("t10k-labels-idx1-ubyte", 1, ())
    for images, labels, stem in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if len(images) != len(labels):
            raise DataError(f"{data_dir}: {stem} images and labels disagree in count; expected one label per image. "
                            f"Received: {len(images)} images, {len(labels)} labels")
    if not 0 < num_validation < len(train_x):
        raise DataError(f"num_validation must be between 1 and {len(train_x) - 1}. Received: {num_validation}")
    cut = len(train_x) - num_validation
    return DataSplits(name="fashion_mnist", train=train_x[:cut, ..., None], validation=train_x[cut:, ..., None],
                      test=test_x[..., None], train_labels=train_y[:cut].astype(np.int64),
                      validation_labels=train_y[cut:].astype(np.int64), test_labels=test_y.astype(np.int64))


def npz(path):
    """Loads `npz:PATH`: arrays `x_train`, `x_test` and optionally `x_validation` (or one array `x`, split 75/10/15),
    with optional `y_*` labels; uint8 images in [0, 255] or float images in [0, 1], shaped [N,H,W] or [N,H,W,C].

    PATH is read through `tf.io.gfile` (a local file, gs://, ram://, ...); the arrays are read into memory.
    """
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise DataError(f"npz file not found: {path}. Expected a NumPy .npz file. Received: npz:{path}")
    try:
        # NumPy reads the zip archive through the GFile handle (seek, tell, read), so nothing is copied first.
        with tf.io.gfile.GFile(path, "rb") as f, np.load(f, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # np.load raises several types for corrupt archives.
        raise DataError(f"Cannot read {path} as a NumPy .npz archive ({error}). Received: npz:{path}") from error

    def images(key):
        x = arrays[key]
        return x[..., None] if x.ndim == 3 else x

    def labels(key):
        return arrays[key].astype(np.int64) if key in arrays else None

    name = f"npz:{path}"
    if "x_train" in arrays and "x_test" in arrays:
        parts = dict(train=images("x_train"), test=images("x_test"), train_labels=labels("y_train"),
                     test_labels=labels("y_test"))
        if "x_validation" in arrays:
            parts.update(validation=images("x_validation"), validation_labels=labels("y_validation"))
        else:
            held = split_off(parts["train"], parts["train_labels"], (0.1, 0.0))
            parts.update(train=held["train"], train_labels=held["train_labels"], validation=held["validation"],
                         validation_labels=held["validation_labels"])
        return DataSplits(name=name, **parts)
    if "x" in arrays:
        return DataSplits(name=name, **split_off(images("x"), labels("y"), _HELD_OUT))
    raise DataError(f"{path} must contain arrays x_train and x_test (optionally x_validation, y_*) or one array x. "
                    f"Received: arrays {sorted(arrays)}")


def folder(path):
    """Loads `folder:PATH`: every PNG/JPEG below PATH (sorted, recursive), all of one size, split 75/10/15.

    PATH is listed and read through `tf.io.gfile` (a local folder, gs://, ram://, ...); the images are read into
    memory.
    """
    if not tf.io.gfile.isdir(path):
        raise DataError(f"Image folder not found: {path}. Expected a folder of PNG or JPEG files. "
                        f"Received: folder:{path}")
    files = sorted(os.path.join(root, name) for root, _, names in tf.io.gfile.walk(path) for name in names
                   if name.lower().endswith(_IMAGE_EXTENSIONS))
    if not files:
        raise DataError(f"{path} holds no .png/.jpg/.jpeg files; expected at least one image. Received: folder:{path}")
    images = []
    for file in files:
        try:
            image = tf.io.decode_image(tf.io.read_file(file), expand_animations=False).numpy()
        except tf.errors.OpError as error:
            raise DataError(f"Cannot decode image {file}: {error.message}. Expected a valid PNG or JPEG. "
                            f"Received: {tf.io.gfile.stat(file).length} bytes") from error
        if images and image.shape != images[0].shape:
            raise DataError(f"Images in {path} differ in size: {files[0]} is {images[0].shape}, {file} is "
                            f"{image.shape}; expected one size (resize them, or pass resize_to). "
                            f"Received: {image.shape}")
        images.append(image)
    return DataSplits(name=f"folder:{path}", **split_off(np.stack(images).astype(np.uint8), None, _HELD_OUT))


def tfds_source(name, data_dir=None, download=True):
    """Streams a TensorFlow Datasets data set by name, downloading and preparing it first when it is not prepared
    in `data_dir` and `download` allows it (TFDS's own `download_and_prepare`).

    Uses the feature `image` (and `label` when present); splits `train`, `test`, and `validation` when the data set
    has one, else TFDS's slices `train[:90%]` (train) and `train[90%:]` (validation). Each split is read from the
    prepared files (`builder.as_dataset`) as a `StreamedSplit`: files in a seeded order, sharded over workers when
    there are enough of them.

    Args:
        name: str. A TFDS name, optionally with a config and version (`celeb_a`, `cifar10:3.0.2`).
        data_dir: str or None. TFDS data_dir. Defaults to None (TFDS's default, ~/tensorflow_datasets).
        download: bool. Download and prepare a data set that is not prepared yet. Defaults to True.

    Returns:
        DataSplits of streamed uint8 images.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataError(f"Unknown data set {name!r}: not one of {registry.names('dataset')}, not npz:PATH, "
                        f"folder:PATH or tfrecord:PATTERN, and not a TFDS name. Received: {name!r}") from error
    if not builder.is_prepared():
        if not download:
            raise DataError(f"TFDS data set {name!r} is not prepared in {builder.data_dir} and --download=false "
                            f"forbids downloading it. Let tfvae download it (--download=true), or prepare it with "
                            f"`tfds build {name} --data_dir=DIR` and pass --data_dir=DIR. Received: "
                            f"data_dir={data_dir!r}")
        try:
            builder.download_and_prepare()
        except Exception as error:  # Network, manual-download and disk failures surface as many exception types.
            raise DataError(
                f"Cannot download and prepare TFDS data set {name!r} into {builder.data_dir} "
                f"({type(error).__name__}: {error}). Without network, prepare it on a machine that has one with "
                f"`tfds build {name} --data_dir=DIR`, copy DIR here and pass --data_dir=DIR --download=false; or "
                f"write the images as TFRecord files and pass --dataset=tfrecord:PATTERN. Received: "
                f"data_dir={data_dir!r}") from error
    info = builder.info
    if "image" not in info.features:
        raise DataError(f"TFDS data set {name!r} has no 'image' feature; tfvae trains on images. "
                        f"Received: features {list(info.features)}")
    if "train" not in info.splits or "test" not in info.splits:
        raise DataError(f"TFDS data set {name!r} needs a 'train' and a 'test' split. Received: splits "
                        f"{list(info.splits)}")
    image = info.features["image"]
    if None in image.shape:
        raise DataError(f"TFDS data set {name!r} holds images of varying size; expected one size, as tfvae's "
                        f"networks take. Received: image feature shape {image.shape}")
    if image.np_dtype != np.uint8:
        raise DataError(f"TFDS data set {name!r} holds {image.np_dtype} images; expected uint8 in [0, 255]. "
                        f"Received: dtype {image.np_dtype}")
    has_labels = "label" in info.features
    specs = {"train": "train", "validation": "validation", "test": "test"}
    if "validation" not in info.splits:
        specs.update(train="train[:90%]", validation="train[90%:]")

    def streamed(spec):
        def read(seed=None, num_shards=1, shard_index=0):
            context = (tf.distribute.InputContext(num_input_pipelines=num_shards, input_pipeline_id=shard_index)
                       if num_shards > 1 else None)
            dataset = builder.as_dataset(split=spec, shuffle_files=seed is not None, read_config=tfds.ReadConfig(
                shuffle_seed=seed, input_context=context, try_autocache=False))
            return dataset.map(lambda example: (example["image"], tf.cast(example["label"], tf.int64) if has_labels
                                                else tf.constant(-1, tf.int64)))

        return StreamedSplit(name=f"{name} ({spec})", read=read, num_examples=info.splits[spec].num_examples,
                             num_files=info.splits[spec].num_shards, element_shape=tuple(image.shape),
                             dtype="uint8", has_labels=has_labels, source=info.full_name)

    return DataSplits(name=name, **{split: streamed(spec) for split, spec in specs.items()})


def load(name, data_dir=None, pad_to=None, resize_to=None, download=True, cache=None):
    """Loads data set `name` into validated `DataSplits`.

    Args:
        name: str. `digits`, `moons`, `fashion_mnist`, `npz:PATH`, `folder:PATH`, `tfrecord:PATTERN`, `tfds:NAME`,
            or any other TFDS name.
        data_dir: str or None. Folder of the IDX files (fashion_mnist) or TFDS data_dir.
        pad_to: int or None. Zero-pad images to this size (the RAE paper pads 28 px to 32 px).
        resize_to: int or None. Resize images to this size. Exclusive with pad_to.
        download: bool. Let a TFDS data set that is not prepared in `data_dir` download and prepare itself.
            Defaults to True.
        cache: str or None. For streamed splits: None reads their files in every epoch; "memory" holds each split
            in memory once it is first read; a folder (local or a URL, e.g. gs://bucket/cache) holds cache files
            written by the first read and read by every later one, in this process and in later ones
            (`StreamedSplit.with_cache`). Splits already in memory (the embedded sets, npz files, folders) ignore
            it. Defaults to None.

    Returns:
        DataSplits: arrays for the embedded sets, npz files and folders; `StreamedSplit`s for `tfrecord:` and TFDS.
    """
    if pad_to and resize_to:
        raise DataError(f"pad_to and resize_to are exclusive; pass one of them. Received: pad_to={pad_to}, "
                        f"resize_to={resize_to}")
    check_cache(cache)
    splits = _load(name, data_dir, pad_to, resize_to, download)
    if cache is None:
        return splits
    streamed = [split for split in SPLITS if splits.is_streamed(split)]
    if not streamed:
        logging.info("%s is held in memory already: the cache %r is not used.", name, cache)
        return splits
    return dataclasses.replace(splits, **{split: splits.split(split).with_cache(cache) for split in streamed})


def _load(name, data_dir, pad_to, resize_to, download):
    """`load` without the cache."""
    if name.startswith("npz:"):
        splits = npz(name[len("npz:"):])
    elif name.startswith("folder:"):
        splits = folder(name[len("folder:"):])
    elif name.startswith("tfrecord:"):
        splits = tfrecord_source(name[len("tfrecord:"):])
    elif name.startswith("tfds:"):
        splits = tfds_source(name[len("tfds:"):], data_dir=data_dir, download=download)
    elif name in registry.names("dataset"):
        splits = registry.get("dataset", name)(data_dir=data_dir)
    else:
        splits = tfds_source(name, data_dir=data_dir, download=download)
    if not (pad_to or resize_to):
        return splits
    if not splits.is_image:
        raise DataError(f"pad_to / resize_to apply to images; {name} holds points. Received: pad_to={pad_to}, "
                        f"resize_to={resize_to}")
    return dataclasses.replace(splits, **{split: _preprocess(splits.split(split), pad_to, resize_to)
                                          for split in ("train", "validation", "test")})


def _preprocess(x, pad_to, resize_to):
    """Split `x` (an array, or a StreamedSplit mapped image by image) padded to `pad_to` or resized to
    `resize_to` pixels."""
    if not isinstance(x, StreamedSplit):
        return preprocessing.pad_to(x, pad_to) if pad_to else preprocessing.resize_to(x, resize_to)
    height, width, channels = x.element_shape
    if pad_to:
        preprocessing.padding(height, width, pad_to)  # a size too small fails now, not in the first epoch
        return x.map(lambda image: preprocessing.pad_image(image, pad_to), (pad_to, pad_to, channels), x.dtype,
                     f"pad_to={pad_to}")
    preprocessing.check_size(resize_to)
    return x.map(lambda image: preprocessing.resize_image(image, resize_to), (resize_to, resize_to, channels),
                 "float32", f"resize_to={resize_to}")
