"""The `cnntrain` command line: a thin Typer shell over the library.

Each command parses typed options, imports the library inside its body (so `cnntrain --help` never
loads torch), calls one library function and hands the result to `render`. User mistakes arrive as
CnntrainError and leave as one line on stderr with exit status 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.errors import CnntrainError

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
) -> None:
    """Train a model on its config's data and write a run directory (metrics, checkpoints, TensorBoard)."""
    from cnntrain import render
    from cnntrain.errors import ConfigError
    from cnntrain.train import train as train_run

    if (config is None) == (resume is None):
        raise ConfigError("give --config CONFIG to start a run, or --resume RUN_DIR to continue one")
    if resume is not None and out is not None:
        raise ConfigError("--resume continues in the run's own directory; drop --out")
    result = train_run(config, overrides=set_ or [], out=out, resume=resume, progress=render.progress_for(quiet))
    render.train_done(result)


@app.command(rich_help_panel=INSPECT)
def summary(config: ConfigOption, set_: SetOption = None, json_: JsonOption = False) -> None:
    """Show the model layer by layer: output shapes, parameters, multiply-adds, receptive field."""
    from cnntrain import render
    from cnntrain.config import load_config
    from cnntrain.summary import summarize, summary_dict

    result = summarize(load_config(config, set_ or []))
    render.print_json(summary_dict(result)) if json_ else render.summary_table(result)


@app.command(rich_help_panel=INSPECT)
def schema() -> None:
    """Print a JSON Schema of the config file, for editor autocompletion and checking."""
    from cnntrain import render
    from cnntrain.schema import config_schema

    render.print_json(config_schema())


def main() -> None:
    try:
        app()
    except CnntrainError as error:
        from cnntrain import render

        render.error(str(error))
        sys.exit(getattr(error, "exit_code", 2))
