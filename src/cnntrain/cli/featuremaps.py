"""`cnntrain featuremaps`: what each layer makes of an image (grids, filters, .npy arrays, index.html)."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import (
    INSPECT,
    ImageOption,
    Listed,
    SetOption,
    SubjectCheckpointOption,
    SubjectConfigOption,
)

LISTED = Listed(INSPECT, order=30)  # where `cnntrain --help` shows it


class MapScale(str, Enum):
    channel = "channel"
    layer = "layer"


def featuremaps(
    checkpoint: SubjectCheckpointOption = None,
    config: SubjectConfigOption = None,
    image: ImageOption = None,
    layers: Annotated[Optional[list[str]], typer.Option("--layers", "-l", metavar="LAYER",
                                                        help="Layers by name or index, repeatable or comma-"
                                                        "separated (default: every conv, pool and residual "
                                                        "block).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: <run dir>/"
                                                "featuremaps/<image>, or featuremaps/<config>-<image>).",
                                                show_default=False)] = None,
    scale: Annotated[MapScale, typer.Option("--scale", help="channel: each channel over its own range; layer: "
                                            "one range for the layer.")] = MapScale.channel,
    list_layers: Annotated[bool, typer.Option("--list-layers", help="List the layers (index, name, type, output shape) "
                                      "and exit.")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option("--tensorboard", help="Also log the pictures into this "
                                                        "run directory's TensorBoard.", show_default=False)] = None,
    set_: SetOption = None,
) -> None:
    """What each layer makes of an image: feature-map grids, filters, raw .npy arrays and an index.html.

    With --config only there is no training data, hence no normalization: the model sees pixels / 255.
    """
    if list_layers:
        from cnntrain.tasks.featuremaps import list_model_layers

        layers_list(*list_model_layers(checkpoint=checkpoint, config=config, image=image, overrides=set_ or []))
        return
    from cnntrain.tasks.featuremaps import featuremaps as run_featuremaps

    result = run_featuremaps(image, checkpoint=checkpoint, config=config, layers=layers, out=out,
                             scale=scale.value, tensorboard=tensorboard, overrides=set_ or [])
    featuremaps_done(result)


def layers_list(layers, defaults: set) -> None:
    from rich.table import Table

    from cnntrain.cli.output import escape, out
    from cnntrain.text import SPACED, shape_text

    table = Table(title="layers (* = shown by default)", title_justify="left")
    for column in ("#", "name", "type", "output shape", "default"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for info in layers:
        table.add_row(str(info.index), escape(info.name), info.type, shape_text(info.out_shape, SPACED),
                      "*" if info.name in defaults else "")
    out.print(table)
    out.print("[dim]pick layers with --layers NAME_OR_INDEX (repeatable or comma-separated)[/]")


def featuremaps_done(result) -> None:
    from rich.table import Table

    from cnntrain.cli.output import escape, out
    from cnntrain.text import SPACED, shape_text

    table = Table(title=f"feature maps of {escape(result.image)}", title_justify="left")
    for column in ("#", "name", "type", "shape", "min", "max", "mean", "std", "zeros"):
        table.add_column(column, justify="left" if column in ("name", "type", "shape") else "right")
    for layer in result.layers:
        s = layer.stats
        table.add_row(str(layer.index), escape(layer.name), layer.type, shape_text(layer.shape, SPACED),
                      f"{s['min']:.3g}", f"{s['max']:.3g}", f"{s['mean']:.3g}", f"{s['std']:.3g}",
                      f"{s['sparsity']:.1%}")
    out.print(table)
    out.print(f"input normalization: {result.normalization}")
    out.print(f"wrote [bold]{escape(str(result.out_dir))}[/] (PNG grids, filters, .npy arrays); "
              f"open [bold]{escape(str(result.html))}[/]")
