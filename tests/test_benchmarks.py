"""The benchmarks' own logic: oneDNN's verbose log parsed into per-step sums per primitive and per pass (with clear
errors), the rewrites of a weight gradient, the CPU sampler, the denormal flush, the machine probe and its
quiet-machine wait, a run's CPU usage per epoch, and the order of the throughput runs."""
import platform
import subprocess
import sys
import time

import pytest

from benchmarks.onednn_primitives import _MARK, by_pass, parse

_LOG = "\n".join([
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,mb2_ic1oc4,9.0",
    _MARK,
    "onednn_verbose,v1,primitive,create:cache_hit,cpu,convolution,jit:avx512_core,backward_weights,src:f32,mb2,0.1",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,mb2_ic1oc4,3.0",
    "onednn_verbose,2026-11-29 04:00:00,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32 dst:f32,4x1x3x3,0.5",
    "some other line",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,src:f32,mb2_ic1oc4,1.0",
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32 dst:f32,4x1x3x3,0.5",
])


def test_sums_each_primitive_per_step_after_the_mark():
    totals = parse(_LOG, steps=2)
    assert totals == {("convolution", "jit:avx512_core", "backward_weights", "mb2_ic1oc4"): [1.0, 2.0],
                      ("reorder", "jit:uni", "undef", "4x1x3x3"): [1.0, 0.5]}


def test_passes_name_transposed_convolutions_in_convolution_terms_and_split_reorders():
    # PyTorch logs a transposed convolution's forward as a deconvolution's; TensorFlow as a convolution's
    # backward-data pass. Reorders whose shape starts with the batch size move activations, the others weights.
    totals = {("deconvolution", "jit", "forward_training", "mb2_ic4oc2"): [1.0, 5.0],
              ("convolution", "brg", "backward_data", "mb2_ic2oc4"): [1.0, 2.0],
              ("deconvolution", "jit", "backward_data", "mb2_ic4oc2"): [1.0, 3.0],
              ("deconvolution", "jit", "backward_weights", "mb2_ic4oc2"): [1.0, 4.0],
              ("reorder", "jit:uni", "undef", "2x32x28x28"): [6.0, 1.5],
              ("reorder", "jit:uni", "undef", "32x2x4x4"): [2.0, 0.25],
              ("batch_normalization", "bnorm", "backward", "mb2ic32ih28iw28"): [1.0, 0.5]}
    assert by_pass(totals, batch=2) == {"convolution backward_data": 7.0, "convolution forward_training": 3.0,
                                        "convolution backward_weights": 4.0, "reorder, activations": 1.5,
                                        "reorder, weights": 0.25, "batch_normalization backward": 0.5}


def test_weight_gradient_rewrites_equal_the_kernel_gradient_of_a_stride_2_convolution():
    import numpy as np
    import tensorflow as tf

    from benchmarks import weight_gradient

    rng = np.random.default_rng(1)
    padded = weight_gradient.pad(tf.constant(rng.standard_normal((3, 8, 8, 2)), tf.float32))
    kernel = tf.constant(rng.standard_normal((4, 4, 2, 5)), tf.float32)
    output_gradient = tf.constant(rng.standard_normal((3, 4, 4, 5)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        loss = tf.reduce_sum(tf.nn.conv2d(padded, kernel, 2, "VALID") * output_gradient)
    expected = tape.gradient(loss, kernel).numpy()
    for name, formulation in weight_gradient.FORMULATIONS.items():
        np.testing.assert_allclose(formulation(padded, output_gradient).numpy(), expected, rtol=1e-5, atol=1e-4,
                                   err_msg=name)


def test_a_log_without_the_mark_or_primitives_is_an_error():
    with pytest.raises(RuntimeError, match="no start mark"):
        parse("Traceback ...", steps=1)
    with pytest.raises(RuntimeError, match="no primitive"):
        parse(f"{_MARK}\nnothing", steps=1)


def test_cpu_sampler_shares_over_busy_seconds_and_all():
    from benchmarks.cpu_flip import CpuSampler

    sampler = CpuSampler()
    zero = dict.fromkeys(CpuSampler.FIELDS, 0)
    sampler.deltas = [{**zero, "user": 50, "idle": 150},  # start-up: under one of two cores busy, left out
                      {**zero, "user": 150, "system": 10, "idle": 30, "steal": 10},
                      {**zero, "user": 170, "system": 10, "idle": 20}]
    shares = sampler.shares(cores=2)
    assert shares["seconds"] == 2
    assert shares["user"] == pytest.approx(320 / 400) and shares["idle"] == pytest.approx(50 / 400)
    assert shares["steal"] == pytest.approx(10 / 400)
    every_second = sampler.shares()
    assert every_second["seconds"] == 3 and every_second["idle"] == pytest.approx(200 / 600)


def test_cpu_sampler_says_when_it_could_not_read(monkeypatch):
    from benchmarks.cpu_flip import CpuSampler

    def unreadable():
        raise OSError("no /proc here")

    monkeypatch.setattr(CpuSampler, "_read", staticmethod(unreadable))
    with pytest.raises(RuntimeError, match="no /proc here"):
        with CpuSampler(interval=0.01):
            pass


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="the MXCSR register and glibc's fenv_t layout are x86-64 Linux's")
def test_flush_denormals_reaches_threads_started_later():
    """In a child process: the MXCSR change must not leak into the test process."""

    script = ("import threading, numpy as np\n"
              "from benchmarks.cpu_flip import _flush_denormals\n"
              "tiny = np.array([np.finfo(np.float32).tiny], np.float32)\n"
              "assert (tiny / np.float32(2))[0] > 0\n"
              "_flush_denormals()\n"
              "seen = []\n"
              "thread = threading.Thread(target=lambda: seen.append(float((tiny / np.float32(2))[0])))\n"
              "thread.start(); thread.join()\n"
              "print(seen)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0.0]"


def test_machine_probe_measures_its_fixed_work():
    from benchmarks import machine_probe

    measured = machine_probe.measure(seconds=0.05)
    assert set(measured) == {"gemm_gflops", "copy_gbs"}
    # Any machine that runs the suite does more than 0.1 GFLOP/s and 0.1 GB/s, and none a PFLOP/s on two cores.
    assert 0.1 < measured["gemm_gflops"] < 1e6 and 0.1 < measured["copy_gbs"] < 1e5
    with pytest.raises(ValueError, match="seconds must be positive"):
        machine_probe.measure(seconds=0)
    assert machine_probe.describe({"gemm_gflops": 297.6, "copy_gbs": 25.71}) == "gemm 298 GFLOP/s, copy 25.7 GB/s"


def test_bandwidth_sampler_times_copies_while_the_block_runs():
    from benchmarks.machine_probe import BandwidthSampler

    with BandwidthSampler(interval=0.01, floats=1 << 16) as sampler:
        time.sleep(0.15)
        middle = time.time()
        time.sleep(0.15)
    every = sampler.rates()
    assert len(every) >= 3 and all(0.1 < rate < 1e5 for rate in every)  # GB/s of any machine
    before, after = sampler.rates(end=middle), sampler.rates(start=middle)
    assert before and after and before + after == every
    with BandwidthSampler(interval=60) as idle:
        pass
    assert idle.rates() == []
    with pytest.raises(ValueError, match="interval must be positive"):
        BandwidthSampler(interval=0)
    with pytest.raises(ValueError, match="floats must be at least 1"):
        BandwidthSampler(floats=0)


def test_epoch_usage_sums_the_epochs_after_the_first_and_leaves_the_pauses_out():
    from benchmarks.common import EpochUsage, process_usage

    # (wall time, CPU seconds, voluntary, involuntary) at: epoch 1 ends, epoch 2 starts after a 1 s pause, epoch 2
    # ends, epoch 3 starts after a 7 s pause, epoch 3 ends, the loop goes on after a last pause.
    marks = iter([(10, 5, 0, 0), (11, 5, 3, 0), (13, 9, 13, 40), (20, 9, 20, 40), (22, 12.6, 30, 60),
                  (50, 12.6, 31, 60)])
    usage = EpochUsage(usage=lambda: dict(zip(("time", "cpu", "voluntary", "involuntary"), next(marks))))
    paused = []
    callback = usage.between_epochs(wait=lambda: paused.append(len(usage.ends)))
    for _ in range(3):
        callback()
    assert paused == [1, 2, 3]  # the pause comes after each epoch's end is noted, before the next start
    summary = usage.summary(images_per_epoch=100)
    assert summary["cores_busy"] == pytest.approx((4 + 3.6) / 4)  # two epochs of 2 s, pauses left out
    assert summary["cpu_ms_per_image"] == pytest.approx(1000 * 7.6 / 200)
    assert summary["voluntary_per_second"] == pytest.approx((10 + 10) / 4)
    assert summary["involuntary_per_second"] == pytest.approx((40 + 20) / 4)
    assert summary["span"] == [11, 22]
    assert EpochUsage.describe(summary) == " [cores busy 1.90, 38.00 CPU ms/image, 15 involuntary switches/s]"
    assert EpochUsage.columns([summary, None, {**summary, "cores_busy": 1.5, "cpu_ms_per_image": 40.0}]) == {
        "cores busy": "1.70 (1.50-1.90)", "CPU ms/image": "39.00 (38.00-40.00)"}
    assert EpochUsage.describe(None) == "" and EpochUsage.columns([None]) == {}

    one_epoch = EpochUsage(usage=lambda: {"time": 1, "cpu": 1, "voluntary": 0, "involuntary": 0})
    one_epoch.between_epochs()()
    assert one_epoch.summary(100) is None  # the first epoch (tracing) is never counted
    frozen = EpochUsage(usage=lambda: {"time": 1, "cpu": 1, "voluntary": 0, "involuntary": 0})
    for _ in range(2):
        frozen.between_epochs()()
    with pytest.raises(ValueError, match="took no time"):
        frozen.summary(100)

    # The real clock: CPU time spent by this thread shows up, and never more than the wall time allows per core.
    real = EpochUsage()
    tick = real.between_epochs()
    tick()
    deadline = time.time() + 0.2
    while time.time() < deadline:
        pass
    tick()
    busy = real.summary(images_per_epoch=1)
    assert 0.5 < busy["cores_busy"] < 1.5 and busy["cpu_ms_per_image"] > 100
    assert set(process_usage()) == {"time", "cpu", "voluntary", "involuntary"}


def test_quiet_machine_waits_for_a_fast_enough_probe_and_gives_up_at_its_deadline():
    from benchmarks.machine_probe import QuietMachine

    quiet = QuietMachine.parse("245,17.5")
    assert quiet == QuietMachine(245.0, 17.5) and str(quiet) == "gemm >= 245 GFLOP/s and copy >= 17.5 GB/s"
    assert quiet.holds({"gemm_gflops": 245.0, "copy_gbs": 17.5})
    assert not quiet.holds({"gemm_gflops": 300.0, "copy_gbs": 17.4})  # both thresholds must hold
    assert not quiet.holds({"gemm_gflops": 244.9, "copy_gbs": 25.0})

    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    def machine(readings):
        readings = iter(readings)
        return lambda: {"gemm_gflops": next(readings), "copy_gbs": 20.0}

    # Loaded, loaded, quiet: three probes, 20 s apart, the last one quiet.
    reported = []
    taken = quiet.wait(600, measure=machine([150.0, 200.0, 290.0]), sleep=sleep, clock=lambda: now[0],
                       report=reported.append)
    assert [probe["gemm_gflops"] for probe in taken] == [150.0, 200.0, 290.0] and slept == [20.0, 20.0]
    assert reported == taken[:2]  # each loaded probe is shown as the wait goes on
    # Loaded throughout: it stops once another interval would pass the deadline, with the loaded probes.
    now[0], slept[:] = 0.0, []
    taken = quiet.wait(50, measure=machine([100.0] * 10), sleep=sleep, clock=lambda: now[0])
    assert len(taken) == 3 and slept == [20.0, 20.0] and not quiet.holds(taken[-1])
    for text in ("245", "a,b", "245,17.5,3", "0,17.5", "245,-1"):
        with pytest.raises(ValueError, match="GFLOPS,GBS|must be positive"):
            QuietMachine.parse(text)


def test_throughput_runs_reverse_their_order_every_second_repeat():
    from benchmarks.common import run_order

    settings = ["trainer", "fit", "pytorch", "pythae"]
    assert run_order(settings, 0) == settings == run_order(settings, 2)
    assert run_order(settings, 1) == ["pythae", "pytorch", "fit", "trainer"] == run_order(settings, 3)
    positions = [sum(run_order(settings, repeat).index(setting) for repeat in range(8)) for setting in settings]
    assert len(set(positions)) == 1  # over an even number of repeats every setting sits at the same mean position


def test_lockstep_reader_waits_for_the_child_and_reports_one_that_died(tmp_path):
    from benchmarks.common import WAITING, read_until_waiting

    script = (f"import sys\nprint('a line of a library')\nprint({WAITING!r}, flush=True)\n"
              "sys.stdin.readline()\nprint('{\"a library\": 1}')\nprint('{\"rates\": [1.5]}', flush=True)\n")
    with open(tmp_path / "log", "w+") as log:
        child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=log, text=True)
        assert read_until_waiting(child, log, want_result=False) is None  # waiting between epochs
        child.stdin.write("go\n")
        child.stdin.flush()
        assert read_until_waiting(child, log, want_result=True) == {"rates": [1.5]}
    with open(tmp_path / "log2", "w+") as log:
        dead = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('out of memory'); sys.exit(3)"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        with pytest.raises(RuntimeError, match="ended early \\(exit 3\\): out of memory"):
            read_until_waiting(dead, log, want_result=False)


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
