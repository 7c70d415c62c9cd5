"""A development server that speaks TF Serving's REST and gRPC APIs for tfvae SavedModels.

    python -m serving.dev_server --model_name=NAME --model_base_path=BASE/NAME [--rest_api_port=8501] [--port=8500]
    python -m serving.dev_server --model_config_file=models.config

The flags are those of `tensorflow_model_server`, so the same command line works with either. This is a server for
development and tests on machines where the model server cannot be installed: it loads the same SavedModel with
TensorFlow and answers the same requests (model status, metadata, predict in row and columnar form, TF Serving's
`{"error": ...}` format), but it has no request batching, no GPU scheduling and no monitoring. Deploy with
TensorFlow Serving (docs/serving.md).

It binds 127.0.0.1 unless --host says otherwise, refuses bodies over --max_request_bytes and requests over
--max_samples rows, answers concurrent requests (at most --rest_api_num_threads model calls at a time), polls the
base paths for new versions every --file_system_poll_wait_seconds, and answers every bad request with an error
instead of stopping. Starts in a few seconds (TensorFlow import plus one SavedModel load); a wrong command line is
answered before TensorFlow is imported.
"""
import json
import os
import re
import signal
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from absl import app, flags, logging

from serving.errors import ServingError
from serving.rest_json import format_predict_response, parse_predict_request

_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?:/labels/(?P<label>[^/:]+))?"
                    r"(?P<suffix>/metadata|:predict|:classify|:regress)?$")


def parse_model_config(text, relative_to="."):
    """Reads a text-format ModelServerConfig into {name: {"base_path", "policy"}} for `ModelManager`.

    Args:
        text: str. The config, as `serving.config` writes it.
        relative_to: str. The folder a relative base_path is taken from (the config file's); absolute paths and
            URLs (gs://, ram://) are used as they are. Defaults to ".".

    Returns:
        dict name -> {"base_path": str, "policy": dict} (policies as in `serving.model_manager.wanted_versions`).
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ValueError(f"The model config file is not a text-format ModelServerConfig: {error}") from None
    if not config.model_config_list.config:
        raise ValueError("The model config file lists no models: expected model_config_list { config { name: ... "
                         "base_path: ... } }.")
    models = {}
    for model in config.model_config_list.config:
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"Model {model.name!r}: only model_platform 'tensorflow' is served. "
                             f"Received: {model.model_platform!r}")
        policy = model.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "specific":
            parsed = {"specific": list(policy.specific.versions)}
        elif kind == "all":
            parsed = {"all": True}
        else:
            parsed = {"latest": policy.latest.num_versions or 1}
        base_path = model.base_path if "://" in model.base_path else os.path.join(relative_to, model.base_path)
        models[model.name] = {"base_path": base_path, "policy": parsed}
    return models


def read_model_config(path):
    """Reads the text-format ModelServerConfig file `path` (local, or any URL `tf.io.gfile` reads: gs://, ram://)
    with `parse_model_config`, relative base paths taken from the file's folder.

    Args:
        path: str. The file given as --model_config_file.

    Returns:
        dict name -> {"base_path": str, "policy": dict}.

    Raises:
        FileNotFoundError: no file at `path`.
    """
    import tensorflow as tf

    from tfvae import files

    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise FileNotFoundError(f"No model config file at {path}: expected a text-format ModelServerConfig "
                                f"(python -m serving.config writes models.config). Received: {path!r}")
    return parse_model_config(files.read_text(path), os.path.dirname(files.absolute(path)))


class _HTTPServer(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 resets connections when more clients connect at once (seen with 32
    # concurrent clients in benchmarks/serving.py); the kernel caps this at net.core.somaxconn.
    request_queue_size = 1024
    daemon_threads = True


class DevServer:
    """REST and gRPC front ends over one `ModelManager`.

    Args:
        manager: ModelManager.
        host: str. Interface to bind. Defaults to 127.0.0.1.
        rest_port: int or None. REST port (0 picks a free one; None: no REST).
        grpc_port: int or None. gRPC port (0 picks a free one; None: no gRPC).
        max_request_bytes: int. Larger request bodies are refused (HTTP 413 / RESOURCE_EXHAUSTED).
        num_threads: int. Model calls running at the same time; more requests wait.
    """

    def __init__(self, manager, host="127.0.0.1", rest_port=8501, grpc_port=8500, max_request_bytes=16 << 20,
                 num_threads=16):
        self.manager = manager
        self.max_request_bytes = int(max_request_bytes)
        self._slots = threading.BoundedSemaphore(num_threads)
        self._http = self._grpc = None
        self.rest_port = self.grpc_port = None
        if rest_port is not None:
            handler = type("Handler", (_RestHandler,), {"server_state": self})
            self._http = _HTTPServer((host, rest_port), handler)
            self.rest_port = self._http.server_address[1]
            threading.Thread(target=self._http.serve_forever, daemon=True, name="rest").start()
        if grpc_port is not None:
            self._grpc, self.grpc_port = _start_grpc(self, host, grpc_port, num_threads)

    def predict(self, name, version, signature_name, inputs=None, body=None, output_filter=()):
        """Runs one predict request; REST passes the JSON `body`, gRPC the decoded `inputs`."""
        servable = self.manager.get(name, version)
        columnar = None
        if body is not None:
            signature_name, inputs, columnar = parse_predict_request(body, servable.input_specs)
        with self._slots:
            outputs = servable.predict(signature_name, inputs, output_filter)
        return servable, signature_name, outputs, columnar

    def shutdown(self):
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=1.0)
        self.manager.close()


class _RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state = None  # the DevServer, set on the subclass built in DevServer.__init__
    timeout = 60  # seconds a client may take to send its request

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        self._answer(self._get)

    def do_POST(self):  # noqa: N802
        self._answer(self._post)

    def _unsupported(self):
        def refuse(route):
            raise ServingError("UNIMPLEMENTED", f"{self.command} is not served; use GET for status and metadata, "
                                                f"POST for :predict.")
        self._answer(refuse)

    do_PUT = do_DELETE = do_PATCH = _unsupported  # noqa: N815 - the names http.server dispatches to

    def _get(self, route):
        if route["suffix"] == "/metadata":
            servable = self.server_state.manager.get(route["name"], route["version"])
            from serving.servable import metadata_answer  # imports TensorFlow, loaded by now with the manager

            return metadata_answer(route["name"], servable.version, servable.signature_defs)
        if route["suffix"] is None:
            return self.server_state.manager.status(route["name"], route["version"])
        raise ServingError("INVALID_ARGUMENT", f"{route['suffix']} takes POST requests.")

    def _post(self, route):
        if route["suffix"] in (":classify", ":regress"):
            raise ServingError("UNIMPLEMENTED", f"{route['suffix'][1:]} is not served: tfvae SavedModels have "
                                                f"predict signatures only.")
        if route["suffix"] != ":predict":
            raise ServingError("INVALID_ARGUMENT", f"POST requests go to /v1/models/NAME[/versions/V]:predict. "
                                                   f"Received: {self.path}")
        body = self._read_body()
        _, _, outputs, columnar = self.server_state.predict(route["name"], route["version"], None, body=body)
        return format_predict_response(outputs, columnar)

    def _answer(self, action):
        try:
            match = _ROUTE.match(self.path.split("?", 1)[0])
            if match is None:
                raise ServingError("NOT_FOUND", f"Malformed request: {self.command} {self.path}; expected "
                                                f"/v1/models/NAME[/versions/V][/metadata|:predict].")
            route = match.groupdict()
            if route["label"] is not None:
                raise ServingError("INVALID_ARGUMENT", "Version labels are not served by the development server; "
                                                       "use /versions/N.")
            if route["version"] is not None and not route["version"].isdigit():
                raise ServingError("INVALID_ARGUMENT", f"Versions are integers. Received: {route['version']!r}")
            status, answer = 200, action(route)
        except ServingError as error:
            status, answer = error.http_status, {"error": error.message}
        except Exception as error:  # noqa: BLE001 - one request's failure must never stop the server
            logging.exception("Request %s %s failed", self.command, self.path)
            status, answer = 500, {"error": f"Internal error: {type(error).__name__}: {error}"}
        payload = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 413:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise ServingError("INVALID_ARGUMENT", "Predict requests need a Content-Length header (chunked bodies "
                                                   "are not accepted).")
        if int(length) > self.server_state.max_request_bytes:
            self._discard(int(length))
            raise ServingError("RESOURCE_EXHAUSTED", f"The request body has {length} bytes; this server accepts at "
                                                     f"most {self.server_state.max_request_bytes} (--max_request_"
                                                     f"bytes). Split the request.")
        return self.rfile.read(int(length))

    def _discard(self, length, chunk=1 << 16):
        """Reads a refused body without keeping it, so the client sees the 413 answer instead of a reset
        connection; bodies far over the limit are not drained (the connection closes after the answer)."""
        if length > 64 * self.server_state.max_request_bytes:
            return
        while length > 0:
            read = len(self.rfile.read(min(chunk, length)))
            if not read:
                return
            length -= read

    def log_message(self, format, *args):  # noqa: A002 - signature of http.server
        logging.debug("%s - %s", self.address_string(), format % args)


def _start_grpc(state, host, port, num_threads):
    """Starts the gRPC PredictionService and ModelService; returns (server, bound port)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)
    from tensorflow_serving.apis import get_model_metadata_pb2

    def aborting(method):
        def wrapped(self, request, context):
            try:
                return method(self, request, context)
            except ServingError as error:
                context.abort(getattr(grpc.StatusCode, error.code), error.message)
            except Exception as error:  # noqa: BLE001
                logging.exception("gRPC request failed")
                context.abort(grpc.StatusCode.INTERNAL, f"Internal error: {type(error).__name__}: {error}")
        return wrapped

    def version_of(spec):
        return spec.version.value if spec.HasField("version") else None

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        @aborting
        def Predict(self, request, context):  # noqa: N802 - gRPC method name
            try:
                inputs = {key: tf.make_ndarray(tensor) for key, tensor in request.inputs.items()}
            except Exception as error:  # noqa: BLE001 - malformed TensorProto
                raise ServingError("INVALID_ARGUMENT", f"Malformed input tensor: {error}") from None
            spec = request.model_spec
            servable, signature, outputs, _ = state.predict(spec.name, version_of(spec), spec.signature_name,
                                                            inputs=inputs, output_filter=tuple(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = spec.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature or "serving_default"
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        @aborting
        def GetModelMetadata(self, request, context):  # noqa: N802
            if list(request.metadata_field) != ["signature_def"]:
                raise ServingError("INVALID_ARGUMENT", f"metadata_field must be ['signature_def']. Received: "
                                                       f"{list(request.metadata_field)}")
            servable = state.manager.get(request.model_spec.name, version_of(request.model_spec))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = request.model_spec.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(servable.signature_defs)
            return response

        @aborting
        def Classify(self, request, context):  # noqa: N802
            raise ServingError("UNIMPLEMENTED", "Classify is not served: tfvae SavedModels have predict signatures.")

        Regress = MultiInference = Classify

    class ModelService(model_service_pb2_grpc.ModelServiceServicer):
        @aborting
        def GetModelStatus(self, request, context):  # noqa: N802
            status = state.manager.status(request.model_spec.name, version_of(request.model_spec))
            response = get_model_status_pb2.GetModelStatusResponse()
            for entry in status["model_version_status"]:
                item = response.model_version_status.add()
                item.version = int(entry["version"])
                item.state = get_model_status_pb2.ModelVersionStatus.State.Value(entry["state"])
                item.status.error_message = entry["status"]["error_message"]
                item.status.error_code = 0 if entry["status"]["error_code"] == "OK" else 2
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=num_threads),
                         options=[("grpc.max_receive_message_length", state.max_request_bytes),
                                  ("grpc.max_send_message_length", -1)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"Could not bind the gRPC port {host}:{port} (in use?).")
    server.start()
    return server, bound


def define_flags():
    """Defines the binary's flags (only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_string("model_name", "default", "Name of the model (ignored with --model_config_file).")
    flags.DEFINE_string("model_base_path", None, "BASE/MODEL_NAME folder of integer versions (ignored with "
                                                 "--model_config_file).")
    flags.DEFINE_string("model_config_file", None, "Text-format ModelServerConfig listing several models "
                                                   "(python -m serving.config writes one); a local path or a "
                                                   "URL (gs://).")
    flags.DEFINE_integer("rest_api_port", 8501, "REST port; 0 disables REST.")
    flags.DEFINE_integer("port", 8500, "gRPC port; 0 disables gRPC.")
    flags.DEFINE_string("host", "127.0.0.1", "Interface to bind; 0.0.0.0 exposes the server to the network.")
    flags.DEFINE_integer("rest_api_num_threads", 16, "Model calls served at the same time.")
    flags.DEFINE_integer("file_system_poll_wait_seconds", 1, "Seconds between scans for new versions; 0 scans once.")
    flags.DEFINE_integer("max_request_bytes", 16 << 20, "Largest accepted request body.")
    flags.DEFINE_integer("max_samples", 1024, "Most rows (samples, latents or images) per request.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if not f.model_config_file and not f.model_base_path:
        raise app.UsageError("Give --model_base_path=BASE/MODEL_NAME (with --model_name) or --model_config_file.")
    if not f.rest_api_port and not f.port:
        raise app.UsageError("--rest_api_port and --port are both 0: nothing would be served.")
    if f.max_samples < 1 or f.max_request_bytes < 1 or f.rest_api_num_threads < 1:
        raise app.UsageError("--max_samples, --max_request_bytes and --rest_api_num_threads must be positive.")
    # TensorFlow is imported here, after the flags are checked, so a wrong command line is answered at once.
    from serving.model_manager import ModelManager

    if f.model_config_file:
        try:
            models = read_model_config(f.model_config_file)
        except (FileNotFoundError, ValueError) as error:
            raise app.UsageError(str(error)) from None
    else:
        models = {f.model_name: {"base_path": f.model_base_path, "policy": {"latest": 1}}}

    manager = ModelManager(models, f.max_samples, poll_seconds=f.file_system_poll_wait_seconds)
    server = DevServer(manager, f.host, f.rest_api_port or None, f.port or None, f.max_request_bytes,
                       f.rest_api_num_threads)
    for name in models:
        served = [e["version"] for e in manager.status(name)["model_version_status"] if e["state"] == "AVAILABLE"]
        print(f"Serving model {name!r} versions {', '.join(served)} from {models[name]['base_path']}", flush=True)
    if server.rest_port:
        print(f"REST API at http://{f.host}:{server.rest_port}/v1/models/NAME", flush=True)
    if server.grpc_port:
        print(f"gRPC API at {f.host}:{server.grpc_port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    print("Stopped.", flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    define_flags()
    app.run(main)
