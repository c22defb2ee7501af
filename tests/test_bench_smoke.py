"""scripts/bench.py's pieces run and measure what they claim to. Correctness only: nothing here is timed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("cnntrain_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bare_loop_is_mnist_cnns_network(bench):
    built = bench.build_model(bench.load_config(bench.MNIST_CNN), num_classes=10).model
    bare = bench.bare_mnist_cnn()
    assert [type(m) for m in built] == [type(m) for m in bare]
    assert [p.shape for p in built.parameters()] == [p.shape for p in bare.parameters()]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_loops_train_every_image_once_per_epoch(bench, precision):
    x, y = bench.random_images(96)
    engine = bench.cnntrain_engine(bench.load_config(bench.MNIST_CNN, ["train.epochs=2"]), x, y, precision)
    assert engine.train_epoch(1, bench.Progress()).images == 96
    assert bench.BareLoop(x, y, 64, 1.0, bf16=precision == "bf16").epoch() == 96


def test_interleave_gives_one_rate_per_round_and_targets_judge_them(bench):
    rounds = bench.interleave({"a": lambda: 10, "b": lambda: 20}, rounds=3, warmup=1, budget_s=0)
    assert len(rounds.rates["a"]) == len(rounds.rates["b"]) == len(rounds.background) == 3
    assert rounds.ratio("b", "a") > 0
    verdict = bench.targets({"train": {"ratio_fp32_vs_bare": 0.97, "mfu_fp32": 0.3},
                             "shapes": {"acc_gap_points": 2.0, "converged": False}})
    assert verdict["train_fp32_vs_bare"]["met"] is True
    assert verdict["mfu"]["met"] is False
    assert verdict["bf16_accuracy_gap_points"]["met"] is None  # a pair still learning proves nothing


def test_every_thread_flushes_denormals_after_configure(bench):
    import torch

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU has no flush-to-zero switch")
    torch.ones(1 << 22).mul_(2)  # torch work first: the OpenMP threads exist before configure
    bench.configure(bench.CPU, deterministic=False)
    assert bench.flushed_fraction() == 1.0


def test_without_bf16_units_bf16_is_not_timed_and_train_warns(bench, monkeypatch):
    """The path of a CPU without AVX512-BF16/AMX/ARM BF16 (forced here): no emulated bf16 turns, which
    would take 10x the fp32 time, and `cnntrain train --set train.precision=bf16` says why."""
    import functools

    monkeypatch.setenv("CNNTRAIN_CPU_BF16", "0")
    monkeypatch.setattr(bench, "matmul_turn", functools.partial(bench.matmul_turn, size=128))
    sizes = {"epoch_images": 64, "train_rounds": 1, "warmup_rounds": 0, "train_budget_s": 0}
    result = bench.bench_train(sizes)
    assert not any("bf16" in key for key in result["per_round"])
    assert result["bf16"] == "emulated here, not timed"
    assert result["train_warns_about_bf16"] is True
    report = {"machine": bench.machine(), "quick": True, "train": result}
    report["targets"] = bench.targets(report)
    assert "bf16_vs_bare_fp32" not in report["targets"]
    rows = {row[0]: row for row in bench.rows(report)}
    assert rows["train bf16"][1:3] == ("emulated here, not timed", "`cnntrain train` warns: yes")
    assert "bf16 units: no, bf16 not timed (forced by CNNTRAIN_CPU_BF16)" in bench.title(report)


def test_the_machine_is_named(bench):
    m = bench.machine()
    assert m["cpu"] and m["cores"] >= 1 and m["torch"] in bench.title({"machine": m, "quick": False})
    assert set(m["vector_extensions"]) <= set(bench.VECTOR_FLAGS)


def test_every_installed_peer_trains_an_epoch_on_command(bench, tmp_path):
    """scripts/bench_peers.py's protocol, for each peer installed (Lightning and Keras come with the
    `bench` extra): ready, then one epoch per `epoch` line, reported as images and seconds."""
    names, _ = bench.installed_peers()
    peers = [bench.Peer(name, 64, tmp_path / f"{name}.log") for name in names]  # their start-ups overlap
    try:
        for peer in peers:
            peer.wait_ready()
            images, seconds = peer.epoch()
            assert images == 64 and seconds > 0, peer.name
    finally:
        for peer in peers:
            peer.close()
    assert all(peer.proc.returncode == 0 for peer in peers), [(p.name, p.proc.returncode) for p in peers]
