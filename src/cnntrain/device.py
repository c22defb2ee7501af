"""Choose and check the device before any data loads, and set the switches that make it fast."""

from __future__ import annotations

import os

import torch

from cnntrain.errors import DeviceError


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
            raise DeviceError(f"train.device is {name!r} but only {count} GPU(s) are visible (cuda:0..cuda:{count - 1})")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise DeviceError("train.device is 'mps' but this machine has no Apple GPU; use cpu or auto")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"train.device {name!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def configure(device: torch.device, *, deterministic: bool) -> None:
    """Process-wide switches for speed (or reproducibility)."""
    if device.type == "cpu":
        # A decaying learning rate fills weights and gradients with denormal floats, which the CPU
        # handles in microcode, ten times slower. Flushing them to zero changes no result that matters.
        torch.set_flush_denormal(True)
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


def autocast_dtype(precision: str, device: torch.device):
    """The autocast dtype for `train.precision`, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "fp16" and device.type == "cpu":
        raise DeviceError("train.precision fp16 needs a GPU; on the CPU use bf16")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with AVX512-BF16 or AMX; elsewhere it is emulated and much slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
