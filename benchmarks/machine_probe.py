"""How fast this machine is right now, measured without TensorFlow or PyTorch: a fixed NumPy workload timed in a fresh
process, for the benchmarks to run beside each training run.

On the shared 2-core machines a training run is sometimes 15-30% slower than its neighbours with nothing in its own
process to show why. If the probe, which shares no code with the run, is slow at the same time, the machine was slow
(another tenant, the host's clock); if the probe is steady while runs of one model are slow, the cause is in that
model's process.

    python -m benchmarks.machine_probe [--seconds=1.5]

`BandwidthSampler` measures the memory bandwidth during a run instead, a copy every few seconds beside it.

Two measures, each the median over calls repeated for `seconds`:
    gemm_gflops   float32 1024 x 1024 matrix products through NumPy's BLAS on every core it uses (compute);
    copy_gbs      a 64 MiB float32 array copied (memory: read + write counted).
"""
import dataclasses
import json
import statistics
import time

import numpy as np
from absl import app, flags

from benchmarks.common import PeriodicSampler

GEMM_SIDE = 1024
COPY_FLOATS = 16 * 1024 * 1024  # 64 MiB of float32


def _timed_calls(call, seconds):
    """Seconds per call of `call()`, repeated until `seconds` have passed (at least 3 calls, after one warm-up)."""
    call()
    durations, started = [], time.perf_counter()
    while len(durations) < 3 or time.perf_counter() - started < seconds:
        before = time.perf_counter()
        call()
        durations.append(time.perf_counter() - before)
    return durations


def measure(seconds=1.5):
    """{"gemm_gflops": ..., "copy_gbs": ...}: medians over calls repeated for `seconds` each."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive. Received: {seconds!r}")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_SIDE, GEMM_SIDE), dtype=np.float32)
    b = rng.standard_normal((GEMM_SIDE, GEMM_SIDE), dtype=np.float32)
    product = np.empty_like(a)
    gemm = _timed_calls(lambda: np.matmul(a, b, out=product), seconds)
    source = rng.standard_normal(COPY_FLOATS, dtype=np.float32)
    target = np.empty_like(source)
    copy = _timed_calls(lambda: np.copyto(target, source), seconds)
    return {"gemm_gflops": 2 * GEMM_SIDE ** 3 / statistics.median(gemm) / 1e9,
            "copy_gbs": 2 * source.nbytes / statistics.median(copy) / 1e9}


class BandwidthSampler(PeriodicSampler):
    """Memory bandwidth seen *while* a `with` block runs: every `interval` seconds a thread copies a 64 MiB array
    once and times the copy in its own CPU time (time.thread_time), so time spent waiting for a core while training
    threads hold both is not counted, only time spent moving the bytes. One copy takes a few milliseconds: about
    0.3% of one core at the default interval.

    If a slow training process were slow for a reason of its own it would move fewer bytes per second, and the
    copies beside it would find more bandwidth, not less; copies that find less while it is slow say that something
    outside the process took the memory system.
    """

    WHAT = "the memory bandwidth"

    def __init__(self, interval=2.0, floats=COPY_FLOATS):
        super().__init__(interval)
        if floats < 1:
            raise ValueError(f"floats must be at least 1. Received: {floats!r}")
        self.floats, self.samples = floats, []

    def _run(self):
        try:
            source = np.ones(self.floats, np.float32)
            target = np.empty_like(source)
            np.copyto(target, source)  # pages touched before the first timed copy
            while not self._stop.wait(self.interval):
                started = time.thread_time()
                np.copyto(target, source)
                seconds = time.thread_time() - started
                if seconds > 0:  # below the clock's resolution: nothing to say
                    self.samples.append((time.time(), 2 * source.nbytes / seconds / 1e9))
        except (MemoryError, OSError) as error:
            self.error = error

    def rates(self, start=float("-inf"), end=float("inf")):
        """GB/s of the copies made between the wall-clock times `start` and `end` (time.time())."""
        return [rate for when, rate in self.samples if start <= when <= end]


def describe(measured):
    """A probe's result in words: "gemm 298 GFLOP/s, copy 25.7 GB/s"."""
    return f"gemm {measured['gemm_gflops']:.0f} GFLOP/s, copy {measured['copy_gbs']:.1f} GB/s"


def probe(seconds=1.5):
    """`measure` in a fresh process (this one may hold TensorFlow's or BLAS's spinning threads)."""
    from benchmarks.common import run_child

    return run_child("benchmarks.machine_probe", [f"--seconds={seconds}"])


@dataclasses.dataclass(frozen=True)
class QuietMachine:
    """The least a probe measures when the machine is quiet enough to time on: a benchmark waits for such a probe
    before a repeat and calls a repeat quiet only if every probe around it reaches both thresholds. The thresholds
    are set before the benchmark runs (never from its results)."""

    gemm_gflops: float
    copy_gbs: float

    @classmethod
    def parse(cls, text):
        """From "GFLOPS,GBS", e.g. "255,17"."""
        try:
            gemm_gflops, copy_gbs = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"A quiet machine is given as GFLOPS,GBS (two positive numbers, e.g. 255,17). "
                             f"Received: {text!r}") from None
        if not (gemm_gflops > 0 and copy_gbs > 0):
            raise ValueError(f"A quiet machine's GFLOPS and GBS must be positive. Received: {text!r}")
        return cls(gemm_gflops, copy_gbs)

    def holds(self, measured):
        return measured["gemm_gflops"] >= self.gemm_gflops and measured["copy_gbs"] >= self.copy_gbs

    def wait(self, seconds, interval=20.0, measure=None, sleep=time.sleep, clock=time.monotonic, report=None):
        """Probes (`measure`, default `probe`) every `interval` seconds until one holds or `seconds` have passed;
        returns every probe taken (the last describes the machine as the wait ended). `report(probe)` is called
        with each loaded probe, to show the wait's progress."""
        measure = measure or probe
        deadline = clock() + seconds
        taken = [measure()]
        while not self.holds(taken[-1]) and clock() + interval <= deadline:
            if report is not None:
                report(taken[-1])
            sleep(interval)
            taken.append(measure())
        return taken

    def __str__(self):
        return f"gemm >= {self.gemm_gflops:g} GFLOP/s and copy >= {self.copy_gbs:g} GB/s"


def main(argv):
    del argv
    print(json.dumps(measure(flags.FLAGS.seconds)), flush=True)


if __name__ == "__main__":
    flags.DEFINE_float("seconds", 1.5, "Seconds each measure repeats its calls.")
    app.run(main)
