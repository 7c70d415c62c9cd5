"""Reads the tensors of a PyTorch zip archive (TorchScript `.pt` or `torch.save` `.pth`) with the standard library
and NumPy: no torch import.

A PyTorch zip holds `ARCHIVE/data.pkl` (a pickle of the module tree or state dict, whose tensors refer to raw
storages by persistent id) and the storages as little-endian files `ARCHIVE/data/KEY`. The unpickler below rebuilds
module objects as plain attribute holders and tensors as NumPy arrays; any other class in the pickle is refused,
so a crafted archive cannot run code.
"""
import collections
import pickle
import zipfile

import numpy as np

_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class TorchModule:
    """A module of a TorchScript archive: its pickled attributes (sub-modules, arrays, ints) as a dict.

    The pickle creates one subclass per TorchScript class; `class_name` is the TorchScript qualified name.
    """

    class_name = "TorchModule"
    attributes = {}

    def __setstate__(self, state):
        self.attributes = dict(state)

    def __getitem__(self, name):
        return self.attributes[name]


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """A strided view of a storage, copied into a contiguous array."""
    if not size:
        return storage[offset].copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.ascontiguousarray(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return type(name, (TorchModule,), {"class_name": f"{module}.{name}"})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch.jit._pickle" and name.startswith("build_") and name.endswith("list"):
            return list  # TorchScript's typed lists (intlist, doublelist, ...) of module attributes
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"Unexpected class {module}.{name} in a PyTorch archive; only modules, tensors "
                                     f"and state dicts are read.")

    def persistent_load(self, pid):
        kind, storage_type, key, _, count = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"Unexpected persistent id {pid!r}")
        raw = self._archive.read(f"{self._prefix}/data/{key}")
        return np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"), count=count).astype(storage_type.dtype)


def load(path):
    """Returns the unpickled root object of a PyTorch zip archive (a TorchModule tree or a dict of arrays)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a PyTorch zip archive (.pt / .pth saved by torch >= 1.6): {error}") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path} holds no single ARCHIVE/data.pkl; not a PyTorch archive. Received entries: "
                             f"{archive.namelist()[:5]}")
        prefix = pickles[0].split("/")[0]
        with archive.open(pickles[0]) as f:
            return _Unpickler(f, archive, prefix).load()
