"""The `cnntrain` command line: a thin Typer shell over the library.

Each command parses typed options, imports the library inside its body (so `cnntrain --help` never
loads torch), calls one library function and hands the result to `render`. User mistakes arrive as
CnntrainError and leave as one line on stderr with exit status 2; anything else is a bug and keeps
its traceback.

No `from __future__ import annotations` here: Typer reads every command's annotations at each start,
and evaluating them from strings costs more than the objects themselves.
"""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.lean import import_rich_help
from cnntrain.errors import CnntrainError

import_rich_help()  # before Typer draws any help: without rich.markdown and rich.traceback

app = typer.Typer(
    name="cnntrain",
    help="Describe a CNN in YAML, train it, evaluate it, and look inside.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a real bug shows a plain Python traceback
    rich_markup_mode="rich",
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="YAML config, e.g. configs/cnn.yaml.",
                                            show_default=False)]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config key: dotted.key=value (YAML-typed, repeatable, "
                 "last wins). Layers by index or name: model.layers.conv1.out_channels=64.",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]

INSPECT = "Inspect"
TRAIN = "Train and evaluate"


@app.command(rich_help_panel=TRAIN)
def train(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config, e.g. configs/cnn.yaml.",
                                                   show_default=False)] = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the run exactly here "
                                                "(default: runs/<name>/<n>).", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue a run: its directory or a "
                                                   "checkpoint. Extend it with --set train.epochs=N.",
                                                   show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
    fast_dev_run: Annotated[bool, typer.Option("--fast-dev-run", help="Check everything on one batch in "
                                               "seconds (model, data, logging, checkpoints); keeps nothing.")] = False,
) -> None:
    """Train a model on its config's data and write a run directory (metrics, checkpoints, TensorBoard)."""
    from cnntrain.cli import output as render

    if fast_dev_run:
        from cnntrain.cli.quick import fast_dev_run as run_fast_dev_run

        return run_fast_dev_run(config, set_ or [], out=out, resume=resume, quiet=quiet)
    from cnntrain.run.train import train as train_run

    result = train_run(config, overrides=set_ or [], out=out, resume=resume, progress=render.progress_for(quiet))
    if render.reporting_rank():  # under torchrun: once, not once per process
        render.train_done(result)


@app.command(rich_help_panel=INSPECT)
def summary(config: ConfigOption, set_: SetOption = None, json_: JsonOption = False) -> None:
    """Show the model layer by layer: output shapes, parameters (trainable and frozen), multiply-adds, receptive
    field, and whether model.init's weights fit."""
    from cnntrain.cli import output as render
    from cnntrain.config.loader import load_config

    loaded = load_config(config, set_ or [])  # a bad config fails before torch is imported
    from cnntrain.model.summary import summarize, summary_dict

    result = summarize(loaded, weights=True)  # model.init's file is read and checked against the model
    render.print_json(summary_dict(result)) if json_ else render.summary_table(result)


@app.command(rich_help_panel=INSPECT)
def schema() -> None:
    """Print a JSON Schema of the config file, for editor autocompletion and checking."""
    from cnntrain.cli import output as render
    from cnntrain.model.schema import config_schema

    render.print_json(config_schema())


CheckpointOption = Annotated[Path, typer.Option("--checkpoint", help="A checkpoint (.pt) or a run directory "
                                               "(its checkpoints/last.pt).", show_default=False)]
ModelOption = Annotated[Path, typer.Option("--checkpoint", help="A checkpoint (.pt), a run directory (its "
                                           "checkpoints/last.pt) or a model.onnx from `cnntrain export`.",
                                           show_default=False)]


class EvalSplit(str, Enum):
    test = "test"
    val = "val"


class MapScale(str, Enum):
    channel = "channel"
    layer = "layer"


@app.command(rich_help_panel=TRAIN)
def evaluate(
    checkpoint: ModelOption,
    data: Annotated[Optional[Path], typer.Option("--data", help="A folder with one subfolder per class (your own "
                                                 "test images) instead of the checkpoint's data.",
                                                 show_default=False)] = None,
    split: Annotated[Optional[EvalSplit], typer.Option("--split", help="Split of the checkpoint's data "
                                                       "[default: test].", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the confusion-matrix PNGs "
                                                "(default: <run dir>/eval-<split>).", show_default=False)] = None,
    json_: JsonOption = False,
    predictions: Annotated[Optional[Path], typer.Option("--predictions", help="Write one CSV row per image: "
                                                        "path, true, predicted, confidence.",
                                                        show_default=False)] = None,
    set_: SetOption = None,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a checkpoint on test data."""
    from cnntrain.cli import output as render
    from cnntrain.tasks.evaluate import evaluate as run_evaluate

    result = run_evaluate(checkpoint, data=data, split=split.value if split else None, out=out,
                          predictions=predictions, overrides=set_ or [])
    render.print_json(result.as_dict()) if json_ else render.evaluate_report(result)


@app.command(rich_help_panel=TRAIN)
def predict(
    checkpoint: ModelOption,
    images: Annotated[list[Path], typer.Argument(help="Image files or folders (walked for .png .jpg .jpeg .bmp).",
                                                 show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Classes shown per image.")] = 5,
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per image.")] = False,
    set_: SetOption = None,
) -> None:
    """The most likely classes, with probabilities, for images without labels."""
    from cnntrain.cli import output as render
    from cnntrain.tasks.predict import predict as run_predict

    results = run_predict(checkpoint, images, top_k=top_k, overrides=set_ or [])
    render.print_json([r.as_dict() for r in results]) if json_ else render.predictions_table(results)


@app.command(rich_help_panel=TRAIN)
def compare(
    configs: Annotated[Optional[list[Path]], typer.Argument(help="Configs to compare [default: configs/mlp.yaml "
                                                            "configs/cnn.yaml].", show_default=False)] = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for compare.json, compare.png and "
                                                "each model's run (default: runs/compare/<n>).",
                                                show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
) -> None:
    """Train models on the same data, epochs and seed; compare parameters, speed, accuracy and shift robustness.

    The --set overrides apply to every model, e.g. --set data.dataset=imagefolder --set data.root=DIR.
    """
    from cnntrain.cli import output as render
    from cnntrain.tasks.compare import compare as run_compare

    result = run_compare(configs or None, overrides=set_ or [], out=out, progress=render.progress_for(quiet),
                         on_model=None if quiet else render.compare_heading)
    render.compare_table(result)


@app.command(rich_help_panel=INSPECT)
def featuremaps(
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="A trained checkpoint (.pt) or run "
                                                       "directory.", show_default=False)] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="A config: its untrained model (seeded "
                                                   "by train.seed; hand-designed filters as designed).",
                                                   show_default=False)] = None,
    image: Annotated[Optional[Path], typer.Option("--image", "-i", help="The input: an image file (or a .npy "
                                                  "array [C, *spatial] for signals and volumes) "
                                                  "[default: the first test image of the config's data].",
                                                  show_default=False)] = None,
    layers: Annotated[Optional[list[str]], typer.Option("--layers", "-l", help="Layers by name or index, "
                                                        "repeatable or comma-separated [default: every conv, "
                                                        "pool and residual block].", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: <run dir>/"
                                                "featuremaps/<image>, or featuremaps/<config>-<image>).",
                                                show_default=False)] = None,
    scale: Annotated[MapScale, typer.Option("--scale", help="channel: each channel over its own range; layer: "
                                            "one range for the layer.")] = MapScale.channel,
    list_layers: Annotated[bool, typer.Option("--list-layers", help="List the layers (index, name, type, "
                                              "output shape) and exit.")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option("--tensorboard", help="Also log the pictures into this "
                                                        "run directory's TensorBoard.", show_default=False)] = None,
    set_: SetOption = None,
) -> None:
    """What each layer makes of an image: feature-map grids, filters, raw .npy arrays and an index.html.

    With --config only there is no training data, hence no normalization: the model sees pixels / 255.
    """
    from cnntrain.cli import output as render

    if list_layers:
        from cnntrain.tasks.featuremaps import list_model_layers

        render.layers_list(*list_model_layers(checkpoint=checkpoint, config=config, image=image,
                                              overrides=set_ or []))
        return
    from cnntrain.tasks.featuremaps import featuremaps as run_featuremaps

    result = run_featuremaps(image, checkpoint=checkpoint, config=config, layers=layers, out=out,
                             scale=scale.value, tensorboard=tensorboard, overrides=set_ or [])
    render.featuremaps_done(result)


def main() -> None:
    try:
        app()
    except CnntrainError as error:
        from cnntrain.cli import output as render

        render.error(str(error))
        sys.exit(getattr(error, "exit_code", 2))
