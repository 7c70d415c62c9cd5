"""One factory for every tf.distribute strategy tfvae trains under."""
import json
import os

import tensorflow as tf

from tfvae import registry


@registry.register("strategy", "default")
def default_strategy(tpu=None, devices=None):
    """The default (no-op) strategy: one device."""
    del tpu, devices
    return tf.distribute.get_strategy()


@registry.register("strategy", "mirrored")
def mirrored_strategy(tpu=None, devices=None):
    """Synchronous data parallelism over the local devices (all GPUs, or the CPU), or over `devices`."""
    del tpu
    return tf.distribute.MirroredStrategy(devices)


@registry.register("strategy", "multi_worker")
def multi_worker_strategy(tpu=None, devices=None):
    """Synchronous data parallelism over several machines described by the TF_CONFIG environment variable."""
    del tpu, devices
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError('--strategy=multi_worker needs the TF_CONFIG environment variable, e.g. '
                         '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                         '"task": {"type": "worker", "index": 0}}. Received: TF_CONFIG is unset')
    try:
        config = json.loads(raw)
        config["cluster"]["worker"]
        config["task"]["type"], config["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG must be JSON with cluster.worker and task.type/index ({error}). "
                         f"Received: TF_CONFIG={raw!r}") from error
    return tf.distribute.MultiWorkerMirroredStrategy()


@registry.register("strategy", "tpu")
def tpu_strategy(tpu=None, devices=None):
    """TPUStrategy on the TPU at address `tpu` (a name, grpc:// address, or "local" on a TPU VM)."""
    del devices
    if not tpu:
        raise ValueError("--strategy=tpu needs --tpu=ADDRESS (a TPU name, grpc://host:port, or 'local' on a TPU VM). "
                         "Received: tpu=None")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="default", tpu=None, devices=None):
    """Builds the strategy registered as `name` (default, mirrored, multi_worker, tpu)."""
    return registry.get("strategy", name)(tpu=tpu, devices=devices)


def is_chief(strategy):
    """Whether this process writes checkpoints, logs and exports (worker 0, or the only process)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())
