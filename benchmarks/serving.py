"""Serving speed: the exported `sample` endpoint against the bare decoder, and dev_server latency under load.

    python -m benchmarks.serving [--repeats=7] [--batches=16,64,256,1024] [--network=conv] [--requests=40]

Part 1 (one process): samples per second of the SavedModel's `sample` (GMM sampler, per-row seeds) and
`sample_prior` endpoints against the live model's decoder called as a tf.function on latents of the same batch,
timed alternately; the target is an endpoint at >= 0.9x the bare decoder. Part 2: a dev_server child process serves
the same export; 1 client thread, then 8, each send --requests requests of 16 samples (REST row form, then gRPC);
latency p50/p99 and total samples per second. The client threads share this process (and its GIL) and the two
cores with the server, so the REST rows include parsing the JSON answers on the client side. The model is RAE-L2 at
28 px with untrained weights (speed does not depend on training); its GMM is fitted on random latents. Part 1
reports medians of --repeats alternating runs.
"""
import concurrent.futures
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks.common import median_and_spread, print_table, write_json
from export import saved_model
from tfvae import models
from tfvae.density import GaussianMixture, PriorSampler

flags.DEFINE_integer("repeats", 7, "Timed, alternating repeats of every part-1 measurement.")
flags.DEFINE_list("batches", ["16", "64", "256", "1024"], "Batch sizes of part 1.")
flags.DEFINE_string("network", "conv", "Network of the benchmarked model (conv: the RAE CPU-scale conv net).")
flags.DEFINE_integer("requests", 40, "Requests per client thread in part 2.")
flags.DEFINE_integer("clients", 8, "Concurrent client threads in part 2.")
FLAGS = flags.FLAGS
LATENT_DIM = 16
SHAPE = (28, 28, 1)


def _rate(fn, rows, calls=5):
    fn()  # warm
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return rows * calls / (time.perf_counter() - started)


def endpoint_vs_decoder(model, loaded):
    decode = tf.function(model.decode, input_signature=[tf.TensorSpec([None, LATENT_DIM], tf.float32)])
    rows = []
    for batch in [int(b) for b in FLAGS.batches]:
        seeds = tf.stack([tf.zeros(batch, tf.int32), tf.range(batch)], axis=1)
        latents = loaded.signatures["sample"](seed=seeds)["latents"]
        paths = {"bare decoder": lambda: decode(latents).numpy(),
                 "sample (gmm)": lambda: loaded.signatures["sample"](seed=seeds)["images"].numpy(),
                 "sample_prior": lambda: loaded.signatures["sample_prior"](seed=seeds)["images"].numpy()}
        rates = {name: [] for name in paths}
        for _ in range(FLAGS.repeats):
            for name, fn in paths.items():
                rates[name].append(_rate(fn, batch))
        base = median_and_spread(rates["bare decoder"])[0]
        for name in paths:
            median, low, high = median_and_spread(rates[name])
            rows.append({"batch": batch, "path": name, "samples/s (median)": median, "min": low, "max": high,
                         "vs bare decoder": median / base})
    return rows


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_latency(base):
    from serving.client import make_client, sample_seeds

    rest, grpc = _free_port(), _free_port()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, "-m", "serving.dev_server", "--model_name=bench",
                                f"--model_base_path={base}/bench", f"--rest_api_port={rest}", f"--port={grpc}"],
                               stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/bench", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"dev_server exited:\n{log.read()[-3000:]}")
                time.sleep(0.2)
        rows = []
        for clients, protocol, address in ((c, p, a) for c in (1, FLAGS.clients)
                                           for p, a in (("rest", f"127.0.0.1:{rest}"), ("grpc", f"127.0.0.1:{grpc}"))):
            def client_thread(index, protocol=protocol, address=address):
                client = make_client(protocol, address)
                latencies = []
                for r in range(FLAGS.requests):
                    started = time.perf_counter()
                    out = client.predict("bench", {"seed": sample_seeds(16, index * 1000 + r)}, "sample")
                    latencies.append(time.perf_counter() - started)
                    assert out["images"].shape == (16, *SHAPE)
                return latencies

            client_thread(0)  # warm the connection path and the server's graphs
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                latencies = np.concatenate(list(pool.map(client_thread, range(clients))))
            elapsed = time.perf_counter() - started
            rows.append({"protocol": protocol, "clients": clients, "requests": len(latencies),
                         "p50 ms": float(np.percentile(latencies, 50) * 1e3),
                         "p99 ms": float(np.percentile(latencies, 99) * 1e3),
                         "samples/s": len(latencies) * 16 / elapsed})
        return rows
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv):
    del argv
    model = models.build("rae_l2", SHAPE, latent_dim=LATENT_DIM, network=FLAGS.network)
    gmm = GaussianMixture()
    gmm.fit(np.random.default_rng(0).normal(size=(5000, LATENT_DIM)))
    with tempfile.TemporaryDirectory() as base:
        path = saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior), "gmm": gmm}, "gmm", base,
                                              "bench")
        rows = endpoint_vs_decoder(model, tf.saved_model.load(path))
        print_table("Exported sample endpoint vs bare decoder (same process, alternating runs)", rows,
                    ["batch", "path", "samples/s (median)", "min", "max", "vs bare decoder"])
        latency = server_latency(base)
        print_table("dev_server: 16 samples per request, 1 client and concurrent clients", latency,
                    ["protocol", "clients", "requests", "p50 ms", "p99 ms", "samples/s"])
    print("\nwrote", write_json("serving", {"endpoint": rows, "dev_server": latency, "settings": {
        "network": FLAGS.network, "repeats": FLAGS.repeats, "requests": FLAGS.requests, "clients": FLAGS.clients}}))


if __name__ == "__main__":
    app.run(main)
