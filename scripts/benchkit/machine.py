"""The machine the bench runs on, and the interleaved rounds that make every speed a side-by-side ratio."""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from cnntrain.run.device import cpu_flags, cpu_has_fast_bf16

ROOT = Path(__file__).resolve().parents[2]
MNIST_CNN = ROOT / "configs" / "mnist_cnn.yaml"
CPU = torch.device("cpu")
QUIET_CORES = 0.3  # other processes using less than this: a round counts as quiet
OWN_PIDS: set[int] = set()  # our child processes still running (peers, the neighbour): not "other processes"


# --- the machine ---------------------------------------------------------------------------------


# the vector extensions that decide how fast torch's kernels run: x86, then ARM
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve",
                "sve2", "bf16", "i8mm")


def machine() -> dict:
    flags = cpu_flags()
    forced = os.environ.get("CNNTRAIN_CPU_BF16")
    return {"cpu": cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(),
            "vector_extensions": [f for f in VECTOR_FLAGS if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "fast_bf16": cpu_has_fast_bf16(), "fast_bf16_forced": forced if forced in ("0", "1") else None,
            "torch": torch.__version__, "torch_build": torch_build(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


def cpu_model() -> str:
    """x86's `model name`; ARM Linux names the implementer and part only (e.g. 0x41 / 0xd40: Neoverse V1)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in fields:
        return fields["model name"]
    if "CPU part" in fields:
        return f"{platform.machine()} CPU implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    return platform.processor() or platform.machine() or "unknown"


def torch_build() -> str:
    kind = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    parallel = next((line.split(":", 1)[1].strip() for line in torch.__config__.parallel_info().splitlines()
                     if line.startswith("ATen parallel backend")), "?")
    return f"{kind}; {parallel}; oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"


class Busy:
    """Cores the rest of the machine kept busy while a section ran (0 on a quiet machine)."""

    def __enter__(self):
        self.start = _cpu_ticks()
        return self

    def __exit__(self, *exc):
        total, ours, wall = (b - a for a, b in zip(self.start, _cpu_ticks()))
        self.cores = round(max(total - ours, 0.0) / wall, 2) if wall > 0 else None


def _cpu_ticks() -> tuple[float, float, float]:
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        busy = 0.0
    t = os.times()
    ours = t.user + t.system + t.children_user + t.children_system + sum(_process_seconds(p) for p in list(OWN_PIDS))
    return busy, ours, time.perf_counter()


def _process_seconds(pid: int) -> float:
    """CPU seconds a running child used (it counts in os.times() only once waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def others_now(seconds: float = 0.25) -> float:
    """Cores other processes are using right now (we sleep meanwhile)."""
    with Busy() as busy:
        time.sleep(seconds)
    return busy.cores or 0.0


def wait_quiet(max_wait_s: float, limit: float = QUIET_CORES) -> float:
    """Wait (up to max_wait_s) for the other processes to leave the CPUs; -> seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait_s and others_now() > limit:
        time.sleep(0.25)
    return time.perf_counter() - start


class Rounds:
    """Units per second of each turn, round by round, and how busy the machine was in each round."""

    def __init__(self, names):
        self.rates, self.background = {n: [] for n in names}, []

    def quiet(self) -> "Rounds":
        """Only the rounds the rest of the machine left alone, when there are at least 3 of them."""
        keep = [i for i, b in enumerate(self.background) if b <= QUIET_CORES]
        if len(keep) < 3:
            return self
        picked = Rounds(self.rates)
        picked.rates = {n: [r[i] for i in keep] for n, r in self.rates.items()}
        picked.background = [self.background[i] for i in keep]
        return picked

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def ratio(self, a: str, b: str, scale: float = 1.0) -> float:
        """Median over rounds of the per-round ratio a / b: both saw the same machine."""
        return statistics.median(scale * x / y for x, y in zip(self.rates[a], self.rates[b]))


def interleave(turns: dict, rounds: int, warmup: int, budget_s: float) -> Rounds:
    """Run every turn once per round, in a shuffled order.

    A turn is a function returning how many units (images, FLOPs) it processed, or (units, seconds)
    when it times itself (a peer's epoch inside its framework, a turn that first starts a neighbour).
    Before each round we wait a little for a quiet machine; warm-up rounds are dropped; the budget
    (waits included) stops early on a crowded machine, never before 3 measured rounds.
    """
    names, out = list(turns), Rounds(turns)
    started = time.perf_counter()
    for r in range(warmup + rounds):
        wait_quiet(min(5.0, max(budget_s - (time.perf_counter() - started), 0.0) / 4))
        order = random.Random(r).sample(names, len(names))  # neither first place nor a neighbour is fixed
        with Busy() as busy:
            for name in order:
                t = time.perf_counter()
                done = turns[name]()
                units, seconds = done if isinstance(done, tuple) else (done, time.perf_counter() - t)
                if r >= warmup:
                    out.rates[name].append(units / seconds)
        if r >= warmup:
            out.background.append(busy.cores or 0.0)
        if r >= warmup + 2 and time.perf_counter() - started > budget_s:
            break
    return out


