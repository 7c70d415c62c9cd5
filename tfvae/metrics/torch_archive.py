"""Reads the tensors of a PyTorch file (TorchScript `.pt`, or `torch.save` `.pth` in the zip or the legacy format)
with the standard library and NumPy: no torch import.

Zip format (torch >= 1.6): `ARCHIVE/data.pkl` is a pickle of the module tree or state dict whose tensors refer to
raw storages by persistent id; the storages are little-endian files `ARCHIVE/data/KEY`. Legacy format (torch < 1.6,
e.g. pytorch-fid's 2019 weights file): consecutive pickles of a magic number, a protocol version and system info,
then the object pickle, then the list of storage keys, then each storage as an int64 element count followed by its
raw little-endian bytes. The unpickler rebuilds module objects as plain attribute holders and tensors as NumPy
arrays; any other class in the pickle is refused, so a crafted file cannot run code.
"""
import collections
import pickle
import struct
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


class _LazyStorage:
    """A storage of the legacy format, whose bytes come after the object pickle."""

    def __init__(self, dtype, count):
        self.dtype, self.count, self.array = dtype, count, None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_any(storage, offset, size, stride, *unused):
    if isinstance(storage, _LazyStorage):
        return _LazyTensor(storage, offset, size, stride)
    return _rebuild_tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive=None, prefix=None):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self.lazy_storages = {}

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return type(name, (TorchModule,), {"class_name": f"{module}.{name}"})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_any
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch.jit._pickle" and name.startswith("build_") and name.endswith("list"):
            return list  # TorchScript's typed lists (intlist, doublelist, ...) of module attributes
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"Unexpected class {module}.{name} in a PyTorch archive; only modules, tensors "
                                     f"and state dicts are read.")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"Unexpected persistent id {pid!r}")
        storage_type, key, count = pid[1], str(pid[2]), pid[4]
        if self._archive is None:  # legacy format: the bytes follow the object pickle
            if key not in self.lazy_storages:
                self.lazy_storages[key] = _LazyStorage(storage_type.dtype, count)
            return self.lazy_storages[key]
        raw = self._archive.read(f"{self._prefix}/data/{key}")
        return np.frombuffer(raw, dtype=storage_type.dtype.newbyteorder("<"), count=count).astype(storage_type.dtype)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _resolve(value):
    """Replaces the legacy format's lazy tensors by arrays, inside dicts, lists and modules."""
    if isinstance(value, _LazyTensor):
        return _rebuild_tensor(value.storage.array, value.offset, value.size, value.stride)
    if isinstance(value, dict):
        for key in value:
            value[key] = _resolve(value[key])
    elif isinstance(value, list):
        value[:] = [_resolve(item) for item in value]
    elif isinstance(value, TorchModule):
        _resolve(value.attributes)
    return value


class _PlainUnpickler(pickle.Unpickler):
    """For the legacy header pickles: plain values only, no class or function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"Unexpected class {module}.{name} in a legacy torch.save header.")


def _load_legacy(path):
    with open(path, "rb") as f:
        try:
            magic = _PlainUnpickler(f).load()
        except Exception as error:  # noqa: BLE001 - any garbage
            raise ValueError(f"{path} is neither a PyTorch zip archive nor a legacy torch.save file: {error}") \
                from None
        if magic != _LEGACY_MAGIC:
            raise ValueError(f"{path} is neither a PyTorch zip archive nor a legacy torch.save file (magic number "
                             f"{magic!r}).")
        _PlainUnpickler(f).load()  # protocol version
        _PlainUnpickler(f).load()  # system info (byte order, type sizes)
        unpickler = _Unpickler(f)
        root = unpickler.load()
        for key in _PlainUnpickler(f).load():
            (count,) = struct.unpack("<q", f.read(8))
            storage = unpickler.lazy_storages.get(str(key))
            if storage is None:
                raise ValueError(f"{path}: storage {key!r} is listed but never used; the file is corrupt.")
            raw = f.read(count * storage.dtype.itemsize)
            if len(raw) != count * storage.dtype.itemsize:
                raise ValueError(f"{path} is truncated: storage {key!r} is incomplete.")
            storage.array = np.frombuffer(raw, storage.dtype.newbyteorder("<")).astype(storage.dtype)
    return _resolve(root)


def load(path):
    """Returns the unpickled root object of a PyTorch file (a TorchModule tree or a dict of arrays).

    `path` is a local file (the FID weights ship in an installed Python package): the standard library's zipfile
    and pickle read it, not `tf.io.gfile`."""
    if not zipfile.is_zipfile(path):
        return _load_legacy(path)
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
