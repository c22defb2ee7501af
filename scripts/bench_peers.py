"""One trainer of mnist_cnn's network in a process of its own, one epoch per command: bench.py --peers.

    python scripts/bench_peers.py PEER --images N      # PEER: cnntrain, bare, lightning, keras

Each peer trains the same network (pytorch/examples' MNIST CNN), optimizer (Adadelta, lr 1.0, rho 0.9,
eps 1e-6), batch size (64) and data (N 28x28 images from cnntrain's `shapes` generator, standardised)
through its own API, configured for speed as its documentation says. It prints `ready` once set up,
then for each `epoch` line on stdin trains one epoch and prints {"images": n, "seconds": s}, timed
from the epoch's start to its end inside the framework (its start-up and set-up are not counted);
`quit` ends it. The parent (bench.py) interleaves the peers round after round.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST_CNN = ROOT / "configs" / "mnist_cnn.yaml"
BATCH_SIZE, LR, RHO, EPS = 64, 1.0, 0.9, 1e-6  # mnist_cnn's, and torch's Adadelta defaults


def shapes_data(images: int):
    """(x uint8 (N, 1, 28, 28), y, classes): the same images in every peer's process."""
    from cnntrain.config import DataSettings
    from cnntrain.data import load_data

    splits = load_data(DataSettings(dataset="shapes", image_size=28, channels=1, num_classes=None,
                                    train_size=images, val_size=0, test_size=0), 1)
    return splits.train.x, splits.train.y, len(splits.classes)


def standardised(x):
    x = x.float() / 255
    return (x - x.mean()) / x.std()  # (N, 1, 28, 28)


def next_command() -> bool:
    """Block until the parent asks for an epoch (True) or says quit (False)."""
    line = sys.stdin.readline().strip()
    return line == "epoch"


def report(images: int, seconds: float) -> None:
    print(json.dumps({"images": images, "seconds": seconds}), flush=True)


def ready() -> None:
    print("ready", flush=True)


# --- the peers --------------------------------------------------------------------------------------


def run_cnntrain(images: int) -> None:
    """cnntrain's own `train()`, as `cnntrain train --config configs/mnist_cnn.yaml` runs it: validation,
    checkpoints and TensorBoard after each epoch, outside the epoch's time as in its metrics."""
    from cnntrain.run.progress import Progress
    from cnntrain.run.train import train

    class Turns(Progress):
        def start(self, **_):
            ready()
            self._wait()

        def epoch(self, record):
            report(images, images / record["images_per_sec"])
            self._wait()

        def _wait(self):
            if not next_command():
                os._exit(0)  # mid-run, by design: the parent has its numbers

    overrides = ["data.dataset=shapes", "data.num_classes=null", f"data.train_size={images}", "data.val_size=100",
                 "data.test_size=100", "train.epochs=1000", "train.featuremap_every=0", "train.device=cpu"]
    with tempfile.TemporaryDirectory(prefix="cnntrain-peer-") as out:
        train(MNIST_CNN, overrides=overrides, out=Path(out) / "run", progress=Turns())


def run_bare(images: int) -> None:
    """The hand-written loop (benchkit/loops.py: BareLoop) in a process without cnntrain's process-wide switches."""
    from benchkit.loops import BareLoop

    x, y, _ = shapes_data(images)
    loop = BareLoop(x, y, BATCH_SIZE, LR)
    ready()
    while next_command():
        t = time.perf_counter()
        report(loop.epoch(), time.perf_counter() - t)


def run_lightning(images: int) -> None:
    """Lightning's Trainer in `barebones=True`, its documented raw-speed mode (no checkpointing, logger,
    progress bar, model summary or sanity check), on the CPU, with a DataLoader over in-memory tensors
    (no workers: the tensors are already in memory, and workers would only copy them)."""
    import lightning as L
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from benchkit.loops import bare_mnist_cnn

    x, y, classes = shapes_data(images)

    class MnistCnn(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = bare_mnist_cnn(classes)

        def training_step(self, batch, _):
            xb, yb = batch
            return F.cross_entropy(self.net(xb), yb)

        def configure_optimizers(self):
            return torch.optim.Adadelta(self.parameters(), lr=LR, rho=RHO, eps=EPS)

    class Turns(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if not next_command():
                os._exit(0)
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            report(images, time.perf_counter() - self.started)

    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(standardised(x), y), batch_size=BATCH_SIZE, shuffle=True, num_workers=0)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=-1, barebones=True, callbacks=[Turns()])
    ready()
    trainer.fit(MnistCnn(), loader)


def run_keras(images: int) -> None:
    """Keras 3 on its torch backend: model.fit on NumPy arrays with verbose=0 (no progress bar), eager
    (torch.compile, `jit_compile=True`, costs more than it saves over a few epochs on a small CPU), with
    the accuracy metric as cnntrain computes it, and channels_first so torch's convolutions need no
    transposes."""
    os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported
    import keras

    keras.config.set_image_data_format("channels_first")
    x, y, classes = shapes_data(images)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((1, 28, 28)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Dropout(0.25), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.5), keras.layers.Dense(classes),
    ])
    model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=LR, rho=RHO, epsilon=EPS),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=False)

    class Turns(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if not next_command():
                os._exit(0)
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            report(images, time.perf_counter() - self.started)

    ready()
    model.fit(standardised(x).numpy(), y.numpy(), batch_size=BATCH_SIZE, epochs=10**6, shuffle=True, verbose=0,
              callbacks=[Turns()])


PEERS = {"cnntrain": run_cnntrain, "bare": run_bare, "lightning": run_lightning, "keras": run_keras}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--images", type=int, default=10000)
    args = parser.parse_args()
    PEERS[args.peer](args.images)


if __name__ == "__main__":
    main()
