"""A running dev_server (the binary, in a child process) over a small exported golden model."""
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from export import saved_model
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


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    """{"model", "gmm", "path", "base", "rest", "grpc", "process"} of a dev_server serving model 'vae'."""
    base = tmp_path_factory.mktemp("serving")
    model, gmm, path = export_golden(base)
    rest, grpc = free_port(), free_port()
    log = open(base / "dev_server.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.dev_server", "--model_name=vae", f"--model_base_path={base}/vae",
         f"--rest_api_port={rest}", f"--port={grpc}", f"--max_samples={MAX_SAMPLES}", "--max_request_bytes=200000",
         "--file_system_poll_wait_seconds=1"],
        cwd=shared.REPO, env=shared.subprocess_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log = log
    try:
        wait_until_serving(process, f"http://127.0.0.1:{rest}/v1/models/vae")
        yield {"model": model, "gmm": gmm, "path": path, "base": base, "rest": f"127.0.0.1:{rest}",
               "grpc": f"127.0.0.1:{grpc}", "process": process}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
