"""DistributedDataParallel under real torchrun: two CPU processes (gloo) on tiny synthetic data.

Two torchrun launches in all (each costs a few seconds of start-up per process):
- the CLI, `torchrun -m cnntrain train`, checked from the outside: one run directory written by rank 0
  alone, one TensorBoard events file, one line of progress per epoch, `world_size` in summary.json;
- a test-only script that calls the public library (`cnntrain.run.train.train`) under torchrun and records,
  per rank, which samples each step trained on, the metrics each rank saw and its final weights. It
  trains run A for 2 epochs, resumes it to 3, and trains run B straight to 3: DDP resume is exact.
  These runs accumulate 2 batches per step, so the gradients are averaged over ranks once per group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from cnntrain.run.distributed import World
from cnntrain.run.engine import epoch_shard
from conftest import ROOT

TINY = ["data.train_size=200", "data.val_size=40", "data.test_size=40", "data.image_size=16",
        "train.epochs=2", "train.batch_size=32", "train.featuremap_every=0", "train.device=cpu"]
LIBRARY = TINY + ["train.accumulate=2"]
TIMING = ("images_per_sec", "epoch_seconds")


# --- the sharding, as a pure function -----------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 200, 201])
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_rank_shards_partition_each_epochs_permutation(n, world_size):
    for epoch in (1, 2):
        shards = [epoch_shard(n, 0, epoch, World(rank, world_size)) for rank in range(world_size)]
        together = torch.cat(shards)
        assert sorted(together.tolist()) == list(range(n))  # each sample once: union, and disjoint
        assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    # a fresh shuffle every epoch, the same on every rank (it depends on seed and epoch only)
    if n > 10:
        assert not torch.equal(epoch_shard(n, 0, 1, World(0, 1)), epoch_shard(n, 0, 2, World(0, 1)))
    assert torch.equal(epoch_shard(n, 5, 3, World(1, world_size)), epoch_shard(n, 5, 3, World(1, world_size)))


# --- torchrun ---------------------------------------------------------------------------------------


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a shared machine; also silences torchrun's notice
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`torchrun --nproc_per_node=2 -m cnntrain train` once, for the tests below to inspect."""
    tmp = tmp_path_factory.mktemp("ddp_cli")
    sets = [a for s in TINY for a in ("--set", s)]
    result = torchrun("-m", "cnntrain", "train", "--config", str(ROOT / "configs" / "cnn.yaml"),
                      "--out", str(tmp / "run"), *sets, cwd=tmp)
    return tmp / "run", result


def test_torchrun_cli_writes_one_run_directory(cli_run):
    run, _ = cli_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 2 and summary["device"] == "cpu"
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]  # one metrics.jsonl, each epoch once (not once per rank)
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # one TensorBoard run, from rank 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert list(run.parent.iterdir()) == [run]  # rank 1 made no run directory of its own
    from cnntrain.run.checkpoint import load_checkpoint

    assert load_checkpoint(run)["epoch"] == 2


def test_torchrun_cli_reports_once(cli_run):
    _, result = cli_run
    assert result.stdout.count("epoch 1/2") == 1 and result.stdout.count("epoch 2/2") == 1, result.stdout
    assert result.stdout.count("run directory:") == 1, result.stdout
    assert "Traceback" not in result.stderr and "error" not in result.stderr.lower(), result.stderr


WORKER = textwrap.dedent('''
    """Test-only: train through the public library under torchrun; record what each rank did."""
    import json, os, sys
    import torch
    from cnntrain.run import session
    from cnntrain.run.engine import Engine
    from cnntrain.run.progress import Progress
    from cnntrain.run.train import train

    config, out = sys.argv[1], sys.argv[2]
    tiny = json.loads(sys.argv[3])
    rank = int(os.environ["RANK"])
    seen, records, current = {}, [], {}

    # What each step trains on: the engine's groups of batches of sample indices, per epoch.
    original_epoch, original_step, original_finish = Engine.train_epoch, Engine.step, session.finish

    def train_epoch(self, epoch, progress):
        current["epoch"] = epoch
        return original_epoch(self, epoch, progress)

    def step(self, group, aug_gen):
        for index in group:
            seen.setdefault(current["epoch"], []).extend(index.tolist())
        return original_step(self, group, aug_gen)

    def finish(end, engine, log, seconds):  # the weights as training left them, before best.pt is loaded
        torch.save(engine.core.state_dict(), os.path.join(out, f"{current['tag']}.rank{rank}.pt"))
        return original_finish(end, engine, log, seconds)

    Engine.train_epoch, Engine.step, session.finish = train_epoch, step, finish

    class Record(Progress):
        def epoch(self, record):
            records.append(record)

    for name, overrides, resume in [("a", tiny, None), ("a", ["train.epochs=3"], "a"),
                                    ("b", tiny + ["train.epochs=3"], None)]:
        seen.clear(); records.clear()
        run = os.path.join(out, name)
        tag = current["tag"] = f"{name}{'-resumed' if resume else ''}"
        if resume:
            result = train(resume=run, overrides=overrides, progress=Record())
        else:
            result = train(config, overrides=overrides, out=run, progress=Record())
        with open(os.path.join(out, f"{tag}.rank{rank}.json"), "w") as f:
            json.dump({"seen": seen, "records": records, "summary": result.summary}, f)
''')


@pytest.fixture(scope="module")
def library_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp_lib")
    script = tmp / "ddp_worker.py"
    script.write_text(WORKER)
    torchrun(str(script), str(ROOT / "configs" / "cnn.yaml"), str(tmp), json.dumps(LIBRARY), cwd=tmp)

    def report(tag, rank):
        return json.loads((tmp / f"{tag}.rank{rank}.json").read_text())

    return tmp, report


def _weights(path):
    return torch.load(path, weights_only=True)


def _same_weights(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_each_sample_once_per_epoch_across_ranks(library_runs):
    _, report = library_runs
    for tag, epochs in (("a", ["1", "2"]), ("a-resumed", ["3"]), ("b", ["1", "2", "3"])):
        ranks = [report(tag, r)["seen"] for r in (0, 1)]
        assert sorted(ranks[0]) == sorted(ranks[1]) == epochs
        for epoch in epochs:
            zero, one = ranks[0][epoch], ranks[1][epoch]
            assert len(zero) == len(one) == 100  # each rank its half
            assert sorted(zero + one) == list(range(200)), f"epoch {epoch}: not a partition"


def test_ranks_end_with_identical_weights(library_runs):
    tmp, _ = library_runs
    from cnntrain.run.checkpoint import load_checkpoint

    for tag in ("a", "a-resumed", "b"):
        zero, one = (_weights(tmp / f"{tag}.rank{r}.pt") for r in (0, 1))
        assert _same_weights(zero, one), f"{tag}: ranks diverged"
    last = load_checkpoint(tmp / "b")
    assert last["epoch"] == 3 and _same_weights(last["model"], _weights(tmp / "b.rank0.pt"))


def test_metrics_are_reduced_across_ranks(library_runs):
    tmp, report = library_runs
    zero, one = (_untimed(report("b", r)["records"]) for r in (0, 1))
    assert zero == one, "each rank must see the metrics of all ranks, not of its own shard"
    logged = _untimed(json.loads(line) for line in (tmp / "b" / "metrics.jsonl").read_text().splitlines())
    assert logged == zero
    for record in zero:  # accuracies count whole images over the full splits
        assert abs(record["train_acc"] * 200 - round(record["train_acc"] * 200)) < 1e-6
        assert abs(record["val_acc"] * 40 - round(record["val_acc"] * 40)) < 1e-4
    assert report("b", 0)["summary"]["world_size"] == report("b", 1)["summary"]["world_size"] == 2


def test_ddp_resume_is_exact(library_runs):
    tmp, report = library_runs
    resumed, straight = _weights(tmp / "a-resumed.rank0.pt"), _weights(tmp / "b.rank0.pt")
    assert _same_weights(resumed, straight), "2 epochs + resume to 3 must equal 3 epochs straight"
    a = [json.loads(line) for line in (tmp / "a" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in a] == [1, 2, 3]
    assert _untimed(a) == _untimed(b)
    assert len(list((tmp / "a").glob("events.out.tfevents.*"))) <= 2  # a resume may start a second file
    assert json.loads((tmp / "a" / "summary.json").read_text())["world_size"] == 2
