"""A TF Serving gRPC client (tensorflow-serving-api stubs): status, metadata, predict."""
import grpc
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from serving.errors import HTTP_STATUS, ServingError
from serving.servable import metadata_answer


class GrpcClient:
    """Talks to `tensorflow_model_server --port` or `serving.dev_server` over gRPC.

    Args:
        address: str. HOST:PORT of the gRPC API. Defaults to 127.0.0.1:8500.
        timeout: float. Seconds to wait for an answer. Defaults to 60.
    """

    def __init__(self, address="127.0.0.1:8500", timeout=60.0):
        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", -1)])
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def status(self, model_name, version=None):
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model_name, version)
        response = self._rpc(self._models.GetModelStatus, request)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def metadata(self, model_name, version=None):
        """The same dict as the REST metadata answer (signature_def nested twice)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model_name, version)
        response = self._rpc(self._predictions.GetModelMetadata, request)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_defs)
        return metadata_answer(response.model_spec.name, response.model_spec.version.value, signature_defs)

    def predict(self, model_name, inputs, signature_name="serving_default", version=None):
        """Sends {input name: array} as TensorProtos; returns {output name: np.ndarray}."""
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model_name, version)
        request.model_spec.signature_name = signature_name
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self._rpc(self._predictions.Predict, request)
        return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}

    def close(self):
        self._channel.close()

    @staticmethod
    def _spec(spec, model_name, version):
        spec.name = model_name
        if version is not None:
            spec.version.value = int(version)

    def _rpc(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code().name if error.code().name in HTTP_STATUS else "INTERNAL"
            raise ServingError(code, f"gRPC {error.code().name} from {self.address}: {error.details()}") from None
