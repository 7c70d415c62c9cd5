"""The benchmarks' own logic: a run's CPU usage over its epochs, the order of alternated runs, the settings of the
training-throughput benchmark with their errors, and the rule that no benchmark patches or reaches into the
library's private names."""
import ast
import pathlib
import time

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def test_epoch_usage_sums_the_epochs_after_the_first():
    from benchmarks.common import EpochUsage, process_usage

    # (wall time, CPU seconds, voluntary, involuntary) at the end of each of three epochs.
    marks = iter([(10, 5, 0, 0), (13, 11, 10, 40), (15, 14.2, 20, 60)])
    usage = EpochUsage(usage=lambda: dict(zip(("time", "cpu", "voluntary", "involuntary"), next(marks))))
    callback = usage.between_epochs()
    for _ in range(3):
        callback()
    summary = usage.summary(images_per_epoch=100)
    assert summary["cores_busy"] == pytest.approx(9.2 / 5)  # epochs 2 and 3: 5 s of wall time, 9.2 s of CPU
    assert summary["cpu_ms_per_image"] == pytest.approx(1000 * 9.2 / 200)
    assert summary["voluntary_per_second"] == pytest.approx(20 / 5)
    assert summary["involuntary_per_second"] == pytest.approx(60 / 5)
    assert summary["span"] == [10, 15]
    assert EpochUsage.describe(summary) == " [cores busy 1.84, 46.00 CPU ms/image, 12 involuntary switches/s]"
    assert EpochUsage.columns([summary, None, {**summary, "cores_busy": 1.5, "cpu_ms_per_image": 40.0}]) == {
        "cores busy": "1.67 (1.50-1.84)", "CPU ms/image": "43.00 (40.00-46.00)"}
    assert EpochUsage.describe(None) == "" and EpochUsage.columns([None]) == {}

    one_epoch = EpochUsage(usage=lambda: {"time": 1, "cpu": 1, "voluntary": 0, "involuntary": 0})
    one_epoch.between_epochs()()
    assert one_epoch.summary(100) is None  # the first epoch (tracing) is never counted
    frozen = EpochUsage(usage=lambda: {"time": 1, "cpu": 1, "voluntary": 0, "involuntary": 0})
    for _ in range(2):
        frozen.between_epochs()()
    with pytest.raises(ValueError, match="took no time"):
        frozen.summary(100)

    # The real clock: CPU time spent by this thread shows up, and never more than the wall time allows one thread
    # (loosely below: the machine that runs the suite may be busy with other work).
    real = EpochUsage()
    tick = real.between_epochs()
    tick()
    deadline = time.time() + 0.2
    while time.time() < deadline:
        pass
    tick()
    busy = real.summary(images_per_epoch=1)
    assert 0.05 < busy["cores_busy"] < 1.5 and busy["cpu_ms_per_image"] > 10
    assert set(process_usage()) == {"time", "cpu", "voluntary", "involuntary"}


def test_throughput_runs_reverse_their_order_every_second_repeat():
    from benchmarks.common import run_order

    settings = ["trainer", "fit", "pytorch", "pythae"]
    assert run_order(settings, 0) == settings == run_order(settings, 2)
    assert run_order(settings, 1) == ["pythae", "pytorch", "fit", "trainer"] == run_order(settings, 3)
    positions = [sum(run_order(settings, repeat).index(setting) for repeat in range(8)) for setting in settings]
    assert len(set(positions)) == 1  # over an even number of repeats every setting sits at the same mean position


def test_throughput_settings_run_each_pytorch_path_once_per_model_whatever_the_policies():
    from benchmarks.train_throughput import repeat_settings

    runs = repeat_settings(["vae", "rae_l2"], ["conv"], ["mixed_bfloat16", "float32"], ["false", "true"],
                           ["trainer", "pytorch", "pytorch_autocast", "pythae"])
    ours = [run for run in runs if run.path == "trainer"]
    assert len(ours) == 2 * 2 * 2  # models x policies x XLA settings
    for model in ("vae", "rae_l2"):
        torch_list = [run for run in runs if run.model == model and run.path != "trainer"]
        torch_runs = {run.path: run for run in torch_list}
        assert len(torch_list) == len(torch_runs) == 3  # each PyTorch path exactly once
        assert torch_runs["pytorch"].policy == torch_runs["pythae"].policy == "float32"
        assert torch_runs["pytorch_autocast"].policy == "mixed_bfloat16"
        assert not any(run.jit_compile for run in torch_runs.values())
        assert {run.network for run in torch_runs.values()} == {"conv"}
    # A bfloat16-only table still has its PyTorch runs (they were once dropped without float32 in the list).
    bfloat16_only = repeat_settings(["vae"], ["conv", "rae_conv"], ["mixed_bfloat16"], ["false"],
                                    ["fit_dataset", "pytorch"])
    assert [(run.network, run.policy, run.path) for run in bfloat16_only] == [
        ("conv", "mixed_bfloat16", "fit_dataset"), ("conv", "float32", "pytorch"),
        ("rae_conv", "mixed_bfloat16", "fit_dataset")]


@pytest.mark.parametrize("arguments, message", [
    ((["vae"], ["rae_conv"], ["float32"], ["false"], ["trainer", "pythae"]), "conv net only"),
    ((["vae"], ["conv"], ["float32"], ["false"], ["trainer", "torch"]), "Unknown networks or paths \\['torch'\\]"),
    ((["vae"], ["resnet"], ["float32"], ["false"], ["trainer"]), "Unknown networks or paths \\['resnet'\\]"),
    ((["vae"], ["conv"], ["float32"], ["yes"], ["trainer"]), "takes false and true"),
    ((["vae"], ["conv"], ["bfloat16"], ["false"], ["trainer"]), "bfloat16"),
])
def test_throughput_settings_refuse_bad_flag_values(arguments, message):
    from benchmarks.train_throughput import repeat_settings

    with pytest.raises(ValueError, match=message):
        repeat_settings(*arguments)


def _library_reaches(source):
    """What a module's code does to tfvae beyond its public API: private names it imports or reads through a name
    bound to a tfvae module, and assignments to attributes of such names (monkeypatching), as text."""
    tree = ast.parse(source)
    library_names, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tfvae":
                    library_names.add(alias.asname or "tfvae")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tfvae":
            for alias in node.names:
                library_names.add(alias.asname or alias.name)
                if alias.name.startswith("_"):
                    found.append(f"from {node.module} import {alias.name}")

    def root(node):
        while isinstance(node, ast.Attribute):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and root(node) in library_names:
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if private or isinstance(node.ctx, ast.Store):
                found.append(ast.unparse(node) + (" = ..." if isinstance(node.ctx, ast.Store) else ""))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
              and node.args and root(node.args[0]) in library_names):
            found.append(ast.unparse(node))
    return found


def test_no_benchmark_patches_or_reads_private_names_of_the_library():
    assert _library_reaches("from tfvae.data import _cache\nimport tfvae.networks.conv as s\n"
                            "s._SHIFT = 1\nfrom tfvae import models\nmodels.build = None\nx = models._registry\n"
                            "setattr(models, 'build', None)\nfrom tfvae import data\ndata.load('digits')\n") == [
        "from tfvae.data import _cache", "s._SHIFT = ...", "models.build = ...", "models._registry",
        "setattr(models, 'build', None)"]
    modules = sorted(BENCHMARKS.glob("*.py"))
    assert len(modules) > 5
    reaches = {module.name: _library_reaches(module.read_text()) for module in modules}
    assert {name: found for name, found in reaches.items() if found} == {}


def test_streaming_memory_writes_its_data_set_file_by_file(tmp_path):
    import numpy as np
    import tensorflow as tf

    from benchmarks.streaming_memory import write_data_set

    files, written = write_data_set(str(tmp_path / "data"), 5, 16, 2)
    names = sorted(path.name for path in (tmp_path / "data").iterdir())
    assert files == 3 and names == ["train-00000.tfrecord", "train-00001.tfrecord", "train-00002.tfrecord"]
    assert written == sum((tmp_path / "data" / name).stat().st_size for name in names)
    records = list(tf.data.TFRecordDataset(str(tmp_path / "data" / names[2])).as_numpy_iterator())
    image = tf.io.decode_png(tf.train.Example.FromString(records[0]).features.feature["image"].bytes_list.value[0])
    assert len(records) == 1 and image.shape == (16, 16, 3) and np.ptp(image.numpy()) > 0  # not a flat colour


def test_no_benchmark_defines_flags_when_imported():
    """Benchmarks define their flags in `define_flags()`, called only when they run as programs: a flag defined at
    import would clash with a binary's flag of the same name in a test process (e.g. --epochs of trainers.train)."""
    import importlib

    from absl import flags

    before = set(flags.FLAGS)
    for module in sorted(BENCHMARKS.glob("*.py")):
        importlib.import_module(f"benchmarks.{module.stem}")
    assert set(flags.FLAGS) - before == set()
