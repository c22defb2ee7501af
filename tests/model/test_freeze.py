"""freeze.py: `train.freeze` fixes the named layers (children included): no gradients, batch norm in eval mode."""

from __future__ import annotations

import pytest
import torch

from cnntrain.errors import ConfigError
from cnntrain.model.builder import build_model
from cnntrain.model.freeze import freeze_layers

SMALL = """
data: {channels: 1, image_size: 8, num_classes: 3}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - batchnorm2d: {name: bn1}
    - relu
    - residual:
        name: block
        body: [conv2d: {out_channels: 4, kernel_size: 3, padding: 1}, batchnorm2d]
    - flatten
    - linear: {name: fc, out_features: num_classes}
"""


def frozen_names(built) -> list:
    return [name for name, p in built.model.named_parameters() if not p.requires_grad]


def test_named_layers_and_their_children_stop_training(load):
    built = build_model(load(SMALL))
    assert freeze_layers(built, ["conv1", "block"]) == ["conv1", "block"]
    assert frozen_names(built) == ["conv1.weight", "conv1.bias", "block.body.0.weight", "block.body.0.bias",
                                   "block.body.1.weight", "block.body.1.bias"]


def test_a_dotted_path_freezes_part_of_a_block(load):
    built = build_model(load(SMALL))
    freeze_layers(built, ["block.body.1"])
    assert frozen_names(built) == ["block.body.1.weight", "block.body.1.bias"]


@pytest.mark.parametrize("keep, frozen", [(1, ["conv1", "bn1", "block"]), (2, ["conv1", "bn1"]), (0, ["conv1", "bn1",
                                          "block", "fc"]), (9, [])])
def test_all_but_last_counts_layers_with_weights(load, keep, frozen):
    built = build_model(load(SMALL))
    assert freeze_layers(built, {"all_but_last": keep}) == frozen


def test_frozen_batch_norm_stays_in_eval_mode_and_keeps_its_statistics(load):
    built = build_model(load(SMALL))
    freeze_layers(built, ["bn1"])
    before = {k: v.clone() for k, v in built.model.bn1.state_dict().items()}
    built.model.train()
    assert not built.model.bn1.training and built.model.block.body[1].training
    built.model(torch.randn(4, 1, 8, 8) * 3 + 1)
    after = built.model.bn1.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert built.model.block.body[1].num_batches_tracked.item() == 1  # the trainable one did update


def test_an_unknown_layer_is_named_with_a_suggestion(load):
    with pytest.raises(ConfigError, match=r"train.freeze: no layer `conv` .*did you mean `conv1`"):
        freeze_layers(build_model(load(SMALL)), ["conv"])


def test_summary_counts_frozen_parameters_per_layer(summary_of, cli, write_config):
    summary = summary_of(SMALL, "train.freeze=[conv1, bn1]")
    assert [layer["params"] - layer["trainable_params"] for layer in summary["layers"]] == [40, 8, 0, 0, 0, 0]
    assert summary["total_params"] - summary["trainable_params"] == 48
    code, out, _ = cli("summary", "--config", write_config(SMALL), "--set", "train.freeze={all_but_last: 1}")
    assert code == 0 and "frozen" in out and "(trainable 771, frozen 204)" in out

