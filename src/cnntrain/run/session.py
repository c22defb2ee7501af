"""One training run, from a resolved config to a finished run directory: set-up, the epochs, the end.

`train()` (train.py) opens one; `tasks/lr_find.py` prepares one without running it. The end of the
run (finish.py) gets a `RunEnd`, not the Session.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cnntrain.atomic import remove_stale_temps
from cnntrain.config import TrainSettings
from cnntrain.config.loader import Config
from cnntrain.data import channel_stats, load_data
from cnntrain.data.leakage import data_warning
from cnntrain.errors import CnntrainError, DataError, Interrupted, TrainingDiverged
from cnntrain.model.builder import build_model, shaped_layers
from cnntrain.model.capture import capture, default_layers
from cnntrain.model.init import InitSource, given_normalization, init_source, initialize, sized_for_init
from cnntrain.run.balance import build_class_weights
from cnntrain.run.checkpoint import resolve_checkpoint_path, save_checkpoint
from cnntrain.run.ctrl_c import raise_if_pressed, recording_ctrl_c
from cnntrain.run.device import (
    autocast_dtype,
    configure,
    limit_compile_threads,
    precision_warning,
    resolve_device,
    run_threads,
)
from cnntrain.run.distributed import all_sum, barrier, broadcast, init_world
from cnntrain.run.engine import Engine
from cnntrain.run.finish import RunEnd, finish, versions
from cnntrain.run.inference import loss_and_accuracy, predict_logits
from cnntrain.run.lock import RunLock
from cnntrain.run.normalize import Normalizer
from cnntrain.run.outputs import RunOutputs, output_paths
from cnntrain.run.progress import Progress
from cnntrain.run.report import write_report
from cnntrain.run.rundir import new_run_dir, run_dir_of_checkpoint
from cnntrain.run.subset import limit_splits
from cnntrain.run.unstable import advice
from cnntrain.text import shape_text
from cnntrain.viz.pictures import feature_grid_image


@dataclass
class TrainResult:
    run_dir: Path
    summary: dict
    stopped_early: bool


class Session:
    """One training run, from a resolved config to a finished run directory. Its state comes in three
    steps: `__init__` the inputs and the machine, `prepare()` the data and the model, `run()` the run
    directory and how far the run has got (for the message a Ctrl-C prints)."""

    def __init__(self, config: Config, checkpoint: dict | None, progress: Progress, *, lock: RunLock | None = None,
                 fast_dev_run: bool = False):
        # The Session's own Config: prepare() fills in what the data and model.init decide (a new Config,
        # so the caller's stays as it was); checkpoints and config.yaml save this one.
        self.config, self.checkpoint, self.progress, self.lock = config, checkpoint, progress, lock
        self.fast_dev_run = fast_dev_run
        train = config.train
        self.world = init_world(train.device)
        self.device = resolve_device(train.device, self.world.local_rank)  # before any data
        self.threads = run_threads(train, checkpoint)  # recorded in the checkpoints
        configure(self.device, deterministic=train.deterministic, threads=self.threads,
                  follow_load=train.threads_follow_load)
        self.amp_dtype = autocast_dtype(train.precision, self.device)
        if train.compile:
            limit_compile_threads()  # read once, when inductor loads: before any data (torchvision) does
        slow = precision_warning(train.precision, self.device)
        if slow and self.world.is_main:
            progress.warning(slow)

    @property
    def train_cfg(self) -> TrainSettings:
        return self.config.train

    def prepare(self) -> Engine:
        """Data, model (with model.init's weights) and optimizer, ready for the first step; nothing written."""
        torch.manual_seed(self.train_cfg.seed)
        # model.init: a wrong name fails before the data loads; a resumed run has its weights already.
        init = init_source(self.config) if self.checkpoint is None else None
        self.config = sized_for_init(self.config, init)  # a null image_size: the size the weights expect
        # overfit_batches or --fast-dev-run: a few batches, after loading so the data fingerprint is the full set's
        data = load_data(self.config.data, self.train_cfg.seed, self.config.where("data", "dataset"))
        self.splits = limit_splits(data, self.train_cfg, fast_dev_run=self.fast_dev_run)
        for message in self.splits.warnings if self.world.is_main else ():
            self.progress.warning(message)  # e.g. skipped corrupt images: the user must hear of them
        cut = self.fast_dev_run or self.train_cfg.overfit_batches  # a few batches; overfitting validates on train
        if self.world.is_main and not cut and (leak := data_warning(self.splits, self.config.source)):
            self.progress.warning(leak)  # the same sample in two splits, a class missing from one
        for message in self.splits.notes if self.world.is_main else ():
            self.progress.note(message)  # e.g. a cache written into the user's data folder
        self._check_data()
        if self.config.data.num_classes is None:
            self.config = self.config.replace(data={"num_classes": len(self.splits.classes)})
        self.normalizer = self._normalizer(init)
        built = build_model(self.config, num_classes=len(self.splits.classes))
        self.layers = shaped_layers(self.config, built, self.splits.train.x.shape[2:])
        self.init_record = self._initialize(built, init)
        return self._engine(built.model)

    def run(self, out, resume, runs_root) -> TrainResult:
        started = time.perf_counter()
        engine = self.prepare()
        first_epoch = 1
        if self.checkpoint is not None:
            engine.load_state(self.checkpoint)
            first_epoch = self.checkpoint["epoch"] + 1
            run = run_dir_of_checkpoint(resolve_checkpoint_path(resume))
            if self.world.is_main:
                run.truncate_metrics(self.checkpoint["epoch"])
            elapsed = self.checkpoint.get("elapsed", 0.0)
        else:
            run = broadcast(new_run_dir(self.config.name, out, runs_root, lock=self.lock) if self.world.is_main
                            else None, self.world)
            elapsed = 0.0
        self.run_dir = run
        if self.world.is_main:
            # a kill's leftovers
            remove_stale_temps(run.last, run.best, run.config, run.metrics, run.summary, *output_paths(run))
            run.write_config(self.config.to_dict())
        self.outputs = RunOutputs(run, classes=list(self.splits.classes), normalizer=self.normalizer,
                                  title=self.config.name)
        log = self._tensorboard(first_epoch)
        self.saved_epoch = first_epoch - 1 if self.checkpoint is not None else None
        self.finishing = False
        try:
            if self.checkpoint is None and self.world.is_main:
                save_checkpoint(self._checkpoint(engine, 0, 0.0), run.last)  # a kill in epoch 1 resumes too
            self.saved_epoch = first_epoch - 1
            if self.train_cfg.graph and first_epoch == 1 and log is not None:
                self._log_graph(engine, log)
            if first_epoch == 1 and self.world.is_main:
                self.outputs.watch_first_batch(engine)
            with recording_ctrl_c():
                stopped_early = self._epochs(engine, first_epoch, log, started - elapsed)
            self.finishing = True  # every epoch is saved: a Ctrl-C from here on cuts only the end short
            summary = finish(self._run_end(engine), engine, log, time.perf_counter() - started + elapsed)
            self.progress.end()
        except (KeyboardInterrupt, TrainingDiverged) as error:
            if log is not None:
                log.close()
            self.progress.end()
            raise self._stopped(error) from None
        except BaseException:  # anything else: a Progress that stops the run (tune's pruner), or a bug
            if log is not None:
                log.close()  # TensorBoard's writer thread would outlive the run
            raise
        return TrainResult(run.path, summary, stopped_early)

    def _stopped(self, error: BaseException) -> CnntrainError:
        """Ctrl-C or divergence: say what is saved and how to go on."""
        path = self.run_dir.path
        if self.saved_epoch is None:
            return Interrupted(f"interrupted before anything was saved; start again with --out {path}")
        saved = f"{self.run_dir.last} holds epoch {self.saved_epoch}"
        if isinstance(error, TrainingDiverged):
            return TrainingDiverged(f"{error}; {saved}, the last good one. {advice(self.train_cfg)}")
        if self.finishing and self._summary_epochs() == self.saved_epoch:  # stopped while writing report.html
            return Interrupted(f"interrupted while writing the final report; the run is finished "
                               f"({self.run_dir.summary} holds its results). Rebuild its page with: "
                               f"cnntrain report {path}")
        if self.finishing:  # stopped while testing the best checkpoint: the end runs again on resume
            return Interrupted(f"interrupted while finishing the run; {saved}, the last. Test the best checkpoint and "
                               f"write summary.json and report.html with: cnntrain train --resume {path}")
        return Interrupted(f"interrupted; {saved}. Resume with: cnntrain train --resume {path}")

    def _summary_epochs(self) -> int | None:
        """The epoch count in summary.json: this run's finish wrote it, or an earlier finish of a run since extended."""
        try:
            return json.loads(self.run_dir.summary.read_text(encoding="utf-8"))["epochs"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # --- set-up ---

    def _check_data(self) -> None:
        got = tuple(self.splits.train.x.shape[1:])
        want = self.config.input_shape()
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            raise DataError(f"the data gives samples of {shape_text(got)} but the config says "
                            f"{shape_text(want)}: check data.channels and data.image_size")
        if self.checkpoint is not None and self.checkpoint.get("data_fingerprint") != self.splits.fingerprint:
            raise DataError("the data differs from the data this run started with (its fingerprint changed); "
                            "resume needs the same data, or start a new run")

    def _normalizer(self, init: InitSource | None) -> Normalizer:
        channels = self.splits.train.x.shape[1]
        if self.checkpoint is not None:
            return Normalizer(**self.checkpoint["normalization"])
        # uint8 pixels are standardised on the 0-1 scale, float arrays in their own units
        unit = 255.0 if self.splits.train.x.dtype == torch.uint8 else 1.0
        given = given_normalization(self.config, init)  # data.mean/std, or the pretrained weights'
        if given is not None:
            return Normalizer(**given, unit=unit)
        if not self.config.data.normalize:
            return Normalizer([0.0] * channels, [1.0] * channels, unit)
        return Normalizer(*channel_stats(self.splits.train.x), unit)

    def _initialize(self, built, init: InitSource | None) -> dict | None:
        """model.init's weights (a new run only) and train.freeze; what was loaded, for summary.json."""
        report = initialize(built, self.config, source=init)
        if report is None:
            return self.checkpoint.get("init") if self.checkpoint is not None else None
        for line in report.lines() if self.world.is_main else ():
            self.progress.note(line)
        return report.as_dict()

    def _engine(self, model: torch.nn.Module) -> Engine:
        dims = len(self.config.input_shape()) - 1
        channels_last = self.train_cfg.channels_last
        if channels_last is None:
            channels_last = dims == 2 and (self.device.type == "cuda" or self.amp_dtype is not None)
        memory_format = torch.channels_last if channels_last and dims == 2 else None
        model = model.to(self.device, memory_format=memory_format or torch.preserve_format)
        wrapped = model
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.train_cfg.compile:
            wrapped = torch.compile(wrapped)
        train_x, train_y = self.splits.train.x, self.splits.train.y
        if self.device.type == "cuda" and train_x.nbytes < 2**31:
            train_x, train_y = train_x.to(self.device), train_y.to(self.device)  # GPU-resident: no copies
        weights = build_class_weights(self.train_cfg.class_weights, self.splits.train.y, self.splits.classes,
                                      where=self.config.where("train", "class_weights"))
        # uint8 -> standardised floats on the device, for training, evaluation and the pictures alike.
        normalize = self.normalizer.to(self.device, dims)
        augment = {k: v for k, v in self.config.data.augment.items() if v}
        return Engine(model=wrapped, core=model, train_x=train_x, train_y=train_y, normalize=normalize,
                      train_cfg=self.train_cfg, augment=augment, device=self.device, world=self.world,
                      amp_dtype=self.amp_dtype, memory_format=memory_format,
                      class_weights=None if weights is None else weights.to(self.device),
                      sampler=self.config.data.sampler)

    def _tensorboard(self, first_epoch: int):
        if not self.world.is_main:
            return None
        from cnntrain.run.tblog import TensorBoardLog  # deferred: tensorboard takes ~1 s to import, rank 0 only

        return TensorBoardLog(self.run_dir.path, purge_step=first_epoch if first_epoch > 1 else None)

    # --- the epochs ---

    def _epochs(self, engine: Engine, first_epoch: int, log, started: float) -> bool:
        epochs = self.train_cfg.epochs
        self.progress.start(epochs=epochs, first_epoch=first_epoch, steps=engine.steps_per_epoch)
        for epoch in range(first_epoch, epochs + 1):
            record = self._one_epoch(engine, epoch)
            improved = engine.best.update(record)
            engine.validated(record)  # before the save: last.pt holds the plateau schedule's step too
            if self.world.is_main:
                self._save_epoch(engine, record, improved, log, time.perf_counter() - started)
            self.saved_epoch = epoch
            barrier(self.world)
            self.progress.epoch(record)
            raise_if_pressed()  # pressed while validating or saving, and swallowed there
            patience = self.train_cfg.early_stopping
            if patience and engine.best.bad_epochs >= patience:
                return True
        return False

    def _one_epoch(self, engine: Engine, epoch: int) -> dict:
        started = time.perf_counter()
        stats = engine.train_epoch(epoch, self.progress)
        lr = engine.step_lr  # of the epoch's last step: a step schedule's decay shows from the next epoch
        val_loss, val_acc = self._evaluate(engine, self.splits.val)
        return {"epoch": epoch, "train_loss": stats.loss, "train_acc": stats.acc, "val_loss": val_loss,
                "val_acc": val_acc, "lr": lr, "images_per_sec": stats.images / stats.seconds,
                "epoch_seconds": time.perf_counter() - started}

    def _evaluate(self, engine: Engine, split) -> tuple[float, float]:
        """The validated model's loss and accuracy over a split, each rank taking its share, summed over ranks."""
        x, y = split.x[self.world.rank:: self.world.size], split.y[self.world.rank:: self.world.size]
        logits = self._logits(engine, engine.eval_model, x)
        loss, acc = loss_and_accuracy(logits, y) if len(y) else (0.0, 0.0)
        loss_sum, hits, n = all_sum([loss * len(y), acc * len(y), len(y)], self.world)
        return (loss_sum / n, hits / n) if n else (float("nan"), float("nan"))

    def _logits(self, engine: Engine, model, x):
        return predict_logits(model, x, engine.normalize, self.device,
                              batch_size=self.train_cfg.eval_batch_size, dtype=self.amp_dtype,
                              memory_format=engine.memory_format)

    def _save_epoch(self, engine: Engine, record: dict, improved: bool, log, elapsed: float) -> None:
        self.run_dir.append_metrics(record)  # before last.pt: resume trims epochs past the checkpoint
        state = self._checkpoint(engine, record["epoch"], elapsed)
        if improved:
            save_checkpoint(state, self.run_dir.best)
        save_checkpoint(state, self.run_dir.last)
        self.saved_epoch = record["epoch"]
        log.epoch(record)
        every = self.train_cfg.featuremap_every
        if every and (record["epoch"] % every == 0 or record["epoch"] == self.train_cfg.epochs):
            self._log_featuremaps(engine, log, record["epoch"])
        if self.train_cfg.histograms:
            log.histograms(engine.core, record["epoch"])
        self.outputs.curves(engine.best.epoch)
        write_report(self.run_dir, finished=False)

    def _checkpoint(self, engine: Engine, epoch: int, elapsed: float) -> dict:
        return {
            **engine.state(epoch),
            "config": self.config.to_dict(),
            "classes": list(self.splits.classes),
            "normalization": self.normalizer.as_dict(),
            "input_shape": list(self.splits.train.x.shape[1:]),
            "data_fingerprint": self.splits.fingerprint,
            "init": self.init_record,
            "elapsed": elapsed,
            "threads": self.threads,
            "versions": versions(),
        }

    def _log_graph(self, engine: Engine, log) -> None:
        """The core model's graph (not a DDP or compile wrapper), traced on one normalized validation batch."""
        split = self.splits.val if len(self.splits.val.y) else self.splits.train
        batch = split.x[: self.train_cfg.batch_size]  # (B, C, *spatial) uint8
        x = engine.normalize(batch.to(self.device))
        if engine.memory_format is not None:
            x = x.contiguous(memory_format=engine.memory_format)
        log.graph(engine.core, x)

    def _log_featuremaps(self, engine: Engine, log, epoch: int) -> None:
        """The validated model's maps of one fixed validation image: a learner watches the filters learn."""
        if len(self.splits.val.y) == 0:
            return
        sample = self.splits.val.x[:1]
        x = engine.normalize(sample.to(self.device))
        names = [info.name for info in default_layers(self.layers)]
        maps = capture(engine.eval_model, x, names)
        images = {n: feature_grid_image(maps[n][0].numpy()) for n in names}
        log.images("featuremaps", images, epoch)
        self.outputs.featuremaps(epoch, images)

    # --- the end ---

    def _run_end(self, engine: Engine) -> RunEnd:
        return RunEnd(config=self.config, run_dir=self.run_dir, world=self.world, device=self.device,
                      test=self.splits.test, classes=list(self.splits.classes),
                      data_fingerprint=self.splits.fingerprint, normalizer=self.normalizer, layers=self.layers,
                      init=self.init_record, logits=functools.partial(self._logits, engine))
