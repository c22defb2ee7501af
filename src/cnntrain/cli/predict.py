"""`cnntrain predict`: the most likely classes of images without labels."""

from pathlib import Path
from typing import Annotated

import typer

from cnntrain.cli.options import TRAIN, Listed, ModelOption, SetOption

LISTED = Listed(TRAIN, order=30)  # where `cnntrain --help` shows it


def predict(
    checkpoint: ModelOption,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (walked for .png .jpg .jpeg .bmp).",
                                                 metavar="IMAGE", show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, metavar="K", help="Classes shown per image.")] = 5,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per image.")] = False,
    set_: SetOption = None,
) -> None:
    """The most likely classes, with probabilities, for images without labels."""
    from cnntrain.cli import output as render
    from cnntrain.tasks.predict import check_all_read
    from cnntrain.tasks.predict import predict as run_predict

    results = run_predict(checkpoint, images, top_k=top_k, overrides=set_ or [])
    render.print_json([r.as_dict() for r in results]) if json_ else predictions_table(
        [r for r in results if r.error is None])
    check_all_read(results)  # the unreadable files, after the answers for the others


def predictions_table(predictions) -> None:
    from rich.table import Table

    from cnntrain.cli.output import escape, out

    k = max((len(p.predictions) for p in predictions), default=0)
    table = Table(title=f"top-{k} classes per image", title_justify="left", show_lines=k > 1)
    table.add_column("image", overflow="fold")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for p in predictions:
        names = [f"[bold]{escape(name)}[/]" if i == 0 else escape(name) for i, (name, _) in enumerate(p.predictions)]
        table.add_row(escape(p.path), "\n".join(names), "\n".join(f"{prob:.1%}" for _, prob in p.predictions))
    out.print(table)
