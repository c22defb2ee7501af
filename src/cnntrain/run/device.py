"""Choose and check the device before any data loads, and set the switches that make it fast."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator

import torch

from cnntrain.config import TrainSettings
from cnntrain.errors import ConfigError, DeviceError


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device must exist or it is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank or 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"train.device {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"train.device is {name!r} but this machine has no usable CUDA GPU; "
                              "use --set train.device=cpu (or auto)")
        count = torch.cuda.device_count()
        index = device.index if device.index is not None else (local_rank or 0)
        if index >= count:
            raise DeviceError(f"train.device is {name!r} but only {count} GPU(s) are visible "
                              f"(cuda:0..cuda:{count - 1})")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise DeviceError("train.device is 'mps' but this machine has no Apple GPU; use cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"train.device {name!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def configure(device: torch.device, *, deterministic: bool, threads: int | None = None,
              follow_load: bool = False) -> None:
    """Process-wide switches for speed (or reproducibility), and the run's CPU thread count (`run_threads`;
    None keeps torch's)."""
    if follow_load and deterministic:
        raise ConfigError("train.threads_follow_load makes results depend on the machine's load and "
                          "train.deterministic asks for exact results: set one of them, not both")
    # Fixed for the whole run: the thread count decides how float sums split between threads, so a count
    # that changed with the load would change the weights (see CoreShare for the opt-in that does).
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        # A decaying learning rate fills weights and gradients with denormal floats, which the CPU
        # handles in microcode, ten times slower. Flushing them to zero changes no result that matters.
        flush_denormal_all_threads()
        keep_freed_memory()
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if deterministic and device.type == "cuda":
        # cuBLAS is deterministic only with a fixed workspace; read when its handle is first made.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Set either way: a process-wide switch, and a second run in the same process may not want it.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    CORES.start(device, follow_load=follow_load)


def run_threads(train_cfg: TrainSettings, checkpoint: dict | None) -> int:
    """The CPU thread count of a run, chosen once and recorded in its checkpoints (`threads`).

    train.threads if set; else, on --resume, the count the run started with, so a run resumed where
    OMP_NUM_THREADS or torch.set_num_threads differ still sums its floats in the same order; else
    torch's count now: one per core, or OMP_NUM_THREADS. Never the free cores of the moment: two runs
    of one config beside different neighbours would then differ.
    """
    if train_cfg.threads is not None:
        return train_cfg.threads
    if checkpoint is not None and checkpoint.get("threads"):
        return int(checkpoint["threads"])
    return torch.get_num_threads()


def flush_denormal_all_threads(on: bool = True) -> None:
    """torch.set_flush_denormal sets only the calling thread's flags. OpenMP threads started later copy
    them, but any torch work before `configure` (a notebook, a benchmark, a second run) has started
    them already, and they would do their share of every op on denormals: so run it on each of them."""
    torch.set_flush_denormal(on)
    if not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            libraries = {line.split()[-1] for line in f if "libgomp" in line}
        for path in libraries:  # torch's OpenMP runtime, already loaded: CDLL returns the same copy
            gomp = ctypes.CDLL(path)
            gomp.GOMP_parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
            body = _OMP_BODY(lambda _: torch.set_flush_denormal(on))
            gomp.GOMP_parallel(ctypes.cast(body, ctypes.c_void_p), None, torch.get_num_threads(), 0)
    except (OSError, AttributeError):
        pass  # another OpenMP runtime: threads started from here on still inherit the flags


_OMP_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@contextlib.contextmanager
def process_as_found() -> Iterator[None]:
    """A library call (train, lr-find) leaves the process as it found it: training fixes its own thread
    count and flushes denormal floats on every thread (`configure`); both are given back here."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        flush_denormal_all_threads(False)
        torch.set_num_threads(threads)


def keep_freed_memory() -> None:
    """Let glibc's malloc reuse the memory of freed activations instead of returning it to the OS.

    Left to itself it hands large freed blocks back (munmap, heap trim) and takes them again on the
    next step, page by page: ~7000 page faults per mnist_cnn step, a fifth of the step's time. With
    blocks up to 32 MB (the most glibc allows) kept in the heap, and up to 512 MB of free heap kept,
    the next step finds its memory mapped already. Other C libraries have no mallopt: nothing to do.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)  # also stops glibc from moving the threshold itself
        libc.mallopt(_M_TRIM_THRESHOLD, 512 * 2**20)
    except (OSError, AttributeError):
        pass


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def limit_compile_threads() -> None:
    """Before inductor loads: on a CPU with 2 cores or fewer, torch.compile's pool of compile workers
    (one per core) would fight the training for the CPU, so compile in-process, unless the user set
    TORCHINDUCTOR_COMPILE_THREADS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores > 2 or "TORCHINDUCTOR_COMPILE_THREADS" in os.environ:
        return
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
    config = sys.modules.get("torch._inductor.config")  # already read by an earlier import (torchvision's)
    if config is not None:
        config.compile_threads = 1


def precision_warning(precision: str, device: torch.device) -> str | None:
    """Why the chosen precision will be slow here, or None."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        return ("train.precision bf16: this CPU has no bf16 units (AVX512-BF16, AMX or ARM BF16), so bf16 is "
                "emulated and usually much slower than fp32; use --set train.precision=fp32")
    return None


def autocast_dtype(precision: str, device: torch.device):
    """The autocast dtype for `train.precision`, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type == "cpu":
        raise DeviceError("train.precision fp16 needs a GPU; on the CPU use bf16")
    return torch.bfloat16 if precision == "bf16" else torch.float16


# x86's AVX512-BF16 and AMX, ARM's BF16 (Armv8.6): the flags under which bf16 runs on its own units
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_fast_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """bf16 only pays on CPUs with bf16 units; elsewhere it is emulated and much slower.
    CNNTRAIN_CPU_BF16=0 or 1 overrides what the flags say (to try the other path on one machine)."""
    forced = os.environ.get("CNNTRAIN_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    return bool(cpu_flags(cpuinfo) & BF16_FLAGS)


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (x86 `flags`, ARM `Features`); empty elsewhere."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


# --- sharing the CPU with other processes ----------------------------------------------------------


class CoreShare:
    """Opt-in (`train.threads_follow_load: true`), trading exactness for speed on a busy machine: train
    with as many CPU threads as the cores other processes leave free.

    PyTorch's OpenMP threads wait for each other at every parallel region: when another process holds
    one of two cores, a 2-thread step waits on the thread it displaced. So between batches, every 0.3 s,
    this looks at the cores the rest of the machine used in the last 0.3 s (/proc/stat's busy time
    minus this process's own, sampled every 0.1 s by a background thread that sleeps in between) and
    uses the cores left, never more than the run's thread count. After the epoch that count is back.
    The thread count changes the order of floating-point sums, so the weights then depend on what the
    neighbours did: off by default, and refused with train.deterministic. Off where there is no /proc/stat.
    """

    def __init__(self):
        self.enabled = False
        self.ceiling = torch.get_num_threads()
        self.samples: collections.deque = collections.deque(maxlen=16)  # (wall, machine busy, our CPU) s
        self.sampler: threading.Thread | None = None
        self.chosen: list[int] = []  # the thread counts of the last epoch, check by check (for the benchmark)

    def start(self, device: torch.device, *, follow_load: bool) -> None:
        """Called by `configure` before each run, after it fixed the run's thread count."""
        self.enabled = follow_load and device.type == "cpu" and _machine_busy_seconds() is not None
        self.ceiling = torch.get_num_threads()
        if self.enabled and self.sampler is None:
            self.sampler = threading.Thread(target=self._sample, name="cnntrain-cores", daemon=True)
            self.sampler.start()

    def _sample(self) -> None:
        while True:
            self.samples.append(_usage_now())
            time.sleep(_SAMPLE_EVERY_S)

    def others(self) -> float | None:
        """Cores the other processes kept busy over the last 0.3-0.4 s, or None before there is one."""
        now = _usage_now()
        base = next((m for m in reversed(list(self.samples)) if now[0] - m[0] >= _WINDOW_S), None)
        if base is None:
            return None
        wall, busy, ours = (b - a for a, b in zip(base, now))
        return max(busy - ours, 0.0) / wall

    def threads(self) -> int:
        """The thread count for what comes next: one per core the others leave free, at least one."""
        others = self.others()
        if others is None:
            return self.ceiling
        free = (os.cpu_count() or 1) - others
        return max(1, min(self.ceiling, int(free + 0.5)))

    def follow(self, batches: Iterable) -> Iterator:
        """The epoch's batches (Engine.train_epoch), the thread count following the free cores between them."""
        self.chosen = []
        if not self.enabled or torch.get_num_threads() != self.ceiling:
            yield from batches  # off, or someone changed the count since `start`: theirs stays
            return
        check = 0.0
        try:
            for batch in batches:
                if time.perf_counter() >= check:
                    self.chosen.append(self.threads())
                    torch.set_num_threads(self.chosen[-1])
                    check = time.perf_counter() + _WINDOW_S
                yield batch
        finally:
            torch.set_num_threads(self.ceiling)


_SAMPLE_EVERY_S, _WINDOW_S = 0.1, 0.3
CORES = CoreShare()  # process-wide, as the thread count is


def _usage_now() -> tuple[float, float, float]:
    return time.perf_counter(), _machine_busy_seconds() or 0.0, time.process_time()


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores of the machine spent busy since boot (Linux), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
