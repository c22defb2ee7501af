"""`cnntrain export`: a checkpoint as one self-contained file that gives the same answers.

    from cnntrain.tasks.export import export
    result = export("runs/cnn/1/checkpoints/best.pt")              # <run dir>/export/model.onnx
    print(result.max_abs_diff, result.top1_agreement)

The file takes raw pixels (0-255, [N, C, *spatial], any N) and does the checkpoint's normalization
inside; it outputs `logits` and `probabilities`, and its metadata names the classes, input shape,
normalization and versions. Every export is verified before it is written: the file's bytes,
loaded as a user would load them, run next to the PyTorch model on the checkpoint's test images
(random images when there are none). Outside float32 noise the export is refused and nothing is
written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnntrain.atomic import atomic_write_bytes, check_writable
from cnntrain.data import load_data
from cnntrain.errors import CnntrainError, ConfigError, ExportError
from cnntrain.run.exportable import INPUT_DTYPES, build_pixel_classifier, export_metadata, input_shape_of
from cnntrain.run.exporters import EXTENSIONS, export_bytes, load_runner
from cnntrain.run.load import load_trained
from cnntrain.run.rundir import run_dir_of_checkpoint

FORMATS = tuple(EXTENSIONS)
MAX_SAMPLES = 256  # test images compared; enough to catch a wrong preprocessing many times over
RANDOM_SAMPLES = 32
VERIFY_BATCH = 50  # the file runs in batches of 50 and a remainder: the dynamic batch is exercised
# float32 noise: reordered sums differ by ~1e-6 of the logits' size; a preprocessing or graph
# mistake differs by tenths.
TOLERANCE = 1e-4


@dataclass
class Verification:
    samples: int
    images: str  # "test" or "random"
    max_abs_diff: float
    disagreements: int  # samples whose top-1 class differs
    ties: int  # of those, the ones where PyTorch's top two logits are equal to within the tolerance
    tolerance: float

    @property
    def top1_agreement(self) -> float:
        return 1 - self.disagreements / self.samples

    @property
    def passed(self) -> bool:
        """Within float32 noise, and any top-1 difference is a tie that noise may break either way."""
        return self.max_abs_diff <= self.tolerance and self.disagreements == self.ties


@dataclass
class ExportResult:
    path: Path
    format: str
    checkpoint: str
    bytes: int
    seconds: float  # export, verification and writing
    input_shape: tuple
    input_dtype: str
    classes: list[str]
    verification: Verification
    input_range: str = "0-255"  # "float": a model of float arrays takes values in the data's own units

    @property
    def max_abs_diff(self) -> float:
        return self.verification.max_abs_diff

    @property
    def top1_agreement(self) -> float:
        return self.verification.top1_agreement

    def as_dict(self) -> dict:
        """The `export --json` object; path, format, max_abs_diff and top1_agreement are an interface."""
        v = self.verification
        return {"path": str(self.path), "format": self.format, "checkpoint": self.checkpoint,
                "bytes": self.bytes, "seconds": self.seconds, "max_abs_diff": v.max_abs_diff,
                "top1_agreement": v.top1_agreement, "tolerance": v.tolerance, "samples": v.samples,
                "verified_on": v.images, "ties": v.ties, "input_shape": list(self.input_shape),
                "input_dtype": self.input_dtype, "outputs": ["logits", "probabilities"],
                "classes": list(self.classes), "input_range": self.input_range}


def export(checkpoint: str | Path, *, format: str = "onnx", out: str | Path | None = None,
           input_dtype: str | None = None) -> ExportResult:
    """Write the checkpoint's model as `format` (onnx, torchscript or pt2), verified, atomically.
    `input_dtype` None: uint8 for pixels, float32 for a model of float arrays."""
    start = time.perf_counter()
    _check_options(format, input_dtype or "uint8", out)
    trained = load_trained(checkpoint, device="cpu")  # exported graphs are traced on the CPU
    input_dtype = _input_dtype(trained, input_dtype)
    path = Path(out) if out is not None else default_path(trained.path, format)
    x, images = verification_images(trained, INPUT_DTYPES[input_dtype])
    reference = trained.logits(x).numpy()  # (N, classes): what predict and evaluate compute
    metadata = export_metadata(trained, input_dtype)
    example = x[[0, -1]]  # two samples, so the exporters keep the batch dimension free
    data = export_bytes(format, build_pixel_classifier(trained), example, metadata)
    run, read_back = load_runner(format, data, str(path), metadata)
    if read_back != metadata:  # a bug, not the user's: the file would not be self-contained
        raise RuntimeError(f"{format} export lost its metadata: wrote {sorted(metadata)}, read {sorted(read_back)}")
    verification = verify(reference, run, x.numpy(), images)
    if not verification.passed:
        raise ExportError(refusal(format, verification))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return ExportResult(path, format, str(trained.path), len(data), time.perf_counter() - start,
                        input_shape_of(trained), input_dtype, list(trained.classes), verification,
                        metadata["input_range"])


def _input_dtype(trained, input_dtype: str | None) -> str:
    """Float arrays (volts, Hounsfield units) cannot pass through uint8 without being crushed."""
    floats = trained.normalizer.unit != 255
    if input_dtype == "uint8" and floats:
        raise ConfigError(f"{trained.path}: this model reads float arrays, which uint8 would crush to 256 "
                          "levels; export with --input-dtype float32 (the default for it)")
    return input_dtype or ("float32" if floats else "uint8")


def _check_options(format: str, input_dtype: str, out) -> None:
    if format not in EXTENSIONS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if input_dtype not in INPUT_DTYPES:
        raise ConfigError(f"--input-dtype must be one of {', '.join(INPUT_DTYPES)}, got {input_dtype!r}")
    ext = EXTENSIONS[format]
    if out is not None and Path(out).suffix.lower() != ext:
        raise ConfigError(f"--out {out}: {format} files are named *{ext} (predict and evaluate recognise "
                          f"exported models by it); use e.g. --out {Path(out).with_suffix(ext)}")
    if out is not None:
        check_writable(out, file=True)  # before the seconds of tracing and verification


def default_path(checkpoint: Path, format: str) -> Path:
    """<run dir>/export/model.onnx (.ts, .pt2)."""
    return run_dir_of_checkpoint(checkpoint).path / "export" / f"model{EXTENSIONS[format]}"


def verification_images(trained, dtype: torch.dtype) -> tuple[torch.Tensor, str]:
    """Up to MAX_SAMPLES of the checkpoint's test images, or seeded random pixels when its data
    cannot be loaded here or no longer has the model's input shape."""
    shape = input_shape_of(trained)
    try:
        test = load_data(trained.config.data, trained.config.train.seed).test.x[:MAX_SAMPLES]
    except CnntrainError:  # data elsewhere, not downloaded, or its folder moved: random pixels will do
        test = None
    if test is not None and len(test) > 0 and tuple(test.shape[1:]) == shape:
        return test.to(dtype), "test"
    generator = torch.Generator().manual_seed(0)
    if trained.normalizer.unit != 255:  # float arrays: random values spread as the training data's were
        z = torch.randn((RANDOM_SAMPLES, *shape), generator=generator)
        view = (1, -1, *[1] * (len(shape) - 1))
        mean, std = (torch.tensor(v, dtype=torch.float32).view(view) for v in (trained.normalizer.mean,
                                                                                 trained.normalizer.std))
        return (z * std + mean).to(dtype), "random"
    pixels = torch.randint(0, 256, (RANDOM_SAMPLES, *shape), generator=generator, dtype=torch.uint8)
    return pixels.to(dtype), "random"


def verify(reference: np.ndarray, run, x: np.ndarray, images: str) -> Verification:
    """The exported file's logits against PyTorch's for the same pixels x."""
    got = np.concatenate([run(x[i:i + VERIFY_BATCH]) for i in range(0, len(x), VERIFY_BATCH)])
    tolerance = TOLERANCE * max(1.0, float(np.abs(reference).max()))
    diff = float(np.abs(got.astype(np.float64) - reference).max())
    agree = got.argmax(1) == reference.argmax(1)
    top2 = np.sort(reference, axis=1)[:, -2:] if reference.shape[1] > 1 else np.zeros((len(x), 2))
    ties = int(((top2[:, 1] - top2[:, 0]) <= 2 * tolerance)[~agree].sum())
    return Verification(len(x), images, diff, int((~agree).sum()), ties, tolerance)


def refusal(format: str, v: Verification) -> str:
    return (f"refused: the exported {format} model disagrees with PyTorch on {v.samples} {v.images} images: "
            f"max abs logit difference {v.max_abs_diff:.3g} (tolerance {v.tolerance:.3g}), top-1 agreement "
            f"{v.top1_agreement:.2%}; nothing was written. Try another --format, and report this as a bug")
