"""Fine-tuning in train(): model.init's weights go in before the first epoch, frozen layers stay bit-identical
(batch-norm statistics too) while the head trains, a frozen run resumes exactly, and torchvision weights bring
their own normalisation into the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnntrain.config.loader import load_config
from cnntrain.data.datasets import known_num_classes
from cnntrain.errors import ConfigError
from cnntrain.model.builder import build_model
from cnntrain.run.load import load_trained
from cnntrain.run.progress import Progress
from cnntrain.run.train import train
from conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_BN = """
name: tinybn
data: {dataset: shapes, channels: 1, image_size: 16, train_size: 256, val_size: 64, test_size: 32}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 8, kernel_size: 3, padding: 1}
    - batchnorm2d: {name: bn1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 8, kernel_size: 3, padding: 1}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {name: output, out_features: num_classes}
train: {epochs: 2, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0, freeze: [conv1, bn1]}
"""
FROZEN = ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
          "bn1.num_batches_tracked")


class Notes(Progress):
    def __init__(self):
        self.lines = []

    def note(self, message):
        self.lines.append(message)


@pytest.fixture
def pretrained(write_config, tmp_path):
    """(config path, weights file): TINY_BN and a state_dict of its model with other weights and statistics."""
    config = write_config(TINY_BN, "tinybn.yaml")
    resolved = load_config(config)
    torch.manual_seed(123)
    model = build_model(resolved, num_classes=known_num_classes(resolved.data)).model
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
    torch.save(model.state_dict(), tmp_path / "pretrained.pt")
    return config, tmp_path / "pretrained.pt"


def last(run) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


def test_frozen_layers_stay_bit_identical_while_the_head_trains(pretrained, tmp_path):
    config, weights = pretrained
    notes = Notes()
    result = train(config, overrides=[f"model.init={weights}", "train.epochs=1"], out=tmp_path / "run",
                   progress=notes)
    loaded, saved = torch.load(weights, weights_only=True), last(result.run_dir)
    assert all(torch.equal(saved["model"][k], loaded[k]) for k in FROZEN)
    assert not torch.equal(saved["model"]["output.weight"], loaded["output.weight"])
    assert not torch.equal(saved["model"]["conv2.weight"], loaded["conv2.weight"])
    assert len(saved["optimizer"]["param_groups"][0]["params"]) == 4  # conv2 and output: the trainable ones
    init = result.summary["init"]
    assert (init["loaded"], init["skipped"], init["source"]) == (len(loaded), [], str(weights))
    assert result.summary["frozen"] == ["conv1", "bn1"] and result.summary["trainable_params"] == 8 * 9 * 8 + 8 + 9 * 6
    assert notes.lines == [f"model.init: {len(loaded)} tensors loaded from {weights} (sha256 {init['sha256'][:12]})"]


def test_a_frozen_run_resumes_exactly(pretrained, tmp_path, same_weights):
    config, weights = pretrained
    init = [f"model.init={weights}"]
    straight = train(config, overrides=init, out=tmp_path / "straight").run_dir
    stopped = train(config, overrides=[*init, "train.epochs=1"], out=tmp_path / "resumed").run_dir
    weights.unlink()  # a resumed run has its weights: model.init is not read again
    resumed = train(resume=stopped, overrides=["train.epochs=2"])
    assert same_weights(last(straight)["model"], last(stopped)["model"])
    assert resumed.summary["init"]["loaded"] == 11  # still on record
    with pytest.raises(ConfigError, match="train.freeze cannot change on --resume"):
        train(resume=stopped, overrides=["train.epochs=3", "train.freeze=[conv1]"])


def test_data_mean_and_std_replace_the_data_statistics(pretrained, tmp_path):
    config, _ = pretrained
    run = train(config, overrides=["train.epochs=1", "data.mean=[0.25]", "data.std=[0.5]", "train.freeze=[]"],
                out=tmp_path / "run").run_dir
    assert last(run)["normalization"] == {"mean": [0.25], "std": [0.5], "unit": 255.0}  # pixels, 0-255


def image_folder(root, classes=3, per_class=10, size=32):
    """Three classes of RGB pictures told apart by colour."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            pixels[..., c] += 150
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.png")
    return root


def test_finetune_config_from_torchvision_weights_gives_torchvision_logits(tmp_path, monkeypatch, cli):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("cnntrain.model.init._reachable", lambda address: False)  # from the cache, never the network
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), cache / "resnet18-f37072fd.pth")
    folder = image_folder(tmp_path / "folder")
    code, out, err = cli("train", "--config", ROOT / "configs" / "finetune.yaml", "--out", tmp_path / "run",
                         "--set", f"data.root={folder}", "--set", "data.num_classes=3", "--set", "data.image_size=32",
                         "--set", "train.epochs=1", "--set", "train.batch_size=8", "--set", "train.device=cpu",
                         "--set", "train.featuremap_every=0", "--set", "data.cache_dir=null")
    assert code == 0, err
    assert "model.init: 120 tensors loaded from torchvision:resnet18.IMAGENET1K_V1" in out
    assert "fc.weight 3x512 left freshly initialised: the file's fc.weight is 1000x512" in out
    trained = load_trained(tmp_path / "run")
    assert trained.normalizer.as_dict() == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "unit": 255.0}
    # torchvision's own model with the trained head gives the same logits on the same normalised images
    reference.fc = torch.nn.Linear(512, 3)
    reference.fc.load_state_dict({"weight": trained.model.fc.weight, "bias": trained.model.fc.bias})
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*/0.png"))]))
    x = x.permute(0, 3, 1, 2)  # (N, 3, 32, 32) uint8
    with torch.no_grad():
        want = reference.eval()(torchvision.transforms.functional.normalize(x / 255, trained.normalizer.mean,
                                                                            trained.normalizer.std))
    torch.testing.assert_close(trained.logits(x), want, rtol=1e-4, atol=1e-4)
