"""One loaded version of a SavedModel: its signatures, their metadata, and validated calls."""
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.errors import ServingError

DEFAULT_SIGNATURE = "serving_default"


def read_signature_defs(version_dir):
    """The SignatureDefMap proto of `version_dir/saved_model.pb` (what TF Serving's metadata API returns)."""
    path = os.path.join(version_dir, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved.ParseFromString(f.read())
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in saved.meta_graphs[0].signature_def.items():
        signature_defs.signature_def[name].CopyFrom(signature)
    return signature_defs


def metadata_answer(model_name, version, signature_defs):
    """TF Serving's metadata answer as a dict (signature_def nested twice, as the REST API prints it)."""
    from google.protobuf import json_format

    return {"model_spec": {"name": model_name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": json_format.MessageToDict(signature_defs,
                                                                    preserving_proto_field_name=True)}}


class Servable:
    """A SavedModel version loaded with TensorFlow alone, called with NumPy inputs.

    Inputs are checked against each signature's named `TensorSpec`s before the call, so a bad request gets a message
    that names the expected dtype and shape; errors the model raises itself (its INVALID_ARGUMENT checks) come back
    as `ServingError`s with the same code.

    Args:
        version_dir: str. BASE/MODEL_NAME/VERSION.
        max_rows: int. Requests whose inputs have more rows (dimension 0) are refused with INVALID_ARGUMENT.
    """

    def __init__(self, version_dir, max_rows):
        self.version_dir = version_dir
        self.version = int(os.path.basename(os.path.normpath(version_dir)))
        self.max_rows = int(max_rows)
        self._loaded = tf.saved_model.load(version_dir)
        self.signatures = dict(self._loaded.signatures)
        self.signature_defs = read_signature_defs(version_dir)

    def input_specs(self, signature_name):
        """{input name: tf.TensorSpec} of one signature."""
        return dict(self._signature(signature_name).structured_input_signature[1])

    def predict(self, signature_name, inputs, output_filter=()):
        """Calls one signature with {name: np.ndarray}; returns {output name: np.ndarray}."""
        function = self._signature(signature_name)
        specs = self.input_specs(signature_name)
        missing, unexpected = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
        if missing or unexpected:
            raise ServingError("INVALID_ARGUMENT", f"Signature {signature_name!r} takes inputs {sorted(specs)}; "
                                                   f"missing {missing}, unexpected {unexpected}.")
        tensors = {name: self._checked(signature_name, name, np.asarray(value), specs[name])
                   for name, value in inputs.items()}
        unknown = sorted(set(output_filter) - set(function.structured_outputs))
        if unknown:
            raise ServingError("INVALID_ARGUMENT", f"output_filter names outputs {unknown} that signature "
                                                   f"{signature_name!r} does not have; it has "
                                                   f"{sorted(function.structured_outputs)}.")
        try:
            outputs = function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise ServingError("INVALID_ARGUMENT", error.message.strip()) from error
        return {name: value.numpy() for name, value in outputs.items() if not output_filter or name in output_filter}

    def _signature(self, signature_name):
        name = signature_name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise ServingError("INVALID_ARGUMENT", f"Serving signature name: {name!r} not found in signature def; "
                                                   f"available: {sorted(self.signatures)}.")
        return self.signatures[name]

    def _checked(self, signature_name, name, value, spec):
        expected = f"{spec.dtype.name} of shape {_shape_text(spec.shape)}"
        if value.dtype != spec.dtype.as_numpy_dtype:
            raise ServingError("INVALID_ARGUMENT", f"Input {name!r} of signature {signature_name!r} must be "
                                                   f"{expected}. Received: dtype {value.dtype}.")
        if not spec.shape.is_compatible_with(value.shape):
            raise ServingError("INVALID_ARGUMENT", f"Input {name!r} of signature {signature_name!r} must be "
                                                   f"{expected}{_mismatch(spec.shape, value.shape)}. Received: "
                                                   f"shape {list(value.shape)}.")
        if value.ndim and value.shape[0] > self.max_rows:
            raise ServingError("INVALID_ARGUMENT", f"Input {name!r}: at most {self.max_rows} rows per request are "
                                                   f"served; split the request. Received: {value.shape[0]} rows.")
        return tf.constant(value)


def _shape_text(shape):
    """A signature's input shape as a reader writes it: [B, 3] for (None, 3), "any" for an unknown rank."""
    if shape.rank is None:
        return "any"
    sizes = shape.as_list()
    return "[" + ", ".join("B" if index == 0 and size is None else "?" if size is None else str(size)
                           for index, size in enumerate(sizes)) + "]"


def _mismatch(expected, received):
    """What differs between a signature's input shape and a received one: the rank, or the first fixed dimension of
    another size (a latent width, an image size), as " (...)"; "" when they agree."""
    if expected.rank is None:
        return ""
    if expected.rank != len(received):
        return f" ({expected.rank} dimensions)"
    for index, (size, found) in enumerate(zip(expected.as_list(), received)):
        if size is not None and size != found:
            return f" (dimension {index} must be {size})"
    return ""
