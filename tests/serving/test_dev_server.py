"""dev_server against the TF Serving REST and gRPC contracts, with our clients (issue 5's serving tests): the
protocol tests on a DevServer in this process, one test of the binary."""
import concurrent.futures
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from serving.client import sample_seeds
from serving.dev_server import DevServer
from serving.errors import ServingError
from serving.grpc_client import GrpcClient
from serving.model_manager import ModelManager
from serving.rest_client import RestClient
from serving.servable import read_signature_defs
from tests.serving.conftest import MAX_SAMPLES, copy_export, dev_server_binary, export_golden, server_log

ENDPOINTS = ["decode", "encode", "interpolate", "interpolate_images", "reconstruct", "sample", "sample_gmm",
             "sample_prior", "score", "score_likelihood", "serving_default", "traverse", "traverse_images"]


def expected_samples(server, seeds, sampler="gmm"):
    """What the live model draws for these seeds (the export's default sampler is the GMM)."""
    latents = (server["gmm"].sample_from_seeds(tf.constant(seeds)) if sampler == "gmm"
               else server["model"].prior.sample_from_seeds(tf.constant(seeds)))
    return latents.numpy(), server["model"].decode(latents).numpy()


def raw_request(server, path, body=None, method=None):
    """(HTTP status, parsed JSON answer) without the client's error handling."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{server['rest']}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_status_and_metadata_over_rest_and_grpc(server):
    rest, grpc = RestClient(server["rest"]), GrpcClient(server["grpc"])
    status = rest.status("vae")["model_version_status"]
    assert status == [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
    assert grpc.status("vae")["model_version_status"][0]["state"] == "AVAILABLE"
    metadata = rest.metadata("vae")
    assert metadata["model_spec"] == {"name": "vae", "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert sorted(n for n in signatures if not n.startswith("__")) == ENDPOINTS
    sample = signatures["sample"]
    assert sample["inputs"]["seed"]["dtype"] == "DT_INT32"
    assert [d["size"] for d in sample["inputs"]["seed"]["tensor_shape"]["dim"]] == ["-1", "2"]
    assert [d["size"] for d in sample["outputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    assert grpc.metadata("vae") == metadata
    on_disk = read_signature_defs(server["path"])
    assert set(on_disk.signature_def) == set(signatures)
    grpc.close()


@pytest.mark.parametrize("columnar", [False, True], ids=["row", "columnar"])
def test_rest_samples_equal_the_live_model(server, columnar):
    seeds = sample_seeds(5, 7)
    outputs = RestClient(server["rest"]).predict("vae", {"seed": seeds}, "sample", columnar=columnar)
    latents, images = expected_samples(server, seeds)
    np.testing.assert_allclose(outputs["latents"], latents, atol=1e-5)
    np.testing.assert_allclose(outputs["images"], images, atol=1e-5)
    prior = RestClient(server["rest"]).predict("vae", {"seed": seeds}, "sample_prior", version=1, columnar=columnar)
    np.testing.assert_allclose(prior["latents"], expected_samples(server, seeds, "prior")[0], atol=1e-5)


@pytest.mark.parametrize("columnar", [False, True], ids=["row", "columnar"])
def test_rest_single_input_and_single_output_forms(server, columnar):
    """decode has one input and one output: bare values instead of objects, in both forms."""
    latents = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    key = "inputs" if columnar else "instances"
    status, answer = raw_request(server, "/v1/models/vae:predict",
                                 {"signature_name": "decode", key: latents.tolist()})
    assert status == 200
    images = np.asarray(answer["outputs" if columnar else "predictions"])
    np.testing.assert_allclose(images, server["model"].decode(latents), atol=1e-5)
    client_images = RestClient(server["rest"]).predict("vae", {"latents": latents}, "decode", columnar=columnar)
    np.testing.assert_allclose(client_images["images"], images, atol=1e-6)


def test_grpc_every_endpoint_equals_the_live_model(server):
    client, model = GrpcClient(server["grpc"]), server["model"]
    seeds = sample_seeds(4, 3)
    latents, images = expected_samples(server, seeds)
    for signature in ("sample", "serving_default", "sample_gmm"):
        outputs = client.predict("vae", {"seed": seeds}, signature)
        np.testing.assert_allclose(outputs["latents"], latents, atol=1e-5)
        np.testing.assert_allclose(outputs["images"], images, atol=1e-5)
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(client.predict("vae", {"images": x}, "encode")["latents"], model.encode(x), atol=1e-5)
    np.testing.assert_allclose(client.predict("vae", {"images": x}, "reconstruct")["images"], model.reconstruct(x),
                               atol=1e-5)
    np.testing.assert_allclose(client.predict("vae", {"latents": latents}, "decode")["images"], images, atol=1e-5)
    client.close()


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/models/vae:predict", {"signature_name": "nope", "instances": [{"seed": [0, 1]}]}, 400,
     "not found in signature def"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "inputs": {"seed": [[0.5, 1.0]]}}, 400,
     "must hold integers"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "inputs": {"seed": [[0, 1, 2]]}}, 400,
     "must be int32 of shape"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "decode", "inputs": {"latents": [[0.0, 1.0]]}}, 400,
     r"must be float32 of shape [B, 3] (dimension 1 must be 3). Received: shape [1, 2]"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "decode", "instances": [{"latents": [0.0] * 5}]}, 400,
     r"must be float32 of shape [B, 3] (dimension 1 must be 3). Received: shape [1, 5]"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "inputs": {"seed": [[0, 1], [2]]}}, 400, "ragged"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample",
                                        "inputs": {"seed": [[0, i] for i in range(MAX_SAMPLES + 1)]}}, 400,
     f"at most {MAX_SAMPLES} rows"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "decode", "inputs": {"latents": [[float("nan")] * 3]}},
     400, "latents must be finite"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "encode", "inputs": {"images": [[[[2.0]] * 8] * 8]}},
     400, r"images must lie in [0, 1]"),
    ("POST", "/v1/models/vae:predict", b'{"signature_name": "sample", "instances": [', 400, "must be JSON"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample"}, 400, "exactly one of 'instances'"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "instances": []}, 400, "non-empty list"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "inputs": {"seed": [[0, 1]], "x": 1}}, 400,
     "unexpected ['x']"),
    ("POST", "/v1/models/vae:predict", {"signature_name": "sample", "inputs": {"seed": [[0, 2 ** 40]]}}, 400,
     "outside the int32 range"),
    ("POST", "/v1/models/vae:predict", {"instances": [{"seed": [0, 1]}] * 20000}, 413, "at most 200000"),
    ("POST", "/v1/models/other:predict", {"instances": [{"seed": [0, 1]}]}, 404, "Servable not found"),
    ("POST", "/v1/models/vae/versions/7:predict", {"instances": [{"seed": [0, 1]}]}, 404, "served versions: [1]"),
    ("POST", "/v1/models/vae:classify", {"examples": []}, 501, "predict signatures only"),
    ("GET", "/v1/models/vae/versions/x", None, 400, "Versions are integers"),
    ("GET", "/v2/everything", None, 404, "Malformed request"),
    ("PUT", "/v1/models/vae", b"{}", 501, "PUT is not served"),
    ("POST", "/v1/models/vae:predict", b"[" * 100000, 400, "nests too deeply"),
])
def test_bad_requests_get_tf_serving_errors_and_the_server_keeps_serving(server, method, path, body, status,
                                                                         message):
    got_status, answer = raw_request(server, path, body, method)
    assert got_status == status, answer
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert raw_request(server, "/v1/models/vae")[0] == 200


def test_grpc_bad_requests_get_status_codes(server):
    client = GrpcClient(server["grpc"])
    with pytest.raises(ServingError, match="must be int32") as error:
        client.predict("vae", {"seed": np.zeros((2, 2), np.float32)}, "sample")
    assert error.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ServingError) as error:
        client.predict("missing", {"seed": np.zeros((2, 2), np.int32)}, "sample")
    assert error.value.code == "NOT_FOUND"
    with pytest.raises(ServingError, match=f"at most {MAX_SAMPLES} rows"):
        client.predict("vae", {"seed": np.zeros((MAX_SAMPLES + 1, 2), np.int32)}, "sample")
    assert client.status("vae")["model_version_status"][0]["state"] == "AVAILABLE"
    client.close()


def test_concurrent_clients_each_get_their_own_samples(server):
    def ask(index):
        seeds = sample_seeds(4, 100 + index)
        protocol = RestClient(server["rest"]) if index % 2 else GrpcClient(server["grpc"])
        return seeds, protocol.predict("vae", {"seed": seeds}, "sample")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(24)))
    for seeds, outputs in answers:
        np.testing.assert_allclose(outputs["images"], expected_samples(server, seeds)[1], atol=1e-5)


def test_new_versions_are_picked_up_and_the_old_one_retired(server, tmp_path):
    """TF Serving's default policy: serve the newest version; new versions appear by polling the base path."""
    copy_export(server, tmp_path, "vae")
    manager = ModelManager({"vae": {"base_path": str(tmp_path / "vae")}}, max_rows=8, poll_seconds=0.2)
    dev_server = DevServer(manager, rest_port=0, grpc_port=None)
    try:
        client = RestClient(f"127.0.0.1:{dev_server.rest_port}")
        assert client.metadata("vae")["model_spec"]["version"] == "1"
        export_golden(tmp_path, seed=2)
        for _ in range(150):
            versions = [e["version"] for e in client.status("vae")["model_version_status"]]
            if versions == ["2"]:
                break
            time.sleep(0.2)
        assert versions == ["2"]
        assert client.metadata("vae")["model_spec"]["version"] == "2"
        with pytest.raises(ServingError, match=r"served versions: \[2\]"):
            client.predict("vae", {"seed": sample_seeds(1, 0)}, "sample", version=1)
        assert client.predict("vae", {"seed": sample_seeds(2, 0)}, "sample")["images"].shape == (2, 8, 8, 1)
    finally:
        dev_server.shutdown()


@pytest.mark.slow
def test_the_dev_server_binary_serves_and_survives_bad_requests(server):
    """`python -m serving.dev_server` over the `server` fixture's export: it says what it serves, answers REST and
    gRPC like the in-process server, keeps running after requests that fail and stops cleanly on SIGTERM."""
    with dev_server_binary(server["base"]) as (process, rest, grpc):
        assert RestClient(rest).status("vae") == RestClient(server["rest"]).status("vae")
        seeds = sample_seeds(3, 5)
        latents, images = expected_samples(server, seeds)
        client = GrpcClient(grpc)
        np.testing.assert_allclose(client.predict("vae", {"seed": seeds}, "sample")["images"], images, atol=1e-5)
        client.close()
        for body, status, message in (
                (b"[" * 100000, 400, "nests too deeply"),
                ({"instances": [{"seed": [0, 1]}] * 20000}, 413, "at most 200000"),
                ({"signature_name": "sample", "inputs": {"seed": [[0, i] for i in range(MAX_SAMPLES + 1)]}}, 400,
                 f"at most {MAX_SAMPLES} rows")):
            got_status, answer = raw_request({"rest": rest}, "/v1/models/vae:predict", body)
            assert got_status == status and message in answer["error"], answer
        outputs = RestClient(rest).predict("vae", {"seed": seeds}, "sample")
        np.testing.assert_allclose(outputs["latents"], latents, atol=1e-5)
        assert process.poll() is None, server_log(process)
    assert process.returncode == 0, server_log(process)
    log = server_log(process)
    assert f"Serving model 'vae' versions 1 from {server['base']}/vae" in log and "Stopped." in log, log
