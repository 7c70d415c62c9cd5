"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`, a TFRecord of PredictionLog protos that
the model server replays before it marks a version available, so the first client request does not pay for graph
initialization."""
import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

WARMUP_FILE = "tf_serving_warmup_requests"


def warmup_inputs(signatures, latent_dim, example_shape, rows=2):
    """One small, valid request per signature: {signature name: {input name: array}}."""
    requests = {}
    for name in signatures:
        if name.startswith("sample"):
            requests[name] = {"seed": np.stack([np.zeros(rows, np.int32), np.arange(rows, dtype=np.int32)], 1)}
        elif name == "decode":
            requests[name] = {"latents": np.zeros((rows, latent_dim), np.float32)}
        else:  # encode, reconstruct
            requests[name] = {"images": np.full((rows, *example_shape), 0.5, np.float32)}
    return requests


def write_warmup_requests(version_dir, model_name, requests):
    """Writes `requests` ({signature: {input: array}}) as PredictionLog records into VERSION/assets.extra."""
    directory = os.path.join(version_dir, "assets.extra")
    os.makedirs(directory, exist_ok=True)
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
