"""Serving speed: the exported `sample` endpoint against the bare decoder, dev_server latency, and dev_server under
a load that mixes every endpoint.

    python -m benchmarks.serving [--repeats=7] [--batches=16,64,256,1024] [--network=conv] [--requests=40]
        [--load_clients=1,8,32] [--load_requests=480] [--parts=endpoint,latency,load]

Part 1 (one process): samples per second of the SavedModel's `sample` (GMM sampler, per-row seeds) and
`sample_prior` endpoints against the live model's decoder called as a tf.function on latents of the same batch,
timed alternately; the target is an endpoint at >= 0.9x the bare decoder. Part 2: a dev_server child process serves
the same export; 1 client thread, then 8, each send --requests requests of 16 samples (REST row form, then gRPC);
latency p50/p99 and total samples per second. The client threads share this process (and its GIL) and the two
cores with the server, so the REST rows include parsing the JSON answers on the client side. The model is RAE-L2 at
28 px with untrained weights (speed does not depend on training); its GMM is fitted on random latents. Part 1
reports medians of --repeats alternating runs.

Part 3 (load): a dev_server child process serves a VAE (conv, 28 px, GMM) with every endpoint; for 1, 8 and 32
concurrent REST clients, --load_requests requests in all, each client cycling through every endpoint (sample,
sample_gmm, decode, encode, reconstruct, interpolate, interpolate_images, traverse, traverse_images, score,
score_likelihood with K = 16), 8 rows per request. Reported: p50/p99 latency, requests per second, errors (must be
0), the server's resident memory before and after each level, and a health thread that asks for the model status
every 0.25 s throughout (its failures and worst latency).
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
from tfvae.export import saved_model
from tfvae import models
from tfvae.density import GaussianMixture, PriorSampler

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


def _start_server(base, name):
    """(process, REST port, gRPC port) of a dev_server child serving BASE/NAME, once it answers."""
    rest, grpc = _free_port(), _free_port()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, "-m", "serving.dev_server", f"--model_name={name}",
                                f"--model_base_path={base}/{name}", f"--rest_api_port={rest}", f"--port={grpc}",
                                "--rest_api_num_threads=32"],
                               stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/{name}", timeout=1)
            return process, rest, grpc
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"dev_server exited:\n{log.read()[-3000:]}")
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("dev_server did not answer within 120 s")


def _resident_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load_requests(rows=8):
    """{endpoint: inputs} of the mix of part 3, `rows` rows each."""
    from serving.client import interpolation_inputs, sample_seeds, traversal_inputs

    rng = np.random.default_rng(0)
    seeds = sample_seeds(rows, 0)
    images = rng.random((rows, *SHAPE)).astype(np.float32)
    return {"sample": {"seed": seeds}, "sample_gmm": {"seed": seeds},
            "decode": {"latents": rng.normal(size=(rows, LATENT_DIM)).astype(np.float32)},
            "encode": {"images": images}, "reconstruct": {"images": images},
            "interpolate": interpolation_inputs(1, rows, 0),
            "interpolate_images": {"images_a": images, "images_b": images[::-1].copy(),
                                   "t": np.linspace(0, 1, rows).astype(np.float32)},
            "traverse": traversal_inputs([0], rows, 0),
            "traverse_images": {"images": images, "dimension": np.zeros(rows, np.int32),
                                "offset": np.linspace(-3, 3, rows).astype(np.float32)},
            "score": {"images": images},
            "score_likelihood": {"images": images, "seed": seeds, "num_importance": np.full(rows, 16, np.int32)}}


def server_load(base):
    import threading

    from serving.client import make_client

    process, rest, _ = _start_server(base, "load")
    requests = _load_requests()
    endpoints = sorted(requests)
    try:
        warm = make_client("rest", f"127.0.0.1:{rest}")
        for name in endpoints:  # every graph traced once before the clock starts
            warm.predict("load", requests[name], name)
        rows = []
        for clients in [int(c) for c in FLAGS.load_clients]:
            per_client = max(1, FLAGS.load_requests // clients)
            health = {"failures": 0, "answers": 0, "worst_ms": 0.0}
            stop = threading.Event()

            def check_health():
                client = make_client("rest", f"127.0.0.1:{rest}", timeout=10)
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        ok = client.status("load")["model_version_status"][0]["state"] == "AVAILABLE"
                    except Exception:  # noqa: BLE001 - any failure of the health request counts
                        ok = False
                    health["answers" if ok else "failures"] += 1
                    health["worst_ms"] = max(health["worst_ms"], (time.perf_counter() - started) * 1e3)
                    stop.wait(0.25)

            def client_thread(index):
                client = make_client("rest", f"127.0.0.1:{rest}", timeout=120)
                latencies, errors = [], []
                for r in range(per_client):
                    name = endpoints[(index + r) % len(endpoints)]
                    started = time.perf_counter()
                    try:
                        client.predict("load", requests[name], name)
                    except Exception as error:  # noqa: BLE001 - every failed request is an error of the run
                        errors.append(f"{name}: {type(error).__name__}: {error}"[:300])
                    latencies.append(time.perf_counter() - started)
                return latencies, errors

            memory_before = _resident_mib(process.pid)
            watcher = threading.Thread(target=check_health, daemon=True)
            watcher.start()
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(client_thread, range(clients)))
            elapsed = time.perf_counter() - started
            stop.set()
            watcher.join(timeout=30)
            latencies = np.concatenate([r[0] for r in results])
            errors = [message for result in results for message in result[1]]
            for message in sorted(set(errors))[:5]:
                print(f"error with {clients} clients: {message}")
            rows.append({"clients": clients, "requests": len(latencies), "errors": len(errors),
                         "p50 ms": float(np.percentile(latencies, 50) * 1e3),
                         "p99 ms": float(np.percentile(latencies, 99) * 1e3),
                         "requests/s": len(latencies) / elapsed, "RSS before MiB": memory_before,
                         "RSS after MiB": _resident_mib(process.pid), "health answers": health["answers"],
                         "health failures": health["failures"], "health worst ms": health["worst_ms"]})
        return rows, endpoints
    finally:
        process.terminate()
        process.wait(timeout=30)


def server_latency(base):
    from serving.client import make_client, sample_seeds

    process, rest, grpc = _start_server(base, "bench")
    try:
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
    unknown = sorted(set(FLAGS.parts) - {"endpoint", "latency", "load"})
    if unknown:
        raise app.UsageError(f"--parts takes endpoint, latency, load. Received: {unknown}")
    gmm = GaussianMixture()
    gmm.fit(np.random.default_rng(0).normal(size=(5000, LATENT_DIM)))
    record = {"settings": {"network": FLAGS.network, "repeats": FLAGS.repeats, "requests": FLAGS.requests,
                           "clients": FLAGS.clients, "load_clients": FLAGS.load_clients,
                           "load_requests": FLAGS.load_requests, "parts": FLAGS.parts}}
    with tempfile.TemporaryDirectory() as base:
        model = models.build("rae_l2", SHAPE, latent_dim=LATENT_DIM, network=FLAGS.network)
        path = saved_model.export_saved_model(model, {"prior": PriorSampler(model.prior), "gmm": gmm}, "gmm", base,
                                              "bench")
        if "endpoint" in FLAGS.parts:
            record["endpoint"] = endpoint_vs_decoder(model, tf.saved_model.load(path))
            print_table("Exported sample endpoint vs bare decoder (same process, alternating runs)",
                        record["endpoint"], ["batch", "path", "samples/s (median)", "min", "max", "vs bare decoder"])
        if "latency" in FLAGS.parts:
            record["dev_server"] = server_latency(base)
            print_table("dev_server: 16 samples per request, 1 client and concurrent clients", record["dev_server"],
                        ["protocol", "clients", "requests", "p50 ms", "p99 ms", "samples/s"])
        if "load" in FLAGS.parts:
            vae = models.build("vae", SHAPE, latent_dim=LATENT_DIM, network=FLAGS.network)
            saved_model.export_saved_model(vae, {"prior": PriorSampler(vae.prior), "gmm": gmm}, "gmm", base, "load")
            record["load"], record["load_endpoints"] = server_load(base)
            print_table(f"dev_server under load: every endpoint in turn ({', '.join(record['load_endpoints'])}), "
                        f"8 rows per request, REST", record["load"],
                        ["clients", "requests", "errors", "p50 ms", "p99 ms", "requests/s", "RSS before MiB",
                         "RSS after MiB", "health answers", "health failures", "health worst ms"])
    print("\nwrote", write_json("serving", record))


def define_flags():
    """The benchmark's flags, defined only when it runs as a program: the tests import its parts."""
    flags.DEFINE_integer("repeats", 7, "Timed, alternating repeats of every part-1 measurement.")
    flags.DEFINE_list("batches", ["16", "64", "256", "1024"], "Batch sizes of part 1.")
    flags.DEFINE_string("network", "conv", "Network of the benchmarked model (conv: the RAE CPU-scale conv net).")
    flags.DEFINE_integer("requests", 40, "Requests per client thread in part 2.")
    flags.DEFINE_integer("clients", 8, "Concurrent client threads in part 2.")
    flags.DEFINE_list("load_clients", ["1", "8", "32"], "Concurrent clients of each level of part 3.")
    flags.DEFINE_integer("load_requests", 480, "Requests per level of part 3 (split over the clients).")
    flags.DEFINE_list("parts", ["endpoint", "latency", "load"], "Parts to run.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
