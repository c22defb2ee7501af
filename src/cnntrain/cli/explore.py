"""`cnntrain explore`: a page that explains convolution on the user's own model and image."""

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

LISTED = Listed(INSPECT, order=50)  # where `cnntrain --help` shows it


def explore(
    checkpoint: SubjectCheckpointOption = None,
    config: SubjectConfigOption = None,
    image: ImageOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for explore.html (default: <run dir>/"
                                                "explore/<image>, or explore/<config>-<image>).",
                                                show_default=False)] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the page in the web browser.")] = False,
    layers: Annotated[Optional[list[str]], typer.Option("--layers", "-l", metavar="LAYER",
                                                        help="Layers to show up close, by name or "
                                                        "index (inside blocks: dotted name, e.g. layer1.0.0.body.0), "
                                                        "repeatable or comma-separated (default: in model order "
                                                        "while the page stays small).",
                                                        show_default=False)] = None,
    set_: SetOption = None,
) -> None:
    """An interactive page that explains convolution on your model and image, in one HTML file.

    Click a pixel to see the filter, the patch and the sum behind it; receptive fields, pooling, a
    stride/padding playground and why convolution needs so few weights.
    """
    from cnntrain.tasks.explore import explore as run_explore

    result = run_explore(image, checkpoint=checkpoint, config=config, layers=layers, out=out, overrides=set_ or [])
    _done(result)
    if open_:
        import webbrowser

        webbrowser.open(result.html.resolve().as_uri())


def _done(result) -> None:
    from cnntrain.cli.output import escape, out

    out.print(f"wrote [bold]{escape(str(result.html))}[/] ({result.size / 1e6:.1f} MB) for {escape(result.image)}")
    out.print(f"up close: {escape(', '.join(result.up_close)) or 'none'}")
    if result.left_out:
        out.print(f"thumbnails only, to keep the page small: {escape(', '.join(result.left_out))} "
                  "(pick layers with --layers)")
    if result.prediction:
        name, probability = result.prediction
        out.print(f"prediction: {escape(name)} ({probability:.1%})")
    out.print(f"input normalization: {escape(result.normalization)}")
    out.print("live input: draw, drop an image or pick a test sample in the page" if not result.not_live
              else f"live input: off ({escape(result.not_live)})")
