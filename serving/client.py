"""Asks a TF Serving (or dev_server) endpoint for samples, interpolations or traversals and writes a PNG grid.

    python -m serving.client --model_name=NAME [--protocol=rest|grpc] [--server=127.0.0.1:8501]
        [--signature_name=sample] [--num_samples=16] [--seed=0] [--format=row|columnar] [--output=samples.png]
    python -m serving.client --model_name=NAME --mode=interpolate [--num_samples=8] [--steps=8]
    python -m serving.client --model_name=NAME --mode=traverse [--num_samples=8] [--steps=8] [--span=3]
    python -m serving.client --model_name=NAME --metadata      (prints the signatures and exits)

Sample b uses the seed row [seed, b], the convention of the workdir's samples.png, so `--seed=0` reproduces the
first samples of that grid. `--mode=interpolate` draws one row of the grid per path (path p runs from the prior
draw of seed row [seed, 2p] to that of [seed, 2p + 1]); `--mode=traverse` one row per latent dimension (offsets
-span ... span around the prior draw of seed row [seed, 0]). Answers in well under a second for 16 samples of a
small model on a local server.
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


def interpolation_inputs(num_paths, steps, seed):
    """Inputs of the `interpolate` signature: `num_paths` paths of `steps` points, path-major; path p runs from
    the prior draw of seed row [seed, 2p] (t = 0) to that of [seed, 2p + 1] (t = 1)."""
    if num_paths < 1 or steps < 2:
        raise ValueError(f"Expected at least 1 path of at least 2 steps. Received: {num_paths} paths, {steps} steps")
    path = np.repeat(np.arange(num_paths), steps)
    seed_a = np.stack([np.full(len(path), seed), 2 * path], axis=1).astype(np.int32)
    return {"seed_a": seed_a, "seed_b": seed_a + np.array([0, 1], np.int32),
            "t": np.tile(np.linspace(0.0, 1.0, steps), num_paths).astype(np.float32)}


def traversal_inputs(dimensions, steps, seed, span=3.0):
    """Inputs of the `traverse` signature: one run of `steps` points per latent dimension in `dimensions`, offsets
    from -span to +span added to that coordinate of the prior draw of seed row [seed, 0]."""
    dimensions = np.asarray(dimensions, np.int32)
    if dimensions.size < 1 or steps < 2:
        raise ValueError(f"Expected at least 1 dimension and 2 steps. Received: {dimensions.tolist()}, {steps} steps")
    rows = len(dimensions) * steps
    return {"seed": np.tile(np.array([[seed, 0]], np.int32), (rows, 1)),
            "dimension": np.repeat(dimensions, steps).astype(np.int32),
            "offset": np.tile(np.linspace(-span, span, steps), len(dimensions)).astype(np.float32)}


def latent_dim_of(metadata):
    """The latent dimension, read from the `decode` signature's input shape [-1, L]."""
    signature = metadata["metadata"]["signature_def"]["signature_def"]["decode"]
    return int(signature["inputs"]["latents"]["tensor_shape"]["dim"][1]["size"])


def write_grid(images, path, columns=None):
    """Writes images as a PNG grid of `columns` (default: square-ish), or points [N, D] as a scatter plot."""
    from tfvae.images import write_picture

    images = np.asarray(images, np.float32)
    if images.ndim not in (2, 4):
        raise ValueError(f"Expected images [N, H, W, C] or points [N, D]. Received: shape {images.shape}")
    return write_picture(path, images, columns=columns or int(math.ceil(math.sqrt(len(images)))))


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
    flags.DEFINE_enum("mode", "sample", ["sample", "interpolate", "traverse"],
                      "sample: --num_samples samples; interpolate: --num_samples paths of --steps points; "
                      "traverse: the first --num_samples latent dimensions, --steps points each.")
    flags.DEFINE_integer("steps", 8, "Points per interpolation path or traversal (--mode=interpolate|traverse).")
    flags.DEFINE_float("span", 3.0, "Traversal offsets run from -span to +span (--mode=traverse).")
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
        columnar = f.protocol == "rest" and f.format == "columnar"
        extra = {"columnar": True} if columnar else {}
        columns = None
        if f.mode == "sample":
            if "seed" not in signatures.get(f.signature_name, {}).get("inputs", {}):
                samplers = sorted(n for n, s in signatures.items() if s.get("inputs", {}).keys() == {"seed"})
                raise app.UsageError(f"--signature_name must name a sampling signature (one with a 'seed' input): "
                                     f"{samplers}. Received: {f.signature_name!r}")
            outputs = request_samples(client, f.model_name, f.signature_name, f.num_samples, f.seed,
                                      f.model_version, columnar=columnar)
        else:
            if f.steps < 2:
                raise app.UsageError(f"--steps must be at least 2. Received: {f.steps}")
            if f.mode == "interpolate":
                inputs = interpolation_inputs(f.num_samples, f.steps, f.seed)
            else:
                dimensions = np.arange(min(f.num_samples, latent_dim_of(metadata)))
                inputs = traversal_inputs(dimensions, f.steps, f.seed, f.span)
            outputs = client.predict(f.model_name, inputs, f.mode, f.model_version, **extra)
            columns = f.steps
    except ServingError as error:
        raise SystemExit(f"Request failed ({error.code}): {error.message}") from None
    path = write_grid(outputs["images"], f.output, columns=columns)
    print(json.dumps({"output": path, "mode": f.mode, "num_images": int(len(outputs["images"])),
                      "images_shape": list(outputs["images"].shape)}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
