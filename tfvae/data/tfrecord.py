"""`tfrecord:PATTERN`: images streamed from files of `tf.train.Example` records.

Each record holds one encoded image (PNG, JPEG, GIF or BMP bytes) in the bytes feature `image` and, optionally, its
class as one int64 in the feature `label` (all records or none). PATTERN is a glob on any filesystem TensorFlow
reads (`tf.io.gfile.glob`: local paths, `gs://`, ...). All images have one size (height, width and channels).

Splits:

- A PATTERN containing `{split}` is expanded to `train`, `validation` and `test`, e.g.
  `gs://bucket/faces/{split}-*.tfrecord`. The train pattern must match a file; the others may match none.
- Without `{split}`, every matching file holds training data.
- A held-out split without files of its own is cut out of the training files by a hash of each record's address
  (the base name of its file and its index in the file): the records whose address hashes into buckets [0, 150) of
  1000 (`tf.strings.to_hash_bucket_fast`) form the test split, those in [150, 250) the validation split: about 15%
  and 10%. The assignment depends on nothing else (not the file order, the folder, the number of workers or the
  seed), so it is the same in every run. Reading such a split reads the training files and keeps its records.

Loading reads every record once, parsing it and decoding its image, in a stream: it counts each split's examples and
checks them, so that a bad record (no `image`, undecodable bytes, another size, a bad label, a corrupt file) fails
with a `DataError` naming its file and index before training starts.

Write such files with `write_image_tfrecord` or any `tf.io.TFRecordWriter`.
"""
import os

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from tfvae import fingerprints
from tfvae.data.data_splits import SPLITS, DataSplits
from tfvae.data.errors import DataError
from tfvae.data.streamed_split import PARALLEL_CALLS, StreamedSplit
from tfvae.files import is_local

_BUCKETS = 1000
# The buckets of the address hash that form a split held out of the training files.
_HELD_OUT_BUCKETS = {"test": (0, 150), "validation": (150, 250)}
_SPLIT_IDS = {split: index for index, split in enumerate(SPLITS)}
# Files read at once (interleaved record by record), so that consecutive examples come from several files.
_CYCLE_FILES = 8
# Records checked per step of the loading pass.
_SCAN_BATCH = 4096
# What a loading pass raises at a bad record: parsing and decoding errors, corrupt files, and UnicodeDecodeError when
# the error message TensorFlow builds quotes a record's bytes that are not UTF-8.
_READ_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.DataLossError, UnicodeDecodeError)


def write_image_tfrecord(path, images, labels=None, image_format="png"):
    """Writes images as a TFRecord file of `tf.train.Example` records that `tfrecord:PATTERN` reads.

    Args:
        path: str. The file to write, on any filesystem TensorFlow writes (`tf.io.TFRecordWriter`).
        images: iterable of uint8 arrays [H, W, C] (C = 1 or 3), consumed one at a time (a generator keeps the
            writer's memory flat).
        labels: iterable of int or None. One class per image, stored as the int64 feature `label`. Defaults to None.
        image_format: str. "png" (lossless) or "jpeg". Defaults to "png".

    Returns:
        The number of records written.
    """
    encoders = {"png": tf.io.encode_png, "jpeg": tf.io.encode_jpeg}
    if image_format not in encoders:
        raise ValueError(f"image_format must be one of {sorted(encoders)}. Received: {image_format!r}")
    labels = iter(labels) if labels is not None else None
    count = 0
    with tf.io.TFRecordWriter(path) as writer:
        for image in images:
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.ndim != 3:
                raise ValueError(f"Images are written as uint8 arrays [H, W, C]. Received: dtype {image.dtype}, "
                                 f"shape {image.shape}")
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[encoders[image_format](image).numpy()]))}
            if labels is not None:
                feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(next(labels))]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            count += 1
    return count


def tfrecord_source(pattern):
    """Loads `tfrecord:PATTERN` as `DataSplits` of streamed splits (the conventions: this module's docstring).

    Args:
        pattern: str. A glob of TFRecord files, optionally with `{split}`.

    Returns:
        DataSplits whose train, validation and test are `StreamedSplit`s of uint8 images.

    Raises:
        DataError: no file matches; a file belongs to two splits; a record is not a `tf.train.Example`, has no
            single `image`, holds bytes that do not decode, an image of another size than the first, or a label
            that is not one non-negative int64; some records have labels and others not; a file is corrupt; a
            split is empty.
    """
    name = f"tfrecord:{pattern}"
    files, file_splits, held_out = _find_files(pattern, name)
    scan = _scan(files, file_splits, held_out, name)
    splits = {}
    for split in SPLITS:
        # The files that hold the split's records: its own, or the training files it is cut out of.
        candidates = [(path, file_split) for path, file_split in zip(files, file_splits)
                      if file_split == _SPLIT_IDS[split] or (split in held_out and file_split == _SPLIT_IDS["train"])]
        if scan["counts"][split] == 0:
            where = "the hash-held-out share of the training files" if split in held_out else "its files"
            raise DataError(f"The {split} split of {name} is empty ({where} hold no record); expected at least "
                            f"one example: add records or {split} files (a PATTERN with {{split}}). Received: "
                            f"{len(files)} files")
        splits[split] = StreamedSplit(
            name=f"{name} ({split})", read=_reader(candidates, held_out, _SPLIT_IDS[split], scan["shape"]),
            num_examples=scan["counts"][split], num_files=len(candidates), element_shape=scan["shape"],
            dtype="uint8", has_labels=scan["has_labels"], source=_contents([path for path, _ in candidates]))
    return DataSplits(name=name, **splits)


def _contents(paths):
    """A digest of the files' paths, sizes and modification times: what tells a cache of these files from one of
    files rewritten since (`StreamedSplit.source`). Local times in nanoseconds (`tf.io.gfile.stat` rounds them to
    the second there: a file rewritten within the second at the same size would keep its cache); an object store's
    as `tf.io.gfile.stat` gives them."""
    def identity(path):
        if is_local(path):
            stat = os.stat(path)
            return [path, stat.st_size, stat.st_mtime_ns]
        stat = tf.io.gfile.stat(path)
        return [path, stat.length, stat.mtime_nsec]

    return fingerprints.of_json([identity(path) for path in paths])


def _find_files(pattern, name):
    """(sorted files, the split id of each, the held-out splits cut out of the training files)."""
    patterns = ({split: pattern.replace("{split}", split) for split in SPLITS} if "{split}" in pattern
                else {"train": pattern})
    found = {}
    for split, split_pattern in patterns.items():
        try:
            found[split] = sorted(tf.io.gfile.glob(split_pattern))
        except tf.errors.OpError as error:
            raise DataError(f"Cannot list the files of {name} ({error.message}); expected a readable glob of "
                            f"TFRecord files. Received: {split_pattern!r}") from error
    if not found["train"]:
        raise DataError(f"No file matches {patterns['train']!r}; expected TFRecord files of tf.train.Example "
                        f"records (a {{split}} in the pattern stands for train, validation and test). "
                        f"Received: {name}")
    owner = {}
    for split, paths in found.items():
        for path in paths:
            if path in owner:
                raise DataError(f"{path} matches the {owner[path]} and the {split} pattern of {name}; expected "
                                f"each file in one split. Received: {name}")
            owner[path] = split
    files = sorted(owner)
    held_out = tuple(split for split in ("validation", "test") if not found.get(split))
    return files, [_SPLIT_IDS[owner[path]] for path in files], held_out


def _records(files, held_out):
    """tf.data.Dataset of (split id, file index, record index, serialized record) over `files`, a list of (path,
    split id of the file); records of training files that hash into a held-out split get that split's id."""
    def one_file(file_index, path, file_split):
        base_name = tf.strings.regex_replace(path, r".*/", "")

        def assign(index, record):
            split = file_split
            if held_out:
                bucket = tf.strings.to_hash_bucket_fast(
                    tf.strings.join([base_name, tf.strings.as_string(index)], separator=":"), _BUCKETS)
                for held in held_out:
                    low, high = _HELD_OUT_BUCKETS[held]
                    taken = (file_split == _SPLIT_IDS["train"]) & (bucket >= low) & (bucket < high)
                    split = tf.where(taken, _SPLIT_IDS[held], split)
            return split, file_index, index, record

        return tf.data.TFRecordDataset(path).enumerate().map(assign)

    paths = [path for path, _ in files]
    table = tf.data.Dataset.from_tensor_slices((tf.range(len(files), dtype=tf.int64), paths,
                                                [file_split for _, file_split in files]))
    cycle = max(1, min(len(files), _CYCLE_FILES))
    return table.interleave(one_file, cycle_length=cycle, block_length=1, num_parallel_calls=cycle,
                            deterministic=True)


def _reader(files, held_out, split_id, element_shape):
    """The `read` function of a `StreamedSplit` over `files` [(path, split id)] that keeps the records of
    `split_id`."""
    def decode(split, file_index, index, record):
        del split, file_index, index
        features = tf.io.parse_single_example(record, {
            "image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1)})
        image = tf.io.decode_image(features["image"], expand_animations=False)
        return tf.ensure_shape(image, element_shape), features["label"]

    def read(seed=None, num_shards=1, shard_index=0):
        order = list(files)
        if seed is not None:
            order = [order[index] for index in np.random.default_rng(seed).permutation(len(order))]
        records = _records(order[shard_index::num_shards], held_out)
        records = records.filter(lambda split, *_: tf.equal(split, split_id))
        return records.map(decode, num_parallel_calls=PARALLEL_CALLS, deterministic=True)

    return read


def _summaries(files, held_out):
    """Batches of what the loading pass checks per record: split id, file index, record index, number of images,
    image shape (zeros without exactly one image), number of labels, label (-1 without exactly one)."""
    def summary(split, file_index, index, record):
        parsed = tf.io.parse_single_example(record, {"image": tf.io.VarLenFeature(tf.string),
                                                     "label": tf.io.VarLenFeature(tf.int64)})
        images, labels = parsed["image"].values, parsed["label"].values
        shape = tf.cond(tf.size(images) == 1,
                        lambda: tf.shape(tf.io.decode_image(images[0], expand_animations=False)),
                        lambda: tf.zeros([3], tf.int32))
        label = tf.cond(tf.size(labels) == 1, lambda: labels[0], lambda: tf.constant(-1, tf.int64))
        return split, file_index, index, tf.size(images), shape, tf.size(labels), label

    return _records(files, held_out).map(summary, num_parallel_calls=PARALLEL_CALLS,
                                         deterministic=True).batch(_SCAN_BATCH)


def _scan(files, file_splits, held_out, name):
    """The loading pass: {"counts": {split: examples}, "shape": image shape, "has_labels": bool}, or DataError."""
    counts = np.zeros(len(SPLITS), np.int64)
    shape = first = None
    label_state = None  # (has labels, file index, record index) of the first record
    try:
        for batch in _summaries(list(zip(files, file_splits)), held_out).as_numpy_iterator():
            split, file_index, index, num_images, shapes, num_labels, labels = batch
            bad = np.flatnonzero((num_images != 1) | (num_labels > 1) | ((num_labels == 1) & (labels < 0)))
            if bad.size:
                _check_record(files[file_index[bad[0]]], int(index[bad[0]]))
            if shape is None:
                shape, first = tuple(int(d) for d in shapes[0]), (file_index[0], index[0])
                label_state = (bool(num_labels[0]), file_index[0], index[0])
            other = np.flatnonzero(np.any(shapes != np.asarray(shape), axis=1))
            if other.size:
                at = other[0]
                found = tuple(int(d) for d in shapes[at])
                raise DataError(f"Images in {name} differ in size: {files[first[0]]} record {first[1]} is {shape}, "
                                f"{files[file_index[at]]} record {index[at]} is {found}; expected one size (height, "
                                f"width, channels): write the records at one size. Received: {found}")
            mixed = np.flatnonzero((num_labels == 1) != label_state[0])
            if mixed.size:
                at = mixed[0]
                with_label, without_label = ((label_state[1:], (file_index[at], index[at])) if label_state[0]
                                             else ((file_index[at], index[at]), label_state[1:]))
                raise DataError(f"Some records of {name} have a label and others not: {files[with_label[0]]} "
                                f"record {with_label[1]} has one, {files[without_label[0]]} record "
                                f"{without_label[1]} none; expected an int64 `label` on every record or on none. "
                                f"Received: {name}")
            counts += np.bincount(split, minlength=len(SPLITS))
    except _READ_ERRORS as error:
        _locate_error(files, name, error)
    return {"counts": dict(zip(SPLITS, (int(count) for count in counts))), "shape": shape,
            "has_labels": label_state[0]}


def _locate_error(files, name, error):
    """Raises the DataError of the record behind `error` (raised by the loading pass): finds the file whose own
    pass fails, then the record by reading that file one record at a time."""
    for path in files:
        try:
            for _ in _summaries([(path, _SPLIT_IDS["train"])], ()).as_numpy_iterator():
                continue  # reading every record is the check
        except _READ_ERRORS:
            index = -1
            try:
                for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
                    _check_record(path, index, record)
            except tf.errors.DataLossError as loss:
                raise DataError(f"{path} is corrupt or truncated at record {index + 1} ({loss.message}); expected "
                                f"a whole TFRecord file (tf.io.TFRecordWriter). Received: {name}") from error
    raise DataError(f"Cannot read {name}: {error}. Expected TFRecord files of tf.train.Example records with "
                    f"an encoded `image`. Received: {len(files)} files") from error


def _check_record(path, index, record=None):
    """Raises the DataError that says what is wrong with record `index` of `path` (read here when `record` is None);
    returns when nothing is."""
    if record is None:
        record = next(tf.data.TFRecordDataset(path).skip(index).take(1).as_numpy_iterator())
    where = f"{path} record {index}"
    try:
        example = tf.train.Example.FromString(record)
    except DecodeError as error:
        raise DataError(f"{where} is not a tf.train.Example ({error}); expected serialized tf.train.Example "
                        f"records. Received: {len(record)} bytes") from error
    feature = example.features.feature
    kinds = {key: value.WhichOneof("kind") for key, value in feature.items()}
    if "image" not in feature or kinds["image"] != "bytes_list" or len(feature["image"].bytes_list.value) != 1:
        values = (len(getattr(feature["image"], kinds["image"]).value) if kinds.get("image") else 0)
        raise DataError(f"{where} has no single encoded image: expected one PNG or JPEG in the bytes feature "
                        f"`image`. Received: features {kinds}, {values} value(s) under `image`")
    if "label" in feature:
        labels = list(feature["label"].int64_list.value)
        if kinds["label"] != "int64_list" or len(labels) != 1 or labels[0] < 0:
            raise DataError(f"{where} has a bad label: expected one non-negative class index in the int64 "
                            f"feature `label`. Received: {kinds['label']} {labels or ''}".rstrip())
    encoded = feature["image"].bytes_list.value[0]
    try:
        tf.io.decode_image(encoded, expand_animations=False)
    except tf.errors.OpError as error:
        raise DataError(f"Cannot decode the image of {where}: {error.message}. Expected PNG, JPEG, GIF or BMP "
                        f"bytes. Received: {len(encoded)} bytes starting {encoded[:8]!r}") from error
