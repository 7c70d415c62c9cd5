"""Helpers shared by the benchmarks: medians over repeats, a printed table, a JSON record, a fresh child process per
run, the order of alternated runs, and what a training process spent on its epochs."""
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def process_usage():
    """This process's wall-clock time (time.time()), CPU time of all its threads (user + system) and context
    switches (voluntary: a thread waited; involuntary: the scheduler took its core)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"time": time.time(), "cpu": usage.ru_utime + usage.ru_stime, "voluntary": usage.ru_nvcsw,
            "involuntary": usage.ru_nivcsw}


class EpochUsage:
    """What a training process spent on its epochs after the first, to tell two kinds of slow run apart: one whose
    threads kept the cores busy and still went slowly (each step cost more CPU time: a loaded machine, a slower core)
    from one whose threads waited (fewer cores busy). `between_epochs()` gives the callback a training loop calls
    after each epoch (outside the epoch's timing): it marks the usage then. `usage` is the clock (tests pass their
    own)."""

    def __init__(self, usage=process_usage):
        self._usage = usage
        self.marks = []

    def between_epochs(self):
        def callback():
            self.marks.append(self._usage())
        return callback

    def summary(self, images_per_epoch):
        """Over the epochs after the first (each from the mark after the previous epoch to its own, so a path's own
        work between epochs, validation or checkpoints, is in): {"cores_busy": CPU seconds per wall second,
        "cpu_ms_per_image", "involuntary_per_second", "voluntary_per_second", "span": [end of the first epoch, end of
        the last] in time.time()}; None with fewer than two epochs."""
        if len(self.marks) < 2:
            return None
        first, last = self.marks[0], self.marks[-1]
        epochs = len(self.marks) - 1
        wall, cpu = last["time"] - first["time"], last["cpu"] - first["cpu"]
        if not wall > 0:
            raise ValueError(f"The epochs after the first took no time ({wall} s): is the clock right?")
        return {"cores_busy": cpu / wall, "cpu_ms_per_image": 1000 * cpu / (images_per_epoch * epochs),
                "involuntary_per_second": (last["involuntary"] - first["involuntary"]) / wall,
                "voluntary_per_second": (last["voluntary"] - first["voluntary"]) / wall,
                "span": [first["time"], last["time"]]}

    # The table columns `columns` fills, in order.
    COLUMNS = ("cores busy", "CPU ms/image")

    @staticmethod
    def describe(summary):
        """A run's summary in words, for its progress line ("" for a run with a single epoch)."""
        if not summary:
            return ""
        return (f" [cores busy {summary['cores_busy']:.2f}, {summary['cpu_ms_per_image']:.2f} CPU ms/image, "
                f"{summary['involuntary_per_second']:.0f} involuntary switches/s]")

    @staticmethod
    def columns(summaries):
        """{column: "median (min-max)"} of cores busy and CPU ms per image over the runs' summaries (those of
        single-epoch runs, None, left out; {} if none is left)."""
        kept = [summary for summary in summaries if summary]
        if not kept:
            return {}
        return {column: "{:.2f} ({:.2f}-{:.2f})".format(*median_and_spread([summary[key] for summary in kept]))
                for key, column in zip(("cores_busy", "cpu_ms_per_image"), EpochUsage.COLUMNS)}


def median_and_spread(values):
    """Returns (median, min, max) of a list of numbers."""
    return statistics.median(values), min(values), max(values)


def print_table(title, rows, columns):
    """Prints rows (dicts) as a fixed-width table with the given columns."""
    widths = {c: max(len(c), *(len(_format(r.get(c))) for r in rows)) for c in columns}
    print(f"\n{title}")
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(_format(row.get(c)).ljust(widths[c]) for c in columns))


def cpu_flags():
    """The instruction-set flags that matter for training speed (AVX-512, bfloat16, AMX), from /proc/cpuinfo."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_bf16", "amx_tile",
              "amx_int8", "avx_vnni")
    from tfvae import precision  # here, not at the top: the other helpers load without TensorFlow

    flags = precision.cpu_flags()
    return [flag for flag in wanted if flag in flags]


def run_order(settings, repeat):
    """The settings in the order repeat `repeat` (from 0) runs them. Alternating the settings inside each repeat
    spreads machine noise evenly; reversing the order every second repeat keeps a drift of the machine from always
    favouring the settings that run first."""
    return list(settings) if repeat % 2 == 0 else list(settings)[::-1]


def child_environment(changes=None):
    """This process's environment for a benchmark's child, TensorFlow's info logs off, with `changes` applied."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(changes or {})}


def run_child(module, arguments, environment=None):
    """Runs `python -m module *arguments` in a fresh process; returns the JSON object of its last stdout line that
    starts with "{". A run's speed is a property of its process (thread pools, allocator, oneDNN's caches), so the
    benchmarks time each run in its own process."""
    result = subprocess.run([sys.executable, "-m", module, *arguments], env=child_environment(environment),
                            capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        raise RuntimeError(f"`python -m {module} {' '.join(arguments)}` failed (exit {result.returncode}): "
                           f"{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def write_json(name, payload):
    """Writes benchmarks/results/NAME.json with the machine description; returns the path."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": {
        "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version()}, **payload}
    from tfvae.files import atomic_write  # here: a benchmark's parent process need not load TensorFlow

    # Whole or not at all: a benchmark killed while writing keeps the previous results file.
    return atomic_write(path, json.dumps(payload, indent=2))


def _format(value):
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)
