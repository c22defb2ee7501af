"""`cnntrain explain`: where the network looked (Grad-CAM and friends), and what each filter looks for."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import INSPECT, CheckpointOption, Listed, SetOption
from cnntrain.errors import CnntrainError

LISTED = Listed(INSPECT, order=40)  # where `cnntrain --help` shows it


class Method(str, Enum):  # the names of model/attribution.py METHODS, which tests keep in step
    gradcam = "gradcam"
    gradcam_plus_plus = "gradcam++"
    saliency = "saliency"
    integrated_gradients = "integrated-gradients"
    occlusion = "occlusion"


def explain(
    checkpoint: CheckpointOption,
    inputs: Annotated[Optional[list[Path]], typer.Argument(
        help="Image files or folders (walked); .npy arrays [C, *spatial] for 1D and 3D models.",
        metavar="INPUT", show_default=False)] = None,
    method: Annotated[Method, typer.Option("--method", "-m", metavar="METHOD", help="How the map is made: gradcam, "
                                          "gradcam++, saliency, integrated-gradients or occlusion.")] = Method.gradcam,
    layer: Annotated[Optional[str], typer.Option("--layer", "-l", help="Grad-CAM's layer, by name or index "
                                                 "(default: the last layer with spatial output).",
                                                 show_default=False)] = None,
    target: Annotated[str, typer.Option("--target", "-t", help="The class the map is for: predicted, true (the "
                                        "input's class folder) or a class name.")] = "predicted",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: <run dir>/explain).",
                                                show_default=False)] = None,
    filters: Annotated[Optional[str], typer.Option("--filters", help="Instead of maps: what each channel of this "
                                                   "layer (name or index) looks for, by activation "
                                                   "maximisation.", show_default=False)] = None,
    channels: Annotated[Optional[list[str]], typer.Option("--channels", metavar="CHANNEL", show_default=False,
                                                          help="With --filters: channels, repeatable or "
                                                          "comma-separated (default: the first 64).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, metavar="N", show_default=False,
                                                 help="With --filters: gradient-ascent steps (default: 128).")] = None,
    tensorboard: Annotated[Optional[Path], typer.Option("--tensorboard", help="With --filters: also log the grid "
                                                        "into this run directory's TensorBoard.",
                                                        show_default=False)] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON: a list, one object per input (with --filters: "
                                        "one object).")] = False,
    set_: SetOption = None,
) -> None:
    """Where the network looked to classify each input: a heat map per image, and an index.html.

    With --filters instead: what each channel of a layer responds to most, by activation maximisation.
    """
    from cnntrain.cli import output as render

    if filters is not None:
        if inputs:
            raise CnntrainError("pass either inputs to explain or --filters LAYER, not both")
        from cnntrain.tasks.explain_filters import explain_filters

        result = explain_filters(checkpoint, filters, channels=channels, steps=steps, out=out,
                                 tensorboard=tensorboard, overrides=set_ or [])
        render.print_json(result.as_dict()) if json_ else _filters_done(result)
        return
    if channels or tensorboard is not None:
        raise CnntrainError("--channels and --tensorboard go with --filters LAYER")
    if not inputs:
        raise CnntrainError("nothing to explain: pass image files or folders, or --filters LAYER")
    from cnntrain.tasks.explain import explain as run_explain

    result = run_explain(checkpoint, inputs, method=method.value, layer=layer, target=target, out=out,
                         overrides=set_ or [])
    render.print_json([e.as_dict() for e in result.explanations]) if json_ else _explain_done(result)
    if result.unreadable:  # after the maps of the others
        from cnntrain.errors import SomeUnreadable
        from cnntrain.tasks.predict import unreadable_message

        raise SomeUnreadable(unreadable_message(result.unreadable, [*result.unreadable, *result.explanations]))


def _explain_done(result) -> None:
    from rich.table import Table

    from cnntrain.cli.output import escape, out

    first = result.explanations[0]
    where = f" at {escape(first.layer)}" if first.layer else ""
    table = Table(title=f"{escape(first.method)}{where}", title_justify="left")
    for column in ("input", "predicted", "probability", "map for", "picture"):
        table.add_column(column, justify="right" if column == "probability" else "left", overflow="fold")
    for e in result.explanations:
        table.add_row(escape(e.path), escape(e.predicted), f"{e.probability:.1%}", escape(e.target),
                      escape(Path(e.picture).name))
    out.print(table)
    out.print(f"wrote [bold]{escape(str(result.out_dir))}[/] (PNG, .npy per input); "
              f"open [bold]{escape(str(result.html))}[/]", soft_wrap=True)


def _filters_done(result) -> None:
    from cnntrain.cli.output import escape, out

    out.print(f"what each of {len(result.channels)} channels of [bold]{escape(result.layer)}[/] looks for: "
              f"[bold]{escape(str(result.picture))}[/] (inputs as .npy: {escape(str(result.array))})", soft_wrap=True)
