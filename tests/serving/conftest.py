"""A running dev_server over a small exported golden model: in-process for the protocol tests, the binary in a
child process for its own test."""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pytest

from tfvae.export import saved_model
from tests import conftest as shared
from tests import goldens

MAX_SAMPLES = 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_golden(base, model_name="vae", seed=0):
    """Exports the golden VAE with a GMM (default) and its prior sampler; returns (model, gmm, version path)."""
    from tfvae.density import GaussianMixture, PriorSampler

    model, _ = goldens.build_golden("vae")
    gmm = GaussianMixture(num_components=2)
    gmm.fit(np.random.default_rng(seed).normal(size=(200, 3)))
    path = saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior), "gmm": gmm}, "gmm", str(base),
                                          model_name, metadata={"dataset": "unit"}, max_batch_size=64)
    return model, gmm, path


def copy_export(server, base, model_name):
    """Copies the `server` fixture's export (the golden VAE, GMM fitted with seed 0) to BASE/MODEL_NAME/NEXT_VERSION
    the way an export writes a version (a hidden folder renamed into place); returns the version path. Tests that
    need more served models than distinct ones copy it instead of exporting the same model again."""
    model_dir = os.path.join(base, model_name)
    final = os.path.join(model_dir, str((saved_model.existing_versions(model_dir) or [0])[-1] + 1))
    temporary = os.path.join(model_dir, ".tmp-copy")
    shutil.copytree(server["path"], temporary)
    os.rename(temporary, final)
    return final


def server_log(process):
    process.log.seek(0)
    return process.log.read()


def wait_until_serving(process, url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dev_server exited with {process.returncode}:\n{server_log(process)[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"dev_server did not answer {url} within {timeout} s")


# The dev_server settings of the tests: the `server` fixture and the binary's test serve with the same ones.
MAX_REQUEST_BYTES = 200000


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """{"model", "gmm", "path", "base", "rest", "grpc", "dev_server"} of a DevServer serving model 'vae', in this
    process (its threads answer REST and gRPC on free ports); the binary around it is tested by
    test_the_dev_server_binary_serves_and_survives_bad_requests."""
    from serving.dev_server import DevServer
    from serving.model_manager import ModelManager

    base = tmp_path_factory.mktemp("serving")
    model, gmm, path = export_golden(base)
    manager = ModelManager({"vae": {"base_path": str(base / "vae"), "policy": {"latest": 1}}}, MAX_SAMPLES,
                           poll_seconds=1)
    dev_server = DevServer(manager, rest_port=0, grpc_port=0, max_request_bytes=MAX_REQUEST_BYTES)
    try:
        yield {"model": model, "gmm": gmm, "path": path, "base": base, "rest": f"127.0.0.1:{dev_server.rest_port}",
               "grpc": f"127.0.0.1:{dev_server.grpc_port}", "dev_server": dev_server}
    finally:
        dev_server.shutdown()


@contextlib.contextmanager
def dev_server_binary(base):
    """Runs `python -m serving.dev_server` serving BASE/vae as model 'vae' with the `server` fixture's settings;
    yields (process with a `.log` file, REST address, gRPC address) once it answers; terminates it on exit."""
    rest, grpc = free_port(), free_port()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.dev_server", "--model_name=vae", f"--model_base_path={base}/vae",
         f"--rest_api_port={rest}", f"--port={grpc}", f"--max_samples={MAX_SAMPLES}",
         f"--max_request_bytes={MAX_REQUEST_BYTES}", "--file_system_poll_wait_seconds=1"],
        cwd=shared.REPO, env=shared.subprocess_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log = log
    try:
        wait_until_serving(process, f"http://127.0.0.1:{rest}/v1/models/vae")
        yield process, f"127.0.0.1:{rest}", f"127.0.0.1:{grpc}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
