"""A PixelClassifier as the bytes of a file (ONNX, TorchScript, torch.export), and back to logits.

Each format writes to memory first: the export command runs exactly these bytes, loaded as a user
would load the file, before any of them reach the disk.
"""

from __future__ import annotations

import io
import warnings
from typing import Callable

import numpy as np
import torch

from cnntrain.errors import ExportError
from cnntrain.run.exportable import INPUT_NAME, OUTPUT_NAMES, PixelClassifier

EXTENSIONS = {"onnx": ".onnx", "torchscript": ".ts", "pt2": ".pt2"}


def batch_dim():
    # min 1: a batch of one is what a single-image application sends
    return {0: torch.export.Dim("batch", min=1)}


def onnx_bytes(classifier: PixelClassifier, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """torch.onnx's dynamo exporter (the one torch 2.14 recommends; it needs onnxscript), with
    named inputs and outputs, a dynamic batch dimension and the metadata as metadata_props."""
    program = torch.onnx.export(classifier, (example,), dynamo=True, verbose=False, input_names=[INPUT_NAME],
                                output_names=list(OUTPUT_NAMES), dynamic_shapes=(batch_dim(),))
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = "cnntrain export: pixels 0-255 [N, C, *spatial] -> logits, probabilities"
    return proto.SerializeToString()


def torchscript_bytes(classifier: PixelClassifier, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """torch.jit.trace: deprecated in torch 2.14, yet still what C++ (libtorch) and older runtimes load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*deprecated")
        traced = torch.jit.trace(classifier, example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files=metadata)
    return buffer.getvalue()


def pt2_bytes(classifier: PixelClassifier, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """torch.export's ExportedProgram, saved with the metadata as extra files."""
    program = torch.export.export(classifier, (example,), dynamic_shapes=(batch_dim(),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files=metadata)
    return buffer.getvalue()


WRITERS = {"onnx": onnx_bytes, "torchscript": torchscript_bytes, "pt2": pt2_bytes}


def export_bytes(fmt: str, classifier: PixelClassifier, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """The file's bytes; an exporter that cannot handle the model is one clear error, not a page of trace."""
    try:
        return WRITERS[fmt](classifier, example, metadata)
    except Exception as err:  # each exporter has its own error classes, none of them public
        first = (str(err).strip().splitlines() or [""])[0][:300]
        other = "torchscript" if fmt != "torchscript" else "onnx"
        raise ExportError(f"torch could not export this model as {fmt} ({type(err).__name__}: {first}); "
                          f"try --format {other}") from err


def load_runner(fmt: str, data: bytes, name: str, keys) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """(logits function on pixel arrays, the metadata `keys` read back) of a file's bytes, loaded as
    a user would load the file."""
    if fmt == "onnx":
        from cnntrain.run.onnx_model import load_onnx

        model = load_onnx(name, data)
        return model.logits, model.metadata
    extra = dict.fromkeys(keys, "")
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*deprecated")
            module = torch.jit.load(io.BytesIO(data), map_location="cpu", _extra_files=extra)
    else:
        module = torch.export.load(io.BytesIO(data), extra_files=extra).module()

    @torch.inference_mode()
    def logits(x: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(np.ascontiguousarray(x)))[0].numpy()

    # TorchScript hands extra files back as bytes, torch.export as str
    return logits, {k: v.decode() if isinstance(v, bytes) else v for k, v in extra.items()}
