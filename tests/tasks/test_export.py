"""`cnntrain export`: files that give PyTorch's answers on raw pixels, read back by their own runtimes,
and predict/evaluate running the .onnx with onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")

TRAIN = "train: {epochs: 1, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}"
SIZES = "train_size: 64, val_size: 32, test_size: 40"
CONFIGS = {
    "1d": f"""
        name: tiny1d
        data: {{dataset: signals, channels: 1, image_size: [32], {SIZES}}}
        model:
          layers:
            - conv1d: {{out_channels: 4, kernel_size: 5, padding: 2}}
            - relu
            - maxpool1d: 4
            - flatten
            - linear: num_classes
        {TRAIN}
    """,
    # batch norm, a residual block and dropout: layers that behave differently in training
    "2d": f"""
        name: tiny2d
        data: {{dataset: shapes, channels: 3, image_size: 16, {SIZES}}}
        model:
          layers:
            - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
            - batchnorm2d
            - relu
            - residual:
                body:
                  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
                  - batchnorm2d
                  - relu
                  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
                  - batchnorm2d
            - dropout: 0.3
            - adaptiveavgpool2d: 1
            - flatten
            - linear: num_classes
        {TRAIN}
    """,
    "3d": f"""
        name: tiny3d
        data: {{dataset: volumes, channels: 1, image_size: [8, 8, 8], {SIZES}}}
        model:
          layers:
            - conv3d: {{out_channels: 4, kernel_size: 3, padding: 1}}
            - relu
            - maxpool3d: 2
            - flatten
            - linear: num_classes
        {TRAIN}
    """,
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, one_thread) -> dict:
    """One-epoch runs of the three tiny configs: name -> best.pt."""
    from cnntrain.run.train import train

    found = {}
    for name, text in CONFIGS.items():
        folder = tmp_path_factory.mktemp(f"export{name}")
        (folder / "c.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
        found[name] = train(folder / "c.yaml", out=folder / "run").run_dir / "checkpoints" / "best.pt"
    return found


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict:
    """Each checkpoint exported as ONNX by the library (2d to its default path; 1d takes float32 pixels)."""
    from cnntrain.tasks.export import export

    folder = tmp_path_factory.mktemp("onnx")
    return {"1d": export(checkpoints["1d"], out=folder / "m1d.onnx", input_dtype="float32"),
            "2d": export(checkpoints["2d"]),
            "3d": export(checkpoints["3d"], out=folder / "m3d.onnx")}


def images_and_reference(checkpoint, count: int):
    """The checkpoint's first test images and PyTorch's logits for them."""
    from cnntrain.data import load_data
    from cnntrain.run.load import load_trained

    trained = load_trained(checkpoint, device="cpu")
    x = load_data(trained.config.data, trained.config.train.seed).test.x[:count]
    return trained, x, trained.logits(x).numpy()


@pytest.mark.parametrize("name", ["1d", "2d", "3d"])
def test_onnxruntime_alone_gives_pytorch_answers(name, checkpoints, exported):
    import onnxruntime

    result = exported[name]
    assert result.top1_agreement == 1.0 and result.max_abs_diff <= result.verification.tolerance
    assert result.verification.images == "test" and result.verification.samples == 40
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (pixels,) = session.get_inputs()
    assert pixels.shape[0] not in (1, 2, 7) and isinstance(pixels.shape[0], str)  # a named, free batch
    assert [o.name for o in session.get_outputs()] == ["logits", "probabilities"]
    dtype = np.float32 if name == "1d" else np.uint8
    trained, x, reference = images_and_reference(checkpoints[name], 8)
    for batch in (1, 7):
        logits, probs = session.run(None, {"pixels": x[:batch].numpy().astype(dtype)})
        assert logits.shape == (batch, len(trained.classes))
        np.testing.assert_allclose(logits, reference[:batch], atol=1e-4, rtol=0)
        assert (logits.argmax(1) == reference[:batch].argmax(1)).all()
        np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_metadata_reads_back(checkpoints, exported):
    import onnx
    import torch

    from cnntrain import __version__
    from cnntrain.run.checkpoint import load_checkpoint

    result = exported["2d"]
    assert result.path == checkpoints["2d"].parent.parent / "export" / "model.onnx"  # the default
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    state = load_checkpoint(checkpoints["2d"])
    assert json.loads(meta["classes"]) == state["classes"] == result.classes
    assert json.loads(meta["input_shape"]) == [3, 16, 16] and meta["input_dtype"] == "uint8"
    assert json.loads(meta["normalization"]) == state["normalization"]
    assert json.loads(meta["config"]) == state["config"]
    assert meta["cnntrain_version"] == __version__ and meta["torch_version"] == str(torch.__version__)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_torch_formats_round_trip(fmt, checkpoints, tmp_path, cli):
    import torch

    code, out, err = cli("export", "--checkpoint", checkpoints["2d"], "--format", fmt, "--json",
                         "--out", tmp_path / f"m.{'ts' if fmt == 'torchscript' else 'pt2'}")
    assert code == 0, err
    d = json.loads(out)
    assert d["format"] == fmt and d["top1_agreement"] == 1.0 and d["max_abs_diff"] <= d["tolerance"]
    extra = {"classes": "", "normalization": ""}
    if fmt == "torchscript":
        model = torch.jit.load(d["path"], _extra_files=extra)
    else:
        model = torch.export.load(d["path"], extra_files=extra).module()
    trained, x, reference = images_and_reference(checkpoints["2d"], 7)
    assert json.loads(extra["classes"]) == trained.classes
    assert json.loads(extra["normalization"]) == trained.normalizer.as_dict()
    for batch in (1, 7):
        logits, _ = model(x[:batch])
        np.testing.assert_allclose(logits.detach().numpy(), reference[:batch], atol=1e-4, rtol=0)


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(5):  # sizes differ from the model's 16x16: the file's metadata sets the resize
        Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    return tmp_path


def test_predict_on_onnx_equals_checkpoint(checkpoints, exported, photos, cli):
    answers = []
    for model in (checkpoints["2d"], exported["2d"].path):
        code, out, err = cli("predict", "--checkpoint", model, photos, "--top-k", "3", "--json")
        assert code == 0, err
        answers.append(json.loads(out))
    from_checkpoint, from_onnx = answers
    assert len(from_onnx) == 5
    for a, b in zip(from_checkpoint, from_onnx):
        assert a["path"] == b["path"]
        assert [p["class"] for p in a["predictions"]] == [p["class"] for p in b["predictions"]]
        assert [p["probability"] for p in a["predictions"]] == pytest.approx(
            [p["probability"] for p in b["predictions"]], abs=1e-6)


def test_evaluate_on_onnx_equals_checkpoint(checkpoints, exported, tmp_path, cli):
    name = "2d"
    results = []
    for i, model in enumerate((checkpoints[name], exported[name].path)):
        code, out, err = cli("evaluate", "--checkpoint", model, "--json", "--out", tmp_path / str(i))
        assert code == 0, err
        results.append(json.loads(out))
    a, b = results
    assert b["checkpoint"] == str(exported[name].path) and b["samples"] == 40
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["classes"] == b["classes"]
    assert a["accuracy"] == b["accuracy"] and a["per_class"] == b["per_class"]
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
    assert b["roc_auc"]["macro"] == pytest.approx(a["roc_auc"]["macro"], abs=1e-6)
    assert [t["path"] for t in b["top_losses"]] == [t["path"] for t in a["top_losses"]]
    assert (tmp_path / "1" / "top_losses.png").is_file()  # without Grad-CAM: onnxruntime gives no gradients


def test_corrupt_or_foreign_onnx_is_one_clear_error(exported, photos, tmp_path, cli):
    import onnx
    from onnx import TensorProto, helper

    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported["2d"].path.read_bytes()[:3000])
    code, out, err = cli("predict", "--checkpoint", truncated, photos)
    assert code == 2 and "truncated.onnx: not a readable ONNX model" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    tensor = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [tensor],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    code, _, err = cli("evaluate", "--checkpoint", tmp_path / "foreign.onnx")
    assert code == 2 and "without cnntrain's metadata" in err


def test_export_that_disagrees_is_refused_and_leaves_no_file(checkpoints, tmp_path, cli, monkeypatch):
    from cnntrain.run.exportable import PixelClassifier

    def pixels_over_255(self, pixels):  # the classic mistake: preprocessing done differently
        logits = self.model(pixels.float() / 255)
        return logits, logits.softmax(1)

    monkeypatch.setattr(PixelClassifier, "forward", pixels_over_255)
    out = tmp_path / "export" / "m.onnx"
    code, stdout, err = cli("export", "--checkpoint", checkpoints["1d"], "--out", out, "--json")
    assert code == 2 and stdout == ""
    assert "refused" in err and "max abs logit difference" in err and "nothing was written" in err
    assert list(tmp_path.rglob("*")) == []  # no file, no temporary file, not even the folder


def test_option_mistakes(checkpoints, exported, photos, tmp_path, cli):
    code, _, err = cli("export", "--checkpoint", checkpoints["1d"], "--out", tmp_path / "m.ts")
    assert code == 2 and "onnx files are named *.onnx" in err
    code, _, err = cli("predict", "--checkpoint", exported["2d"].path, photos, "--set", "train.lr=1")
    assert code == 2 and "drop --set" in err


def test_onnx_inference_needs_no_torch(exported):
    """The runner predict and evaluate use for .onnx files works where torch cannot be imported."""
    script = """
import json, sys
sys.modules["torch"] = None  # any `import torch` now fails
import numpy as np
from cnntrain.run.onnx_model import load_onnx
model = load_onnx(sys.argv[1])
logits = model.logits(np.zeros((3, *model.input_shape), np.uint8))
print(json.dumps({"shape": list(logits.shape), "classes": model.classes}))
"""
    done = subprocess.run([sys.executable, "-c", script, str(exported["3d"].path)], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got == {"shape": [3, len(exported["3d"].classes)], "classes": exported["3d"].classes}


def test_readme_example_runs_without_torch(exported, photos, cli):
    """The README's onnxruntime-only example gives cnntrain predict's answer for a photo."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```python\nimport json, numpy as np, onnxruntime\n", 1)[1].split("```", 1)[0]
    example = "import json, numpy as np, onnxruntime\n" + example
    example = example.replace("runs/cnn/1/export/model.onnx", str(exported["2d"].path))
    example = example.replace("photo.jpg", str(photos / "p0.png"))
    script = 'import sys\nsys.modules["torch"] = None\n' + example
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})  # no PYTHONPATH: cnntrain is not needed either
    assert done.returncode == 0, done.stderr
    name, probability = done.stdout.split()
    code, out, err = cli("predict", "--checkpoint", exported["2d"].path, photos / "p0.png", "--json", "-k", "1")
    (best,) = json.loads(out)[0]["predictions"]
    assert name == best["class"] and float(probability) == pytest.approx(best["probability"], abs=1e-6)


def test_verification_tolerates_ties_only():
    from cnntrain.tasks.export import verify

    reference = np.array([[2.0, 2.0, 0.0], [3.0, 1.0, 0.0]])  # sample 0: a tie between classes 0 and 1
    noise = np.array([[2.0, 2.0 + 1e-6, 0.0], [3.0, 1.0, 0.0]], np.float32)
    v = verify(reference, lambda x: noise[x], np.arange(2), "test")
    assert v.top1_agreement == 0.5 and v.ties == 1 and v.passed
    swapped = np.array([[2.0, 2.0, 0.0], [1.0, 3.0, 0.0]], np.float32)
    v = verify(reference, lambda x: swapped[x], np.arange(2), "test")
    assert v.max_abs_diff == 2.0 and not v.passed
    wrong_scale = reference.astype(np.float32) * 1.01  # same classes, logits off by 1%
    v = verify(reference, lambda x: wrong_scale[x], np.arange(2), "test")
    assert v.top1_agreement == 1.0 and not v.passed
