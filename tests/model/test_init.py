"""init.py and match.py: `model.init` puts torchvision's tensors (any state_dict's) into the shipped configs by
structure, so the config's model gives torchvision's outputs; a changed head is reported, a misfit is an error."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from cnntrain.config.loader import load_config
from cnntrain.errors import CheckpointError
from cnntrain.model.builder import build_model
from cnntrain.model.init import build_initialized, init_source, initialize, sized_for_init
from conftest import ROOT

SIZE = 32  # resnets and MobileNetV2 end at 1 x 1 here: every layer runs, in milliseconds
pytestmark = pytest.mark.usefixtures("one_thread")


def config_path(name: str):
    return ROOT / "configs" / f"{name}.yaml"


def random_reference(name: str, **kwargs) -> torch.nn.Module:
    """torchvision's model with random weights and batch-norm statistics, in eval mode. Allocated on the meta
    device and filled directly: torchvision's own initialisation of ResNet-50 would take seconds."""
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(**kwargs)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                tensor.fill_(1000)
            elif key.endswith(("running_var", ".weight")) and tensor.dim() == 1:  # batch-norm scales
                tensor.uniform_(0.5, 1.5, generator=generator)
            elif tensor.dim() > 1:  # conv and linear weights, scaled so that deep networks stay finite
                tensor.normal_(0, tensor[0].numel() ** -0.5, generator=generator)
            else:  # biases and running means
                tensor.normal_(0, 0.1, generator=generator)
    return model.eval()


def save(model: torch.nn.Module, folder, kind: str):
    path = folder / f"weights.{kind}"
    if kind == "safetensors":
        save_file(model.state_dict(), path)
    else:
        torch.save(model.state_dict(), path)
    return path


def initialized(name: str, *overrides: str):
    """The config's model with model.init loaded. Built on the meta device and then given memory, since every
    tensor is loaded; the weights' own initialisation would cost seconds for nothing."""
    config = load_config(config_path(name), [f"data.image_size={SIZE}", *overrides])
    built = build_model(config, device="meta")
    built.model.to_empty(device="cpu")
    return built, initialize(built, config, source=init_source(config))


@pytest.mark.parametrize("name, kind", [
    ("resnet18", "pth"), ("resnet18", "safetensors"), ("resnet34", "pth"), ("resnet50", "pth"),
    ("resnet50", "safetensors"), ("mobilenet_v2", "pth"), ("mobilenet_v2", "safetensors"),
])
def test_torchvision_weights_give_torchvision_outputs(name, kind, tmp_path):
    reference = random_reference(name)
    built, report = initialized(name, f"model.init={save(reference, tmp_path, kind)}")
    assert report.loaded == len(reference.state_dict()) and report.skipped == []
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = reference(x), built.model.eval()(x)
    assert want.abs().max() > 0.1  # a real signal, not everything decayed to zero
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_a_changed_head_stays_initialised_and_is_reported(tmp_path):
    reference = random_reference("resnet18")
    file = save(reference, tmp_path, "pth")
    config = load_config(config_path("finetune"), [f"data.image_size={SIZE}", f"model.init={file}"])
    built, report = build_initialized(config)
    assert report.loaded == len(reference.state_dict()) - 2
    assert [(s["name"], s["shape"]) for s in report.skipped] == [("fc.weight", "5x512"), ("fc.bias", "5")]
    assert "fc.weight is 1000x512" in report.skipped[0]["reason"]
    assert len(report.sha256) == 64 and report.as_dict()["source"] == str(file)
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(built.model.eval()[:-1](x), reference(x))  # the body, up to the new head


def test_a_model_that_parts_from_the_weights_is_one_error_naming_both_layers(tmp_path):
    file = save(random_reference("resnet34"), tmp_path, "pth")  # three blocks in layer1, resnet18 has two
    with pytest.raises(CheckpointError) as error:
        initialized("resnet18", f"model.init={file}")
    message = str(error.value)
    assert "they part at layer `layer2.0.body.0` (weight 128x64x3x3)" in message
    assert "the file has `layer1.2.conv1` (weight 64x64x3x3)" in message and "\n" not in message


def test_the_cli_reports_a_misfit_in_one_line(tmp_path, cli):
    file = save(random_reference("mobilenet_v2"), tmp_path, "pth")
    code, out, err = cli("summary", "--config", config_path("resnet18"), "--set", f"model.init={file}")
    assert code == 2 and err.count("\n") == 1 and "does not fit this model" in err and "Traceback" not in err


def test_summary_json_says_what_would_load(tmp_path, cli):
    import json

    file = save(random_reference("resnet18"), tmp_path, "safetensors")
    code, out, _ = cli("summary", "--config", config_path("finetune"), "--set", f"model.init={file}", "--json")
    init = json.loads(out)["init"]
    assert code == 0 and init["loaded"] == 120 and [s["name"] for s in init["skipped"]] == ["fc.weight", "fc.bias"]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch hub cache, and no network to fill it from."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("cnntrain.model.init._reachable", lambda address: False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_offline_torchvision_weights_say_which_file_to_place_where(empty_hub, cli):
    code, _, err = cli("summary", "--config", config_path("resnet18"),
                       "--set", "model.init=torchvision:resnet18.IMAGENET1K_V1")
    assert code == 2 and err.count("\n") == 1
    assert str(empty_hub / "resnet18-f37072fd.pth") in err.replace("\n", "")
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in err


def test_cached_torchvision_weights_load_without_the_network(empty_hub, tmp_path):
    empty_hub.mkdir(parents=True)
    reference = random_reference("resnet18")
    torch.save(reference.state_dict(), empty_hub / "resnet18-f37072fd.pth")
    built, report = initialized("resnet18", "model.init=torchvision:resnet18.IMAGENET1K_V1")
    assert report.loaded == 122 and report.file == str(empty_hub / "resnet18-f37072fd.pth")
    source = init_source(load_config(config_path("resnet18"), ["model.init=torchvision:resnet18.DEFAULT"]))
    assert (source.mean, source.std) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


@pytest.mark.parametrize("init, message", [
    ("torchvision:resnet18.NOPE", "torchvision has no such weights"),
    ("torchvision:notamodel.IMAGENET1K_V1", "torchvision has no such weights"),
    ("missing.pth", "model.init missing.pth: no such file"),
])
def test_wrong_sources_are_named(init, message, cli):
    code, _, err = cli("summary", "--config", config_path("resnet18"), "--set", f"model.init={init}")
    assert code == 2 and message in err


def test_unsafe_or_unreadable_files_are_refused(tmp_path, cli):
    import pickle

    unsafe = tmp_path / "unsafe.pt"
    unsafe.write_bytes(pickle.dumps(print))  # a pickle that names a Python callable
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not tensors")
    for file, message in ((unsafe, "could run code"), (garbage, "not a readable .safetensors file")):
        code, _, err = cli("summary", "--config", config_path("resnet18"), "--set", f"model.init={file}")
        assert code == 2 and message in err, err


def test_torchvision_weights_need_three_channels():
    config = load_config(config_path("cnn"), ["model.init=torchvision:resnet18.IMAGENET1K_V1"])
    with pytest.raises(Exception, match="3-channel images but data.channels is 1"):
        init_source(config)


def test_torchvision_weights_set_a_null_image_size_to_theirs_and_a_given_one_wins():
    name = "model.init=torchvision:mobilenet_v2.IMAGENET1K_V1"
    assert init_source(load_config(config_path("mobilenet_v2"), [name, "data.image_size=null"])).crop_size == [224]
    config = load_config(config_path("mobilenet_v2"), [name, "data.image_size=null"])
    sized = sized_for_init(config, init_source(config))
    assert sized.data.image_size == [224]
    assert config.data.image_size is None  # a new Config: the given one stays as it was
    config = load_config(config_path("mobilenet_v2"), [name, "data.image_size=96"])
    assert sized_for_init(config, init_source(config)).data.image_size == 96


def test_an_unreachable_host_is_known_quickly(monkeypatch):
    from cnntrain.model import init

    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    assert init._first_hop("https://download.pytorch.org/models/x.pth") == ("download.pytorch.org", 443)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert init._first_hop("https://download.pytorch.org/models/x.pth") == ("proxy.example", 3128)
    assert init._reachable(("unreachable.invalid", 443)) is False  # .invalid never resolves (RFC 2606)


def test_a_run_directory_means_its_best_checkpoint(tmp_path):
    """As --checkpoint RUN does everywhere: best.pt, not the last epoch's weights."""
    best, last = random_reference("resnet18"), random_reference("resnet18")
    with torch.no_grad():
        last.fc.weight.add_(1.0)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"model": last.state_dict(), "epoch": 2}, run / "checkpoints" / "last.pt")
    with pytest.raises(CheckpointError, match="no checkpoints/best.pt yet .*checkpoints/last.pt"):
        initialized("resnet18", f"model.init={run}")
    torch.save({"model": best.state_dict(), "epoch": 1}, run / "checkpoints" / "best.pt")
    built, _ = initialized("resnet18", f"model.init={run}")
    torch.testing.assert_close(built.model.state_dict()["fc.weight"], best.fc.weight, rtol=0, atol=0)
