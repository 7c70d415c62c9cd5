"""Reader for the IDX format of MNIST and Fashion-MNIST, with clear errors for missing or corrupt files.

IDX layout: a 4-byte magic number `0x00 0x00 TYPE NDIM`, then NDIM big-endian uint32 sizes, then the data in C
order. MNIST-style files hold uint8 data (TYPE 0x08) and are usually gzip-compressed. Files are read and written
through `tf.io.gfile`: local paths and any URL TensorFlow reads (gs://, ram://, ...).
"""
import gzip
import zlib

import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.files import atomic_write, read_bytes

_UINT8 = 0x08


def read_idx(path, expected_ndim=None, expected_trailing_shape=None):
    """Reads a (possibly gzipped) uint8 IDX file into a NumPy array.

    Args:
        path: str. File path or URL; a name ending in `.gz` is decompressed.
        expected_ndim: int or None. Number of dimensions the file must have (3 for images, 1 for labels).
        expected_trailing_shape: tuple or None. The shape of one element, e.g. (28, 28) for Fashion-MNIST images.

    Returns:
        np.ndarray of dtype uint8 with the shape stored in the header.

    Raises:
        DataError: the file is missing, not valid gzip, has a wrong magic number, or its size or shape does not match
            its header or the expectation.
    """
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise DataError(f"IDX file not found: {path}. Expected an MNIST-style IDX file (optionally .gz). "
                        f"For Fashion-MNIST run `apt-get install -y dataset-fashion-mnist` or pass --data_dir. "
                        f"Received: path={path!r}")
    raw = read_bytes(path)
    try:
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"Cannot decompress {path}: it is not a valid gzip file ({error}). Expected a gzip-compressed "
                        f"IDX file; re-download or reinstall the data set. Received: {len(raw)} bytes") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UINT8:
        raise DataError(f"{path} is not a uint8 IDX file: expected the magic number 0x0000 08 NN (NN = number of "
                        f"dimensions). Received: magic bytes {raw[:4].hex() or '(empty file)'}")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path} is truncated inside its header: expected {header_size} header bytes. "
                        f"Received: {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path} has {ndim} dimensions, expected {expected_ndim}. Received: shape {shape}")
    if expected_trailing_shape is not None and shape[1:] != tuple(expected_trailing_shape):
        raise DataError(f"{path} holds elements of shape {shape[1:]}, expected {tuple(expected_trailing_shape)}. "
                        f"Received: shape {shape}")
    size = int(np.prod(shape))
    if len(raw) - header_size != size:
        raise DataError(f"{path} holds {len(raw) - header_size} data bytes but its header {shape} promises {size}: "
                        f"the file is truncated or corrupt. Received: {len(raw)} bytes in all")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def write_idx(path, array):
    """Writes a uint8 array as an IDX file (gzip-compressed if `path` ends in .gz), atomically
    (`tfvae.files.atomic_write`). Used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UINT8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if path.endswith(".gz"):
        payload = gzip.compress(payload)
    atomic_write(path, payload)
