"""The signal and volume augmentations (shift per axis, flip_axes, scale, noise) are seeded: a run of a
user's float arrays stopped after one epoch and resumed ends with the weights of one never stopped."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch

from cnntrain.run.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_resumed_augmented_run_has_the_same_weights(tmp_path, same_weights):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(5.0, 0.1, (48, 2, 6, 5, 4)).astype(np.float32),
             y=np.arange(48) % 3)
    config = tmp_path / "c.yaml"
    config.write_text(textwrap.dedent(f"""
        name: resume
        data: {{dataset: arrays, root: "{tmp_path / 'd.npz'}", channels: 2, image_size: [6, 5, 4],
                augment: {{shift: [1, 0, 2], flip_axes: [0, 2], scale: 0.2, noise: 0.1}}}}
        model: {{layers: [conv3d: {{out_channels: 3, kernel_size: 3}}, relu, flatten, linear: num_classes]}}
        train: {{epochs: 2, batch_size: 8, device: cpu, featuremap_every: 0}}
        """))
    straight = train(config, out=tmp_path / "straight").run_dir
    train(config, overrides=["train.epochs=1"], out=tmp_path / "stopped")
    resumed = train(resume=tmp_path / "stopped", overrides=["train.epochs=2"]).run_dir

    def weights(run):
        return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]

    assert same_weights(weights(resumed), weights(straight))
