"""run/device.py on the CPU: which CPUs count as having bf16 units, and CoreShare's thread count, which
follows the cores other processes leave free when a run opts in. Nothing here is timed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from cnntrain.errors import ConfigError
from cnntrain.run import device
from cnntrain.run.device import CoreShare, cpu_flags, cpu_has_fast_bf16, precision_warning

CPU = torch.device("cpu")
X86_AVX2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\n"
X86_BF16 = "model name\t: Intel(R) Xeon(R)\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
ARM_BF16 = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd sve sve2 bf16 i8mm\nCPU part\t: 0xd4f\n"
ARM_NEON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\nCPU part\t: 0xd08\n"


@pytest.mark.parametrize("text, fast", [(X86_AVX2, False), (X86_BF16, True), (ARM_BF16, True), (ARM_NEON, False),
                                        ("", False)])
def test_bf16_units_come_from_the_flags(tmp_path, monkeypatch, text, fast):
    monkeypatch.delenv("CNNTRAIN_CPU_BF16", raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert cpu_has_fast_bf16(str(cpuinfo)) is fast
    assert ("asimd" in cpu_flags(str(cpuinfo))) is ("asimd" in text)


def test_the_environment_overrides_the_flags(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(X86_BF16)
    monkeypatch.setenv("CNNTRAIN_CPU_BF16", "0")
    assert not cpu_has_fast_bf16(str(cpuinfo))
    assert "emulated" in precision_warning("bf16", CPU)
    monkeypatch.setenv("CNNTRAIN_CPU_BF16", "1")
    assert precision_warning("bf16", CPU) is None
    assert precision_warning("fp32", CPU) is None


# --- CoreShare -------------------------------------------------------------------------------------


@pytest.fixture
def threads_back():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def share_seeing(others: float, ceiling: int, monkeypatch) -> CoreShare:
    """A CoreShare whose last half second showed `others` cores busy in other processes."""
    share = CoreShare()
    share.enabled, share.ceiling = True, ceiling
    share.samples.append((0.0, 0.0, 0.0))
    monkeypatch.setattr(device, "_usage_now", lambda: (1.0, others + 0.5, 0.5))  # 1 s: we used 0.5 core
    monkeypatch.setattr(device.os, "cpu_count", lambda: 2)
    return share


@pytest.mark.parametrize("others, ceiling, threads", [(0.0, 2, 2), (0.3, 2, 2), (0.7, 2, 1), (1.0, 2, 1),
                                                      (1.9, 2, 1), (0.0, 1, 1)])
def test_threads_follow_the_free_cores(monkeypatch, others, ceiling, threads):
    share = share_seeing(others, ceiling, monkeypatch)
    assert share.others() == pytest.approx(others)
    assert share.threads() == threads


def test_an_epoch_runs_on_the_free_cores_and_gives_the_count_back(monkeypatch, threads_back):
    torch.set_num_threads(2)
    share = share_seeing(1.0, 2, monkeypatch)
    seen = [torch.get_num_threads() for _ in share.follow(range(3))]
    assert seen == [1, 1, 1] and share.chosen == [1]  # one check: the batches took under 0.3 s
    assert torch.get_num_threads() == 2


def test_the_count_is_back_when_the_epoch_fails(monkeypatch, threads_back):
    torch.set_num_threads(2)
    share = share_seeing(1.0, 2, monkeypatch)

    def epoch():
        for _ in share.follow(range(3)):
            raise FloatingPointError("diverged")  # e.g. TrainingDiverged out of Engine.train_epoch

    with pytest.raises(FloatingPointError):
        epoch()
    assert torch.get_num_threads() == 2


def test_the_count_follows_the_machine_within_an_epoch(monkeypatch, threads_back):
    torch.set_num_threads(2)
    share = share_seeing(1.0, 2, monkeypatch)
    seen = []
    for i in share.follow(range(2)):
        seen.append(torch.get_num_threads())
        monkeypatch.setattr(device, "_usage_now", lambda: (1.0, 0.5, 0.5))  # the neighbour has left
        monkeypatch.setattr(device.time, "perf_counter", lambda: 1e9)  # and the next check is due
    assert seen == [1, 2]


def test_no_sample_yet_means_no_change(threads_back):
    torch.set_num_threads(2)
    share = CoreShare()
    share.enabled, share.ceiling = True, 2
    assert [torch.get_num_threads() for _ in share.follow(range(2))] == [2, 2]


@pytest.mark.parametrize("case", ["by_default", "user_changed_threads"])
def test_a_fixed_thread_count_is_left_alone(monkeypatch, threads_back, case):
    """Following the load is an opt-in (train.threads_follow_load): by default the count stays fixed."""
    torch.set_num_threads(2)
    share = share_seeing(1.0, 2, monkeypatch)
    share.start(CPU, follow_load=case == "user_changed_threads")
    if case == "user_changed_threads":
        torch.set_num_threads(3)  # after start: the user's choice stays
    before = torch.get_num_threads()
    assert [torch.get_num_threads() for _ in share.follow(range(2))] == [before, before]


def test_following_the_load_cannot_go_with_deterministic():
    with pytest.raises(ConfigError, match="threads_follow_load .* not both"):
        device.configure(CPU, deterministic=True, threads=1, follow_load=True)


def test_a_neighbour_burning_a_core_is_seen(monkeypatch):
    """The real /proc/stat: another process spinning counts as other cores' work, ours does not."""
    if device._machine_busy_seconds() is None:
        pytest.skip("no /proc/stat")
    share = CoreShare()
    share.start(CPU, follow_load=True)
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # the sampler's window fills while the neighbour spins
        assert share.others() >= 0.5
    finally:
        neighbour.kill()
        neighbour.wait()
