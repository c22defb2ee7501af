"""TensorBoard logging into the run directory itself: one run, one TensorBoard run.

Scalars every epoch, hyperparameters in the same run (not the subfolder `add_hparams` makes),
feature maps of one fixed validation image so a user watches the filters learn, and the confusion
matrix at the end.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

SCALARS = {"train_loss": "train/loss", "train_acc": "train/acc", "val_loss": "val/loss",
           "val_acc": "val/acc", "lr": "lr", "images_per_sec": "throughput/images_per_sec"}


class TensorBoardLog:
    def __init__(self, run_dir: Path, *, purge_step: int | None = None):
        # purge_step drops events past the resumed epoch, so a resumed run's curves have no doubles.
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)

    def epoch(self, record: dict) -> None:
        for key, tag in SCALARS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], record["epoch"])
        self.writer.flush()

    def hparams(self, values: dict, metrics: dict, step: int = 0) -> None:
        """`step`: the last epoch, so a resumed run's purge_step drops the value an earlier finish logged."""
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}
        for part in hparams(flat, metrics):
            self.writer.file_writer.add_summary(part)
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def images(self, tag_prefix: str, images: dict, step: int) -> None:
        """`images`: name -> (H, W, 3) uint8 array."""
        for name, image in images.items():
            self.writer.add_image(f"{tag_prefix}/{name}", image, step, dataformats="HWC")
        self.writer.flush()

    def histograms(self, model: torch.nn.Module, step: int) -> None:
        for name, param in model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", param.detach().float().cpu(), step)

    def graph(self, model: torch.nn.Module, example: torch.Tensor) -> None:
        """Trace `example` (B, C, *spatial) through the model. add_graph traces in eval mode, so batch-norm
        statistics and the dropout RNG stay as they were: logging the graph does not change the run."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and jit deprecation notices: the library never prints
            self.writer.add_graph(model, example)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
