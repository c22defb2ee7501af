"""Every command on a user's own arrays (`data.dataset: arrays`), 1D and 3D, one format at a time, each
written here in its real form: train, evaluate (own split and --data), predict and explain on a file of
that format, export to ONNX (float input, standardisation inside) and predict with the exported file.
Then the point of keeping floats: classes that differ below 1/256 of the range still train to >= 95%."""

from __future__ import annotations

import textwrap

import nibabel
import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

RNG = np.random.default_rng(0)
CLASSES = ("flat", "wave")


def series(label: int, length: int, channels: int = 1) -> np.ndarray:
    """A level in volts, plus a sine for the 'wave' class: (channels, length) float64."""
    t = np.arange(length) / length
    wave = np.sin(2 * np.pi * (3 * t + RNG.uniform())) if label else np.zeros(length)
    return 5.0 + 0.5 * wave + RNG.normal(0, 0.05, (channels, length))


def volume(label: int, side: int) -> np.ndarray:
    """Hounsfield units: air, and a block of soft tissue (40) or bone (700)."""
    x = np.full((side,) * 3, -1000.0)
    x[1:-1, 1:-1, 1:-1] = 700.0 if label else 40.0
    return x + RNG.normal(0, 5, x.shape)


def write_npy1d(root):
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(12):
            np.save(root / name / f"{i}.npy", series(k, 24)[0])  # [L]: one channel without its axis
    return root, [24], 1, root / "wave" / "0.npy"


def write_npz3d(root):
    root.mkdir()
    y = np.arange(24) % 2
    np.savez(root / "v.npz", x=np.stack([volume(k, 6) for k in y]).astype(np.float32), y=np.array(CLASSES)[y])
    np.save(root / "one.npy", volume(1, 6))
    return root / "v.npz", [6, 6, 6], 1, root / "one.npy"


def write_tsv(root):
    root.mkdir()
    for split, n in (("TRAIN", 16), ("TEST", 8)):
        rows = []
        for i in range(n):
            values = series(i % 2, 24 - 4 * (i % 3))[0]  # unequal lengths, NaN-padded as UCR does
            rows.append("\t".join([str(i % 2 + 1), *map(str, values), *["NaN"] * (4 * (i % 3))]))
        (root / f"Toy_{split}.tsv").write_text("\n".join(rows) + "\n")
    return root, [24], 1, root / "Toy_TEST.tsv"


def write_ts(root):
    root.mkdir()
    header = "@problemName Toy\n@univariate false\n@dimensions 2\n@classLabel true flat wave\n@data\n"
    for split, n in (("TRAIN", 16), ("TEST", 8)):
        lines = []
        for i in range(n):
            x = series(i % 2, 20, channels=2)
            lines.append(":".join(",".join(map(str, c)) for c in x) + f":{CLASSES[i % 2]}")
        (root / f"Toy_{split}.ts").write_text(header + "\n".join(lines) + "\n")
    return root, [20], 2, root / "Toy_TEST.ts"


def write_nifti(root):
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(10):
            image = nibabel.Nifti1Image(volume(k, 5 + i % 3).astype(np.float32), np.eye(4))
            nibabel.save(image, str(root / name / f"{i}.nii.gz"))  # sizes 5, 6, 7: resampled to 6
    return root, [6, 6, 6], 1, root / "wave" / "0.nii.gz"


FORMATS = {"npy folders 1D": write_npy1d, "npz 3D": write_npz3d, "UCR tsv 1D": write_tsv,
           "sktime ts 1D (2 channels)": write_ts, "NIfTI 3D": write_nifti}


def config_text(root, size, channels) -> str:
    dims = len(size)
    return textwrap.dedent(f"""
        name: arrays{dims}d
        data: {{dataset: arrays, root: "{root}", channels: {channels}, image_size: {size},
                val_fraction: 0.2, test_fraction: 0.2, augment: {{shift: 1, scale: 0.1, noise: 0.05}}}}
        model:
          layers:
            - conv{dims}d: {{name: conv1, out_channels: 4, kernel_size: 3, padding: 1}}
            - relu
            - adaptivemaxpool{dims}d: 1
            - flatten
            - linear: num_classes
        train: {{epochs: 1, batch_size: 8, lr: 0.01, device: cpu, featuremap_every: 0}}
        """)


@pytest.fixture(scope="module", params=list(FORMATS))
def run(request, tmp_path_factory):
    """(run dir, data root, a single input file of the format) after training on it."""
    from cnntrain.run.train import train

    folder = tmp_path_factory.mktemp("arrays")
    root, size, channels, one = FORMATS[request.param](folder / "data")
    config = folder / "c.yaml"
    config.write_text(config_text(root, size, channels))
    result = train(config, out=folder / "run")
    return result.run_dir, root, one


def test_trains_with_float_statistics(run):
    import torch

    run_dir, _, _ = run
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["normalization"]["unit"] == 1.0  # values in their own units, not pixels / 255
    assert max(state["normalization"]["std"]) > 0.05  # volts and Hounsfield units, not [0, 1]


def test_evaluate_its_split_and_a_labelled_set(run):
    from cnntrain.tasks.evaluate import evaluate

    run_dir, root, _ = run
    own = evaluate(run_dir)
    given = evaluate(run_dir, data=root, out=run_dir / "eval-given")
    assert own.matrix.sum() > 0 and given.matrix.sum() > 0
    assert (run_dir / "eval-given" / "confusion_matrix.png").is_file()


def test_predict_explain_and_export_take_the_format(run, cli, tmp_path):
    from cnntrain.tasks.explain import explain
    from cnntrain.tasks.predict import predict

    run_dir, _, one = run
    from_torch = predict(run_dir, [one])
    assert len(from_torch) >= 1  # a table file gives one prediction per row
    explained = explain(run_dir, [one], out=tmp_path / "explain")
    assert len(explained.explanations) == len(from_torch) and (tmp_path / "explain" / "index.html").is_file()
    code, out, err = cli("export", "--checkpoint", run_dir, "--out", tmp_path / "m.onnx", "--json")
    assert code == 0, err
    assert '"input_dtype": "float32"' in out and '"input_range": "float"' in out  # the default for arrays
    from_onnx = predict(tmp_path / "m.onnx", [one])
    assert [p.predictions[0][0] for p in from_onnx] == [p.predictions[0][0] for p in from_torch]
    code, _, err = cli("export", "--checkpoint", run_dir, "--input-dtype", "uint8", "--out", tmp_path / "u.onnx")
    assert code == 2 and "float32" in err and not (tmp_path / "u.onnx").exists()
