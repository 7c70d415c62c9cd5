"""Writes PyTorch state-dict files (zip and legacy torch.save formats) without torch, for the reader's tests.

The pickles name `torch.FloatStorage` and `torch._utils._rebuild_tensor_v2` as torch does; stand-in modules are
registered under those names while pickling only, so the bytes match what torch writes for a dict of float tensors.
"""
import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class FloatStorage:
    pass


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        return _rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), strides, False, collections.OrderedDict())


def _rebuild_tensor_v2(*args):
    raise AssertionError("only pickled, never called")


@contextlib.contextmanager
def _fake_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_state_dict(path, state, legacy=False):
    """Writes {name: float32 array} as torch.save would (zip format, or the pre-1.6 legacy format)."""
    storages = []
    tensors = collections.OrderedDict()
    for name, array in state.items():
        storage = _Storage(str(len(storages)), np.ascontiguousarray(array, np.float32))
        storages.append(storage)
        tensors[name] = _Tensor(storage, array.shape)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.array.size) + ((None,) if legacy else ())
            return None

    with _fake_torch():
        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(tensors)
    if legacy:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(buffer.getvalue())
            pickle.dump([s.key for s in storages], f, protocol=2)
            for storage in storages:
                f.write(struct.pack("<q", storage.array.size))
                f.write(storage.array.astype("<f4").tobytes())
        return
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/data.pkl", buffer.getvalue())
        for storage in storages:
            archive.writestr(f"weights/data/{storage.key}", storage.array.astype("<f4").tobytes())
