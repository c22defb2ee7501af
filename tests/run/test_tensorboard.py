"""What a run leaves for TensorBoard, read back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cnntrain.run.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

EPOCH_TAGS = ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "throughput/images_per_sec")


def events(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                                            "tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def logged(tmp_path_factory, tiny_yaml, one_thread):
    """Three epochs with everything on: feature maps every 2 epochs, histograms, the graph."""
    root = tmp_path_factory.mktemp("tb")
    (root / "tiny.yaml").write_text(tiny_yaml)
    result = train(root / "tiny.yaml", out=root / "run", overrides=[
        "train.epochs=3", "train.featuremap_every=2", "train.histograms=true", "train.graph=true"])
    return events(result.run_dir)


def test_one_scalar_per_epoch_under_each_tag(logged):
    for tag in EPOCH_TAGS:
        assert [e.step for e in logged.Scalars(tag)] == [1, 2, 3], tag
    assert all(0 <= e.value <= 1 for e in logged.Scalars("val/acc"))
    assert logged.Scalars("lr")[0].value == pytest.approx(0.01)


def test_hyperparameters_are_in_the_same_run(logged):
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(logged.PluginTagToContent("hparams"))
    assert "hparam/best_val_acc" in logged.Tags()["scalars"]


def test_hyperparameters_name_the_layers_arguments_as_tune_sets_them(logged):
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = logged.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    values = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert values["model.layers.conv1.out_channels"].number_value == 8  # what a tuned width is called
    assert values["train.lr"].number_value == pytest.approx(0.01)
    assert values["data.dataset"].string_value == "shapes"


def test_feature_maps_every_few_epochs_and_at_the_end(logged):
    tags = [t for t in logged.Tags()["images"] if t.startswith("featuremaps/")]
    assert {"featuremaps/conv1", "featuremaps/conv2"} <= set(tags)
    for tag in tags:
        assert [e.step for e in logged.Images(tag)] == [2, 3], tag
    image = logged.Images("featuremaps/conv1")[0]
    assert image.width > 16 and image.height > 16 and image.encoded_image_string.startswith(b"\x89PNG")


def test_confusion_matrix_at_the_end(logged):
    assert [e.step for e in logged.Images("confusion_matrix/test")] == [3]


def test_weight_histograms_on_request(logged):
    histograms = logged.Tags()["histograms"]
    assert {"weights/conv1.weight", "weights/output.bias"} <= set(histograms)
    assert [e.step for e in logged.Histograms("weights/conv1.weight")] == [1, 2, 3]


def test_graph_on_request(logged):
    graph = logged.Graph()
    ops = {node.op for node in graph.node}
    assert any("conv" in op.lower() for op in ops), ops


BN_DROPOUT = """
name: bn
data: {dataset: shapes, channels: 1, image_size: 16, train_size: 128, val_size: 64, test_size: 32}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - batchnorm2d
    - relu
    - adaptiveavgpool2d: 2
    - flatten
    - dropout: 0.5
    - linear: {name: output, out_features: num_classes}
train: {epochs: 1, batch_size: 32, device: cpu, featuremap_every: 0}
"""


def test_logging_the_graph_changes_nothing_it_traces(tmp_path, same_weights):
    """Tracing runs a forward pass: in train mode it would move batch-norm statistics and draw a dropout mask."""
    (tmp_path / "bn.yaml").write_text(BN_DROPOUT)
    runs = {graph: train(tmp_path / "bn.yaml", overrides=[f"train.graph={graph}"], out=tmp_path / str(graph)).run_dir
            for graph in ("false", "true")}
    weights = {g: torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"] for g, run in runs.items()}
    assert same_weights(weights["false"], weights["true"])
    assert events(runs["true"]).Tags()["graph"] and not events(runs["false"]).Tags()["graph"]
    assert not [t for t in events(runs["false"]).Tags()["images"] if t.startswith("featuremaps/")]
    assert yaml.safe_load((runs["true"] / "config.yaml").read_text())["train"]["graph"] is True
