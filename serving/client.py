"""Asks a TF Serving (or dev_server) endpoint for samples and writes them as a PNG grid.

    python -m serving.client --model_name=NAME [--protocol=rest|grpc] [--server=127.0.0.1:8501]
        [--signature_name=sample] [--num_samples=16] [--seed=0] [--format=row|columnar] [--output=samples.png]
    python -m serving.client --model_name=NAME --metadata      (prints the signatures and exits)

Sample b uses the seed row [seed, b], the convention of the workdir's samples.png, so `--seed=0` reproduces the
first samples of that grid. Answers in well under a second for 16 samples of a small model on a local server.
"""
import json
import math

import numpy as np
from absl import app, flags

from serving.errors import ServingError


def make_client(protocol, server=None, timeout=60.0):
    """A RestClient or GrpcClient for `protocol` at `server` (HOST:PORT; the protocol's default port if None)."""
    if protocol == "grpc":
        from serving.grpc_client import GrpcClient

        return GrpcClient(server or "127.0.0.1:8500", timeout)
    from serving.rest_client import RestClient

    return RestClient(server or "127.0.0.1:8501", timeout)


def sample_seeds(num_samples, seed):
    """The int32 seed rows [[seed, 0], [seed, 1], ...] of `num_samples` samples."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive. Received: {num_samples}")
    return np.stack([np.full(num_samples, seed), np.arange(num_samples)], axis=1).astype(np.int32)


def describe_signatures(metadata):
    """One line per signature: name(inputs) -> outputs, with dtypes and shapes (-1 = any)."""
    def tensors(group):
        parts = []
        for name, info in sorted(group.items()):
            dims = [int(d.get("size", -1)) for d in info.get("tensor_shape", {}).get("dim", [])]
            parts.append(f"{name}: {info.get('dtype', '?').replace('DT_', '').lower()}{dims}")
        return ", ".join(parts)

    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    return [f"{name}({tensors(s.get('inputs', {}))}) -> {tensors(s.get('outputs', {}))}"
            for name, s in sorted(signatures.items()) if not name.startswith("__")]


def request_samples(client, model_name, signature_name, num_samples, seed, version=None, columnar=False):
    """{"images", "latents"} for `num_samples` samples drawn with seed rows [seed, b]."""
    inputs = {"seed": sample_seeds(num_samples, seed)}
    extra = {"columnar": True} if columnar else {}  # a REST-only choice; gRPC always sends whole tensors
    return client.predict(model_name, inputs, signature_name, version, **extra)


def write_grid(images, path):
    """Writes samples as a PNG: a square-ish tiled grid for images [N, H, W, C], a scatter plot for points [N, D]."""
    from tfvae.images import write_picture

    images = np.asarray(images, np.float32)
    if images.ndim not in (2, 4):
        raise ValueError(f"Expected images [N, H, W, C] or points [N, D]. Received: shape {images.shape}")
    return write_picture(path, images, columns=int(math.ceil(math.sqrt(len(images)))))


def define_flags():
    """Defines the binary's flags (only when run as a program, so importing stays side-effect free)."""
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "REST (standard library HTTP) or gRPC.")
    flags.DEFINE_string("server", None, "HOST:PORT (default 127.0.0.1:8501 for REST, 127.0.0.1:8500 for gRPC).")
    flags.DEFINE_string("model_name", "default", "Model name on the server.")
    flags.DEFINE_integer("model_version", None, "Version (default: the newest the server serves).")
    flags.DEFINE_string("signature_name", "sample",
                        "A sampling signature: sample, serving_default or sample_<sampler>.")
    flags.DEFINE_integer("num_samples", 16, "Samples to request.")
    flags.DEFINE_integer("seed", 0, "Seed; sample b uses the stateless seed [seed, b].")
    flags.DEFINE_enum("format", "row", ["row", "columnar"], "REST request format (ignored for gRPC).")
    flags.DEFINE_string("output", "samples.png", "PNG grid to write.")
    flags.DEFINE_bool("metadata", False, "Print the model's signatures and exit.")
    flags.DEFINE_float("timeout", 60.0, "Seconds to wait for the server.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    if f.num_samples < 1:
        raise app.UsageError(f"--num_samples must be positive. Received: {f.num_samples}")
    client = make_client(f.protocol, f.server, f.timeout)
    try:
        metadata = client.metadata(f.model_name, f.model_version)
        print(f"Model {f.model_name!r} version {metadata['model_spec']['version']}:")
        for line in describe_signatures(metadata):
            print("  " + line)
        if f.metadata:
            return
        signatures = metadata["metadata"]["signature_def"]["signature_def"]
        if "seed" not in signatures.get(f.signature_name, {}).get("inputs", {}):
            samplers = sorted(n for n, s in signatures.items() if "seed" in s.get("inputs", {}))
            raise app.UsageError(f"--signature_name must name a sampling signature (one with a 'seed' input): "
                                 f"{samplers}. Received: {f.signature_name!r}")
        outputs = request_samples(client, f.model_name, f.signature_name, f.num_samples, f.seed, f.model_version,
                                  columnar=f.protocol == "rest" and f.format == "columnar")
    except ServingError as error:
        raise SystemExit(f"Request failed ({error.code}): {error.message}") from None
    path = write_grid(outputs["images"], f.output)
    print(json.dumps({"output": path, "num_samples": int(len(outputs["images"])),
                      "images_shape": list(outputs["images"].shape)}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
