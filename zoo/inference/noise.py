"""Was the machine quiet enough to trust a benchmark? (pyperf's "the result may be unstable" idea)

`NoiseMonitor` records, over the measurement, the load average and the CPU time that *other* processes
used (all CPU time in /proc/stat minus this process's own). `assess` adds per-row spread (the coefficient
of variation of block means, as pyperf's runs, and p99/p50) and returns warnings, one line each, naming
which rows and why.
"""

import os
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from zoo.inference.bench_results import Latency, Noise

# Other processes using more than this share of one core on average compete with the benchmark.
BUSY_CORES = 0.25
# stdev / mean of the means of 10 consecutive blocks of one row's calls (zoo.inference.bench.block_cv);
# pyperf warns
# above 10%. Single calls of ~0.1 ms have a cv of 0.3-0.6 on a quiet machine (interrupts), so the cv of
# single calls is recorded but does not decide.
MAX_CV = 0.10
MAX_TAIL = 4.0  # p99 / p50


def _busy_cpu_seconds() -> float | None:
    """CPU time all processes used so far (user+nice+system+irq+softirq+steal), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class NoiseMonitor:
    started: float = 0.0
    busy_start: float | None = None
    own_start: float = 0.0
    load: list[float] = field(default_factory=list)

    def __enter__(self) -> "NoiseMonitor":
        self.started = time.perf_counter()
        self.busy_start = _busy_cpu_seconds()
        self.own_start = _own_cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.started
        busy_end = _busy_cpu_seconds()
        own = _own_cpu_seconds() - self.own_start
        self.other_cpu = (
            max(0.0, busy_end - self.busy_start - own)
            if busy_end is not None and self.busy_start is not None
            else None
        )
        self.load = list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def assess(monitor: NoiseMonitor, rows: Iterable[tuple[str, list[Latency]]]) -> Noise:
    """The noise record stored in results.json (`machine.noise`), with its warnings. `rows` are the
    measured rows as (label, latencies); each latency gets its `cv` and `p99_over_p50`."""
    warnings = []
    cores_used = (
        monitor.other_cpu / monitor.wall if monitor.other_cpu is not None and monitor.wall > 0 else None
    )
    busy = cores_used is not None and cores_used > BUSY_CORES
    if busy:
        warnings.append(
            f"the machine was busy: other processes used {cores_used:.2f} cores on average during the "
            f"measurement (load average {monitor.load[0]:.2f}); every timing may be inflated, run again on a "
            "quiet machine"
            if monitor.load
            else f"the machine was busy: other processes used {cores_used:.2f} cores on average"
        )
    unstable = []
    for label, latencies in rows:
        for lat in latencies:
            lat.cv = lat.stdev_ms / lat.mean_ms if lat.mean_ms > 0 else 0.0
            tail = lat.p99_ms / lat.p50_ms if lat.p50_ms > 0 else 0.0
            lat.p99_over_p50 = tail
            if lat.block_cv > MAX_CV or tail > MAX_TAIL:
                unstable.append(
                    f"{label} batch {lat.batch_size} "
                    f"(cv of block means {lat.block_cv:.2f}, p99/p50 {tail:.1f})"
                )
    if unstable:
        warnings.append(
            f"unstable rows (cv of block means > {MAX_CV} or p99/p50 > {MAX_TAIL:g}): {'; '.join(unstable)}; "
            "raise --min-seconds or run on a quiet machine"
        )
    return Noise(
        wall_seconds=monitor.wall,
        other_processes_cpu_seconds=monitor.other_cpu,
        other_processes_cores=cores_used,
        load_average=monitor.load,
        busy=busy,
        unstable_rows=unstable,
        warnings=warnings,
    )
