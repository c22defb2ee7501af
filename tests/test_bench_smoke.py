"""scripts/bench.py's pieces run and measure what they claim to. Correctness only: nothing here is timed."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from cnntrain.config.loader import load_config
from cnntrain.model.builder import build_model
from cnntrain.run.device import configure
from cnntrain.run.progress import Progress

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def bench():
    """The bench's sections (scripts/benchkit), importable as `python scripts/bench.py` finds them."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        modules = {name: importlib.import_module(f"benchkit.{name}")
                   for name in ("machine", "loops", "train", "denormals", "peers", "report")}
    finally:
        sys.path.remove(str(SCRIPTS))
    return types.SimpleNamespace(**modules)


def test_the_bare_loop_is_mnist_cnns_network(bench):
    built = build_model(load_config(bench.machine.MNIST_CNN), num_classes=10).model
    bare = bench.loops.bare_mnist_cnn()
    assert [type(m) for m in built] == [type(m) for m in bare]
    assert [p.shape for p in built.parameters()] == [p.shape for p in bare.parameters()]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_loops_train_every_image_once_per_epoch(bench, precision):
    x, y = bench.loops.random_images(96)
    engine = bench.loops.cnntrain_engine(load_config(bench.machine.MNIST_CNN, ["train.epochs=2"]), x, y, precision)
    assert engine.train_epoch(1, Progress()).images == 96
    assert bench.loops.BareLoop(x, y, 64, 1.0, bf16=precision == "bf16").epoch() == 96


def test_interleave_gives_one_rate_per_round_and_targets_judge_them(bench):
    rounds = bench.machine.interleave({"a": lambda: 10, "b": lambda: 20}, rounds=3, warmup=1, budget_s=0)
    assert len(rounds.rates["a"]) == len(rounds.rates["b"]) == len(rounds.background) == 3
    assert rounds.ratio("b", "a") > 0
    verdict = bench.report.targets({"train": {"ratio_fp32_vs_bare": 0.97, "mfu_fp32": 0.3},
                             "shapes": {"acc_gap_points": 2.0, "converged": False}})
    assert verdict["train_fp32_vs_bare"]["met"] is True
    assert verdict["mfu"]["met"] is False
    assert verdict["bf16_accuracy_gap_points"]["met"] is None  # a pair still learning proves nothing


def test_every_thread_flushes_denormals_after_configure(bench):
    import torch

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU has no flush-to-zero switch")
    torch.ones(1 << 22).mul_(2)  # torch work first: the OpenMP threads exist before configure
    configure(bench.machine.CPU, deterministic=False)
    assert bench.denormals.flushed_fraction() == 1.0


def test_without_bf16_units_bf16_is_not_timed_and_train_warns(bench, monkeypatch):
    """The path of a CPU without AVX512-BF16/AMX/ARM BF16 (forced here): no emulated bf16 turns, which
    would take 10x the fp32 time, and `cnntrain train --set train.precision=bf16` says why."""
    import functools

    monkeypatch.setenv("CNNTRAIN_CPU_BF16", "0")
    monkeypatch.setattr(bench.train, "matmul_turn", functools.partial(bench.loops.matmul_turn, size=128))
    sizes = {"epoch_images": 64, "train_rounds": 1, "warmup_rounds": 0, "train_budget_s": 0}
    result = bench.train.bench_train(sizes)
    assert not any("bf16" in key for key in result["per_round"])
    assert result["bf16"] == "emulated here, not timed"
    assert result["train_warns_about_bf16"] is True
    report = {"machine": bench.machine.machine(), "quick": True, "train": result}
    report["targets"] = bench.report.targets(report)
    assert "bf16_vs_bare_fp32" not in report["targets"]
    rows = {row[0]: row for row in bench.report.rows(report)}
    assert rows["train bf16"][1:3] == ("emulated here, not timed", "`cnntrain train` warns: yes")
    assert "bf16 units: no, bf16 not timed (forced by CNNTRAIN_CPU_BF16)" in bench.report.title(report)


def test_the_machine_is_named(bench):
    m = bench.machine.machine()
    assert m["cpu"] and m["cores"] >= 1 and m["torch"] in bench.report.title({"machine": m, "quick": False})
    assert set(m["vector_extensions"]) <= set(bench.machine.VECTOR_FLAGS)


def test_every_installed_peer_trains_an_epoch_on_command(bench, tmp_path):
    """scripts/bench_peers.py's protocol, for each peer installed (Lightning and Keras come with the
    `bench` extra): ready, then one epoch per `epoch` line, reported as images and seconds."""
    names, _ = bench.peers.installed_peers()
    peers = [bench.peers.Peer(name, 64, tmp_path / f"{name}.log") for name in names]  # their start-ups overlap
    try:
        for peer in peers:
            peer.wait_ready()
            images, seconds = peer.epoch()
            assert images == 64 and seconds > 0, peer.name
    finally:
        for peer in peers:
            peer.close()
    assert all(peer.proc.returncode == 0 for peer in peers), [(p.name, p.proc.returncode) for p in peers]


def test_bench_py_runs_its_report_from_saved_results(bench, tmp_path):
    """`python scripts/bench.py` finds its sections; --load shows saved results without measuring."""
    busy = {"busy_over_quiet": 0.6, "follow_busy_over_quiet": 0.5, "busy_follow_vs_fixed": 0.8,
            "quiet_follow_vs_fixed": 0.9, "fixed_busy_img_s": 6, "fixed_quiet_img_s": 10, "follow_busy_img_s": 5,
            "follow_quiet_img_s": 9, "threads_chosen": {"fixed_busy": 2, "follow_busy": 1},
            "omp_wait_policy": "passive", "background_cores": 0.1}
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"machine": bench.machine.machine(), "quick": True, "seconds": 0, "targets": {},
                                 "busy": busy}))
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), "--load", str(saved), "--markdown"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "busy, default (fixed threads): neighbour on 1 core / quiet | 0.6 | 6 vs 10 img/s" in done.stdout


def test_nearest_neighbour_baselines_on_a_ucr_table_pair(tmp_path):
    """scripts/nearest_neighbour.py: DTW forgives a shift in time that Euclidean distance does not."""
    t = np.arange(40)
    bump = lambda at: np.exp(-((t - at) / 2.0) ** 2)  # noqa: E731
    dip = lambda at: -bump(at)  # noqa: E731
    rows = {"TRAIN": [("up", bump(10)), ("down", dip(10))],
            "TEST": [("up", bump(30)), ("down", dip(30)), ("up", bump(12)), ("down", dip(25))]}
    for split, series in rows.items():
        (tmp_path / f"S_{split}.tsv").write_text(
            "".join(f"{label}\t" + "\t".join(f"{v:.6f}" for v in x) + "\n" for label, x in series))
    out = subprocess.run([sys.executable, str(SCRIPTS / "nearest_neighbour.py"), str(tmp_path / "S_TRAIN.tsv"),
                          str(tmp_path / "S_TEST.tsv")], capture_output=True, text=True, check=True).stdout
    assert "1-NN DTW, full window: 4/4 = 100.0%" in out
    assert "1-NN Euclidean: 4/4" not in out  # far-shifted bumps are nearer the flat part of the other class
