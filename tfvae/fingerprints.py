"""Content fingerprints of weights and files: what the jobs compare to skip work whose inputs did not change (a
re-run of a finished job refits no density and exports no new SavedModel version)."""
import hashlib
import json
import os

import numpy as np
import tensorflow as tf


def of_arrays(named_arrays):
    """SHA-256 (hex) of (name, dtype, shape, bytes) of every array, in the given order.

    Args:
        named_arrays: iterable of (str, array-like).
    """
    digest = hashlib.sha256()
    for name, value in named_arrays:
        array = np.ascontiguousarray(np.asarray(value))
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode("utf-8"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def of_variables(variables):
    """SHA-256 (hex) of the values of TensorFlow or Keras variables by position (with shapes, so the same numbers
    in other places differ). Names are left out: Keras numbers layer names per process ("dense_7"), so the same
    model built in two processes has other names but the same variable order."""
    return of_arrays((str(index), np.asarray(v)) for index, v in enumerate(variables))


def of_file(path, chunk_bytes=1 << 20):
    """SHA-256 (hex) of a file's bytes (on any filesystem `tf.io.gfile` reads)."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def of_json(value):
    """SHA-256 (hex) of a JSON-serializable value, independent of dict key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def of_sources(paths):
    """SHA-256 (hex) of the Python source files at `paths` (files, or folders searched recursively), each by its
    path relative to the folder it was found in and its bytes: which version of the code a kept result came from.
    Hidden files (an editor's lock or backup files) and anything that is not a regular file are left out.

    Args:
        paths: sequence of str.
    """
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted((os.path.relpath(os.path.join(folder, name), path), os.path.join(folder, name))
                            for folder, _, names in os.walk(path) for name in names
                            if name.endswith(".py") and not name.startswith(".")
                            and os.path.isfile(os.path.join(folder, name)))
        else:
            found.append((os.path.basename(path), path))
    digest = hashlib.sha256()
    for name, path in found:
        with open(path, "rb") as f:
            digest.update(json.dumps([name, os.path.getsize(path)]).encode("utf-8") + f.read())
    return digest.hexdigest()
