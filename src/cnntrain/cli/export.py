"""`cnntrain export`: the command and its terminal output."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, CheckpointOption, JsonOption, Listed

LISTED = Listed(TRAIN, order=50)  # where `cnntrain --help` shows it


class ExportFormat(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"
    pt2 = "pt2"


class InputDtype(str, Enum):
    uint8 = "uint8"
    float32 = "float32"


def export(
    checkpoint: CheckpointOption,
    format_: Annotated[ExportFormat, typer.Option("--format", "-f", help="onnx (onnxruntime and most runtimes), "
                                                  "torchscript (.ts, libtorch) or pt2 (torch.export).")
                       ] = ExportFormat.onnx,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The file to write (default: <run dir>/"
                                                "export/model.onnx, .ts or .pt2).", show_default=False)] = None,
    input_dtype: Annotated[Optional[InputDtype], typer.Option(
        "--input-dtype", help="What the file takes: pixels 0-255 as uint8 or as float32 (default uint8; "
        "float32 for a model of float arrays).", show_default=False)] = None,
    json_: JsonOption = False,
) -> None:
    """Write the model as one file that takes raw pixels (normalization inside), verified against PyTorch.

    Outputs `logits` and `probabilities`; metadata: classes, input shape, normalization, versions.
    `predict` and `evaluate` take the .onnx in place of --checkpoint.
    """
    from cnntrain.cli import output as render
    from cnntrain.tasks.export import export as run_export

    dtype = input_dtype.value if input_dtype else None  # None: the checkpoint's kind of data decides
    result = run_export(checkpoint, format=format_.value, out=out, input_dtype=dtype)
    render.print_json(result.as_dict()) if json_ else export_done(result)


def export_done(result) -> None:
    from cnntrain.cli.output import escape, human_bytes, out

    d = result.as_dict()
    shape = ", ".join(map(str, d["input_shape"]))
    out.print(f"[bold green]exported[/] {d['format']} in {d['seconds']:.1f}s: [bold]{escape(d['path'])}[/] "
              f"({human_bytes(d['bytes'])})", soft_wrap=True)
    values = "pixels 0-255" if d["input_range"] == "0-255" else "values as the data holds them"
    out.print(f"input: {values} [N, {shape}] {d['input_dtype']}; outputs: logits, probabilities "
              f"over {len(d['classes'])} classes", soft_wrap=True)
    ties = f" ({d['ties']} ties within noise)" if d["ties"] else ""
    out.print(f"verified on {d['samples']} {d['verified_on']} images against PyTorch: max abs logit difference "
              f"{d['max_abs_diff']:.3g} (tolerance {d['tolerance']:.3g}), top-1 agreement "
              f"{d['top1_agreement']:.2%}{ties}", soft_wrap=True)
    if d["format"] == "onnx":
        out.print(f"next:\n  cnntrain predict --checkpoint {d['path']} IMAGE", markup=False, soft_wrap=True)
