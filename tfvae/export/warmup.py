"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`, a TFRecord of PredictionLog protos that
the model server replays before it marks a version available, so the first client request does not pay for graph
initialization."""
import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

WARMUP_FILE = "tf_serving_warmup_requests"


# The inputs of each endpoint of export/saved_model.py (samplers share `sample`'s).
_INPUTS = {"sample": ("seed",), "decode": ("latents",), "encode": ("images",), "reconstruct": ("images",),
           "interpolate": ("seed_a", "seed_b", "t"), "interpolate_images": ("images_a", "images_b", "t"),
           "traverse": ("seed", "dimension", "offset"), "traverse_images": ("images", "dimension", "offset"),
           "score": ("images",), "score_likelihood": ("images", "seed", "num_importance")}


def warmup_inputs(signatures, latent_dim, example_shape, rows=2):
    """One small, valid request per signature: {signature name: {input name: array}}."""
    seeds = np.stack([np.zeros(rows, np.int32), np.arange(rows, dtype=np.int32)], 1)
    values = {"seed": seeds, "seed_a": seeds, "seed_b": seeds + 1,
              "latents": np.zeros((rows, latent_dim), np.float32),
              "images": np.full((rows, *example_shape), 0.5, np.float32),
              "images_a": np.full((rows, *example_shape), 0.25, np.float32),
              "images_b": np.full((rows, *example_shape), 0.75, np.float32),
              "t": np.linspace(0.0, 1.0, rows).astype(np.float32), "dimension": np.zeros(rows, np.int32),
              "offset": np.linspace(-1.0, 1.0, rows).astype(np.float32),
              "num_importance": np.full(rows, 2, np.int32)}
    requests = {}
    for name in signatures:
        inputs = _INPUTS["sample" if name.startswith("sample_") else name]
        requests[name] = {key: values[key] for key in inputs}
    return requests


def write_warmup_requests(version_dir, model_name, requests):
    """Writes `requests` ({signature: {input: array}}) as PredictionLog records into VERSION/assets.extra."""
    directory = os.path.join(version_dir, "assets.extra")
    tf.io.gfile.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(directory, WARMUP_FILE)) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def read_warmup_requests(version_dir):
    """Parses the warmup file back into [(signature, {input: array})] (what TF Serving replays)."""
    path = os.path.join(version_dir, "assets.extra", WARMUP_FILE)
    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        requests.append((request.model_spec.signature_name,
                         {key: tf.make_ndarray(value) for key, value in request.inputs.items()}))
    return requests
