"""TF Serving's REST predict format: JSON request bodies to NumPy inputs, outputs back to JSON.

Row ("instances") form: a list with one entry per row; an entry is an object {input: value} or, for a signature
with a single input, the value itself; the answer is {"predictions": [...]}, one entry per row (an object when the
signature has several outputs). Columnar ("inputs") form: {input: whole tensor} or, for a single input, the tensor;
the answer is {"outputs": ...}, an object when there are several outputs.
"""
import json

import numpy as np

from serving.errors import ServingError

_INT_RANGES = {np.dtype(t): (np.iinfo(t).min, np.iinfo(t).max) for t in (np.int8, np.int16, np.int32, np.int64,
                                                                          np.uint8, np.uint16, np.uint32)}


def parse_predict_request(body, input_specs_for):
    """Parses a predict request body.

    Args:
        body: bytes. The HTTP request body.
        input_specs_for: callable signature_name -> {input name: tf.TensorSpec} (raises ServingError when unknown).

    Returns:
        (signature_name, {input name: np.ndarray}, columnar: bool).
    """
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ServingError("INVALID_ARGUMENT", f"The request body must be JSON. Received: {error}") from None
    except RecursionError:
        raise ServingError("INVALID_ARGUMENT", "The request body nests too deeply to be a tensor.") from None
    if not isinstance(request, dict):
        raise ServingError("INVALID_ARGUMENT", f"The request body must be a JSON object with 'instances' or "
                                               f"'inputs'. Received: {type(request).__name__}")
    has_rows, has_columns = "instances" in request, "inputs" in request
    if has_rows == has_columns:
        raise ServingError("INVALID_ARGUMENT", "The request must have exactly one of 'instances' (row format) or "
                                               f"'inputs' (columnar format). Received keys: {sorted(request)}")
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise ServingError("INVALID_ARGUMENT", f"'signature_name' must be a string. Received: {signature_name!r}")
    specs = input_specs_for(signature_name)
    if has_rows:
        columns = _columns_from_rows(request["instances"], specs)
    else:
        columns = request["inputs"]
        if not isinstance(columns, dict):  # a bare tensor: the value of the signature's only input
            if len(specs) != 1:
                raise ServingError("INVALID_ARGUMENT", f"'inputs' must be an object with the inputs {sorted(specs)}. "
                                                       f"Received: {_describe(columns)}")
            columns = {next(iter(specs)): columns}
    inputs = {name: _to_array(name, value, specs[name].dtype.as_numpy_dtype) if name in specs else value
              for name, value in columns.items()}
    return signature_name, inputs, has_columns


def format_predict_response(outputs, columnar):
    """The JSON text of {"outputs": ...} (columnar) or {"predictions": [...]} (row form) for {name: np.ndarray}."""
    names = list(outputs)
    if columnar:
        if len(names) == 1:
            return '{"outputs": ' + json_text(outputs[names[0]]) + "}"
        return '{"outputs": {' + ", ".join(f"{json.dumps(n)}: {json_text(outputs[n])}" for n in names) + "}}"
    if len(names) == 1:
        return '{"predictions": ' + json_text(outputs[names[0]]) + "}"
    count = len(outputs[names[0]])
    rows = ("{" + ", ".join(f"{json.dumps(n)}: {json_text(outputs[n][i])}" for n in names) + "}" for i in range(count))
    return '{"predictions": [' + ", ".join(rows) + "]}"


def json_text(array):
    """JSON text of a numeric array as nested lists.

    float32 values are written with 9 significant digits, which reads back to the same float32, instead of the
    17 digits of Python's float repr: about 3x faster to produce, and encoding dominates a REST answer's cost.
    Non-finite values fall back to Python's encoder (NaN, Infinity, as TF Serving writes them).
    """
    array = np.asarray(array)
    if array.size == 0 or array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and
                                                             not np.isfinite(array).all()):
        return json.dumps(array.tolist())
    values = array.ravel().tolist()
    if array.dtype.kind == "f":
        pattern = "%.9g" if array.dtype.itemsize <= 4 else "%.17g"
        texts = [pattern % value for value in values]
    elif array.dtype.kind == "b":
        texts = ["true" if value else "false" for value in values]
    else:
        texts = [str(value) for value in values]
    for size in reversed(array.shape):  # group the flat texts into nested lists, innermost dimension first
        texts = ["[" + ",".join(texts[i:i + size]) + "]" for i in range(0, len(texts), size)]
    return texts[0]


def _columns_from_rows(instances, specs):
    if not isinstance(instances, list) or not instances:
        raise ServingError("INVALID_ARGUMENT", f"'instances' must be a non-empty list with one entry per row. "
                                               f"Received: {_describe(instances)}")
    if all(isinstance(row, dict) for row in instances):
        names = set(instances[0])
        if any(set(row) != names for row in instances):
            raise ServingError("INVALID_ARGUMENT", "Every entry of 'instances' must name the same inputs.")
        return {name: [row[name] for row in instances] for name in names}
    if len(specs) != 1 or any(isinstance(row, dict) for row in instances):
        raise ServingError("INVALID_ARGUMENT", f"Entries of 'instances' must be objects naming the inputs "
                                               f"{sorted(specs)} (plain values only work for one input).")
    return {next(iter(specs)): instances}


def _to_array(name, value, dtype):
    dtype = np.dtype(dtype)
    try:
        array = np.asarray(value)
    except ValueError:  # NumPy refuses inhomogeneous nesting
        raise ServingError("INVALID_ARGUMENT", f"Input {name!r} is ragged: every row must have the same shape.") \
            from None
    integer = dtype.kind in "iu"
    kinds = "iu" if integer else "iuf"
    if array.dtype.kind not in kinds or array.dtype == np.bool_:
        what = "integers" if integer else "numbers"
        raise ServingError("INVALID_ARGUMENT", f"Input {name!r} must hold {what} ({dtype.name}), in a rectangular "
                                               f"nested list. Received: {_describe(value)}")
    if integer and array.size:
        low, high = _INT_RANGES[dtype]
        if array.min() < low or array.max() > high:
            raise ServingError("INVALID_ARGUMENT", f"Input {name!r} has values outside the {dtype.name} range "
                                                   f"[{low}, {high}].")
    return array.astype(dtype)


def _describe(value, limit=80):
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."
