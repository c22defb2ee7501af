"""Section 4: denormal floats, flushed on every thread or not."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import torch

from benchkit.loops import bare_mnist_cnn
from benchkit.machine import CPU
from cnntrain.run.device import configure

# --- 4. denormals ---------------------------------------------------------------------------------


def flushed_fraction() -> float:
    """Share of denormal results flushed to zero by a parallel op: 1.0 when every thread flushes."""
    y = torch.full((1 << 22,), 1e-30) * 1e-10  # 1e-40 is denormal in float32
    return (y == 0).float().mean().item()


def bench_denormals() -> dict:
    """Adadelta's step when its running averages have decayed into denormals (weights whose gradient
    stayed zero: after ~700 steps of *0.9 they are there), with the CPU's flush-to-zero off and on.
    Single-threaded, so the switch (per thread) covers all the work."""
    configure(CPU, deterministic=False)
    fraction = flushed_fraction()
    # A library user may have run torch before cnntrain configures: its OpenMP threads exist already.
    probe = ("import torch; torch.ones(1 << 22).mul_(2)\n"
             "from cnntrain.run.device import configure; configure(torch.device('cpu'), deterministic=False)\n"
             "y = torch.full((1 << 22,), 1e-30) * 1e-10; print((y == 0).float().mean().item())")
    after = float(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = bare_mnist_cnn()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # creates the state

    def step_ms(fill: float, flush: bool) -> float:
        torch.set_flush_denormal(flush)
        times = []
        for _ in range(9):
            for state in optimizer.state.values():
                state["square_avg"].fill_(fill)
                state["acc_delta"].fill_(fill)
            t = time.perf_counter()
            optimizer.step()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e3

    try:
        ms = {"normal": step_ms(1e-4, True), "denormal_flush_off": step_ms(1e-39, False),
              "denormal_flush_on": step_ms(1e-39, True)}
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    return {"flushed_fraction_all_threads": fraction, "flushed_fraction_after_earlier_torch_work": after,
            **{f"adadelta_step_ms_{k}": round(v, 2) for k, v in ms.items()},
            "slowdown_without_flush": round(ms["denormal_flush_off"] / ms["normal"], 2),
            "slowdown_with_flush": round(ms["denormal_flush_on"] / ms["normal"], 2)}


