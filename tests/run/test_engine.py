"""The training loop on its own: every optimizer and schedule, label smoothing, clipping, divergence,
and an exact resume from `Engine.state`, on a model and data small enough to train in milliseconds."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnntrain.config import TrainSettings
from cnntrain.config.keys import TRAIN
from cnntrain.errors import CheckpointError, TrainingDiverged
from cnntrain.run.engine import Best, Engine, _generator
from cnntrain.run.normalize import Normalizer
from cnntrain.run.optim import build_optimizer, build_scheduler
from cnntrain.run.progress import Progress

OPTIMIZERS = TRAIN["optimizer"].choices
SCHEDULERS = TRAIN["scheduler"].choices

pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Dropout(dropout), torch.nn.Linear(4, 3),
    )


def make_engine(model=None, n: int = 96, **train) -> Engine:
    """An Engine on n random 8x8 uint8 images of 3 classes; `train` overrides the default train section."""
    cfg = TrainSettings(**{"batch_size": 32, "lr": 0.01, "epochs": 2, **train})
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=gen)  # (N, C, H, W)
    y = torch.randint(0, 3, (n,), generator=gen)
    model = model if model is not None else make_model()
    return Engine(model=model, core=model, train_x=x, train_y=y, normalize=Normalizer([0.5], [0.25]).to("cpu", 2),
                  train_cfg=cfg, augment={}, device=torch.device("cpu"))


def weights(engine: Engine) -> dict:
    return {k: v.clone() for k, v in engine.core.state_dict().items()}


@pytest.mark.parametrize("name,extra", [(o, {}) for o in OPTIMIZERS] + [("sgd", {"nesterov": True})])
def test_every_optimizer_trains_one_epoch(name, extra):
    engine = make_engine(optimizer=name, **extra)
    before = weights(engine)
    stats = engine.train_epoch(1, Progress())
    assert type(engine.optimizer).__name__.lower() == name
    assert math.isfinite(stats.loss) and 0 <= stats.acc <= 1 and stats.images == 96
    assert any(not torch.equal(before[k], v) for k, v in engine.core.state_dict().items())


def test_sgd_options_reach_the_optimizer():
    opt = make_engine(optimizer="sgd", momentum=0.5, nesterov=True, weight_decay=0.1).optimizer
    group = opt.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.5, True, 0.1)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_trains_one_epoch(scheduler):
    engine = make_engine(scheduler=scheduler, warmup_epochs=1)
    stats = engine.train_epoch(1, Progress())
    assert math.isfinite(stats.loss) and math.isfinite(engine.lr) and engine.lr > 0


def lrs(steps_per_epoch: int, total_steps: int, **train) -> list[float]:
    """The learning rate of each step under a schedule, as the engine steps it (once per batch)."""
    cfg = TrainSettings(**{"lr": 0.1, **train})
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], cfg)
    scheduler = build_scheduler(opt, cfg, steps_per_epoch)
    seen = []
    for _ in range(total_steps):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return seen


def test_schedules_have_their_shapes():
    assert lrs(4, 12, epochs=3) == pytest.approx([0.1] * 12)
    step = lrs(4, 12, epochs=3, scheduler="step", gamma=0.5, step_size=1)
    assert step == pytest.approx([0.1] * 4 + [0.05] * 4 + [0.025] * 4)
    cosine = lrs(4, 12, epochs=3, scheduler="cosine")
    assert cosine[0] == pytest.approx(0.1) and all(a > b for a, b in zip(cosine, cosine[1:])) and cosine[-1] < 0.01
    warm = lrs(4, 12, epochs=3, scheduler="cosine", warmup_epochs=1)
    assert warm[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1]) and warm[4] == pytest.approx(0.1)
    onecycle = lrs(4, 12, epochs=3, scheduler="onecycle")
    assert max(onecycle) == pytest.approx(0.1, rel=0.01) and onecycle[0] < 0.01 and onecycle[-1] < 0.001


def test_label_smoothing_is_the_loss_trained_on():
    """With lr 0 nothing changes, so the epoch's mean loss is the smoothed cross-entropy of every image."""
    engine = make_engine(lr=0.0, label_smoothing=0.2)
    stats = engine.train_epoch(1, Progress())
    with torch.no_grad():
        logits = engine.core(engine.normalize(engine.train_x))
    smoothed = F.cross_entropy(logits, engine.train_y, label_smoothing=0.2).item()
    plain = F.cross_entropy(logits, engine.train_y).item()
    assert stats.loss == pytest.approx(smoothed, rel=1e-5)
    assert abs(smoothed - plain) > 1e-3  # the check above could not pass without smoothing


def test_grad_clip_bounds_each_update():
    """Plain SGD with one batch moves the weights by lr * gradient: clipping caps that at lr * clip."""
    def moved(**train):
        engine = make_engine(optimizer="sgd", momentum=0.0, lr=1.0, batch_size=96, **train)
        before = weights(engine)
        engine.train_epoch(1, Progress())
        after = engine.core.state_dict()
        return torch.cat([(after[k] - before[k]).flatten() for k in before]).norm().item()

    assert moved(grad_clip=1e-3) == pytest.approx(1e-3, rel=1e-3)
    assert moved() > 1e-2


def test_a_diverging_loss_stops_training():
    engine = make_engine(optimizer="sgd", lr=1e20)
    with pytest.raises(TrainingDiverged, match="loss became (nan|inf)"):
        engine.train_epoch(1, Progress())


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_weights_blown_up_by_the_last_step_stop_training_too():
    """One batch: its loss is finite (computed before the update) but the update makes a weight inf."""
    engine = make_engine(batch_size=96)
    step = engine.optimizer.step

    def blow_up(*args, **kwargs):
        step(*args, **kwargs)
        with torch.no_grad():
            next(engine.core.parameters())[0].fill_(float("inf"))

    engine.optimizer.step = blow_up
    with pytest.raises(TrainingDiverged, match="weights became NaN or infinite"):
        engine.train_epoch(1, Progress())


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_resume_from_state_is_exact(scheduler, tmp_path):
    """Two epochs straight == one epoch, a checkpoint round trip (weights_only), a new engine, one epoch.

    Dropout makes the global RNG matter, so its saved state has to be restored too."""
    from cnntrain.run.checkpoint import load_checkpoint, save_checkpoint

    straight = make_engine(make_model(dropout=0.5), scheduler=scheduler)
    torch.manual_seed(5)
    for epoch in (1, 2):
        straight.train_epoch(epoch, Progress())

    first = make_engine(make_model(dropout=0.5), scheduler=scheduler)
    torch.manual_seed(5)
    first.train_epoch(1, Progress())
    save_checkpoint({**first.state(1), "config": {}}, tmp_path / "last.pt")
    torch.manual_seed(123)  # whatever ran in between
    resumed = make_engine(make_model(dropout=0.5), scheduler=scheduler)
    resumed.load_state(load_checkpoint(tmp_path / "last.pt"))
    resumed.train_epoch(2, Progress())

    assert all(torch.equal(a, b) for a, b in zip(straight.core.state_dict().values(),
                                                 resumed.core.state_dict().values()))
    assert resumed.lr == straight.lr


def test_onecycle_run_extends_to_more_epochs():
    """`--resume RUN --set train.epochs=N` on a finished onecycle run: the cycle stretches, no error."""
    done = make_engine(scheduler="onecycle", epochs=1)
    done.train_epoch(1, Progress())
    longer = make_engine(scheduler="onecycle", epochs=3)
    longer.load_state(done.state(1))
    for epoch in (2, 3):
        assert math.isfinite(longer.train_epoch(epoch, Progress()).loss)
    assert longer.scheduler.total_steps == 3 * longer.steps_per_epoch


def test_a_checkpoint_of_another_model_is_a_checkpoint_error():
    state = make_engine().state(1)
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(CheckpointError, match="does not fit"):
        make_engine(other).load_state(state)


def test_best_follows_the_monitored_metric():
    acc = Best("val_acc")
    assert [acc.update({"epoch": e, "val_acc": v}) for e, v in enumerate([0.5, 0.7, 0.6, float("nan")], 1)] \
        == [True, True, False, False]
    assert (acc.value, acc.epoch, acc.bad_epochs) == (0.7, 2, 2)
    loss = Best("val_loss")
    assert [loss.update({"epoch": e, "val_loss": v}) for e, v in enumerate([1.0, 0.5, 0.6], 1)] == [True, True, False]
    assert loss.value == 0.5
    first_nan = Best("val_acc")
    assert not first_nan.update({"epoch": 1, "val_acc": float("nan")}) and first_nan.value is None


def test_order_depends_only_on_seed_epoch_and_stream():
    def draw(seed, epoch, stream):
        return torch.randperm(50, generator=_generator(seed, epoch, stream))

    torch.manual_seed(99)  # the global RNG plays no part
    assert torch.equal(draw(0, 1, 0), draw(0, 1, 0))
    assert not torch.equal(draw(0, 1, 0), draw(0, 2, 0))
    assert not torch.equal(draw(0, 1, 0), draw(1, 1, 0))
    assert not torch.equal(draw(0, 1, 0), draw(0, 1, 1))


def test_no_batch_of_one_image():
    """33 images in batches of 32 would leave a batch of one, which batch norm cannot train on."""
    engine = make_engine(n=33)
    seen = []
    engine.step = lambda group, gen: (seen.extend(map(len, group)), (torch.tensor(1.0), 1.0, torch.tensor(0)))[1]
    engine.train_epoch(1, Progress())
    assert seen == [32]


# --- gradient accumulation, plateau, weight average ------------------------------------------------------


@pytest.mark.parametrize("optimizer,weighted", [("sgd", False), ("adam", False), ("sgd", True)])
def test_accumulating_n_batches_equals_one_n_times_larger(optimizer, weighted):
    """Batches of 8 accumulated 4 at a time train like batches of 32, in the same order: 100 images make
    3 full groups and a short one (one batch of 4) that steps as the batch of 4 it is."""
    def trained(**train) -> torch.Tensor:
        engine = make_engine(n=100, optimizer=optimizer, scheduler="onecycle", **train)
        if weighted:
            engine.class_weights = torch.tensor([1.0, 3.0, 0.5])
        for epoch in (1, 2):
            engine.train_epoch(epoch, Progress())
        steps.append(engine.steps_per_epoch)  # the one-cycle schedule's length: the same in steps
        return torch.cat([p.detach().flatten() for p in engine.core.parameters()])

    steps = []
    large, accumulated = trained(batch_size=32), trained(batch_size=8, accumulate=4)
    small = trained(batch_size=8)
    difference = (large - accumulated).abs().max().item()
    print(f"{optimizer}{' weighted' if weighted else ''}: max weight difference {difference:.2e}")
    assert difference < 1e-5 and steps == [4, 4, 13]
    assert (large - small).abs().max().item() > 1e-2  # batches of 8 alone train differently


def test_grad_clip_applies_to_the_accumulated_gradient():
    """One group of all 96 images: clipped once, to lr * clip, as one batch of 96 would be."""
    engine = make_engine(optimizer="sgd", momentum=0.0, lr=1.0, batch_size=24, accumulate=4, grad_clip=1e-3)
    before = weights(engine)
    engine.train_epoch(1, Progress())
    after = engine.core.state_dict()
    assert torch.cat([(after[k] - before[k]).flatten() for k in before]).norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_plateau_lowers_the_rate_when_the_monitored_metric_stalls():
    engine = make_engine(scheduler="plateau", gamma=0.5, plateau_patience=1, monitor="val_loss")
    engine.train_epoch(1, Progress())
    assert engine.lr == 0.01  # not stepped per batch
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.9], 1):
        engine.validated({"epoch": epoch, "val_loss": loss})
    assert engine.lr == pytest.approx(0.005)  # two epochs without a lower loss, with patience 1
    resumed = make_engine(scheduler="plateau", gamma=0.5, plateau_patience=1, monitor="val_loss")
    resumed.load_state(engine.state(4))
    for engine_ in (engine, resumed):
        engine_.validated({"epoch": 5, "val_loss": 0.9})
    assert engine.lr == resumed.lr == pytest.approx(0.005)  # the bad-epoch count was saved: one more to go
    for engine_ in (engine, resumed):
        engine_.validated({"epoch": 6, "val_loss": 0.9})
    assert engine.lr == resumed.lr == pytest.approx(0.0025)


def test_the_weight_average_follows_tensorflows_warm_up():
    """One step per epoch (a batch of all 96): d = min(decay, (1 + n) / (10 + n)) after n earlier updates."""
    engine = make_engine(batch_size=96, ema=0.999)
    w0 = weights(engine)
    engine.train_epoch(1, Progress())
    w1 = weights(engine)
    engine.train_epoch(2, Progress())
    w2 = weights(engine)
    ema1 = {k: 0.1 * w0[k] + 0.9 * w1[k] for k in w0}
    expected = {k: 2 / 11 * ema1[k] + 9 / 11 * w2[k] for k in w0}
    average = engine.ema.model.state_dict()
    assert all(torch.allclose(average[k], expected[k], atol=1e-6) for k in expected)
    assert not torch.allclose(average["5.weight"], w2["5.weight"])
    state = engine.state(2)
    assert all(torch.equal(state["model"][k], average[k]) for k in average)  # the checkpoint's model: the average
    assert all(torch.equal(state["ema"]["train_model"][k], w2[k]) for k in w2) and state["ema"]["updates"] == 2


@pytest.mark.parametrize("train", [{"ema": 0.9, "accumulate": 2}, {"scheduler": "plateau"}])
def test_resume_with_ema_accumulate_and_plateau_is_exact(train, tmp_path):
    from cnntrain.run.checkpoint import load_checkpoint, save_checkpoint

    def run(engine, epochs):
        for epoch in epochs:
            engine.train_epoch(epoch, Progress())
            engine.validated({"epoch": epoch, "val_acc": 0.5})  # a stalled metric: plateau decays
        return engine

    straight = run(make_engine(make_model(dropout=0.5), **train), (1, 2, 3))
    first = run(make_engine(make_model(dropout=0.5), **train), (1,))
    save_checkpoint({**first.state(1), "config": {}}, tmp_path / "last.pt")
    resumed = make_engine(make_model(dropout=0.5), **train)
    resumed.load_state(load_checkpoint(tmp_path / "last.pt"))
    run(resumed, (2, 3))
    a, b = straight.state(3), resumed.state(3)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    if a["ema"]:
        assert all(torch.equal(a["ema"]["train_model"][k], b["ema"]["train_model"][k]) for k in a["model"])
    assert a["scheduler"] == b["scheduler"] and straight.lr == resumed.lr


@pytest.mark.parametrize("sets,message", [
    (["train.warmup_epochs=1"], "train.warmup_epochs does not combine with the plateau scheduler"),
    (["train.gamma=1.5"], "train.gamma is 1.5, but the plateau scheduler multiplies the rate by it to lower it"),
])
def test_plateau_settings_that_cannot_work_are_config_errors(sets, message, load, tiny_yaml):
    from cnntrain.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load(tiny_yaml, "train.scheduler=plateau", *sets)
