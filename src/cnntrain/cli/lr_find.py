"""`cnntrain lr-find`: the learning-rate range test, and the `--set train.lr=...` it suggests."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, ConfigOption, Listed, QuietOption, SetOption

LISTED = Listed(TRAIN, order=60)  # where `cnntrain --help` shows it


def lr_find(
    config: ConfigOption,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for lr_find.png and lr_find.json "
                                                "(default: runs/lr-find/<n>).", show_default=False)] = None,
    start_lr: Annotated[float, typer.Option("--start-lr", min=0.0, metavar="LR", help="First learning rate.")] = 1e-7,
    end_lr: Annotated[float, typer.Option("--end-lr", min=0.0, metavar="LR", help="Last learning rate.")] = 10.0,
    steps: Annotated[int, typer.Option("--steps", min=5, metavar="N", help="Training steps at most; the test stops "
                                       "earlier once the loss blows up.")] = 100,
    quiet: QuietOption = False,
) -> None:
    """Find a learning rate: train briefly with the rate rising from tiny to huge and watch the loss.

    The config file is not changed and nothing is trained for real: use the printed --set train.lr=...
    with `cnntrain train`.
    """
    from cnntrain.cli import output as render
    from cnntrain.tasks.lr_find import lr_find as run_lr_find

    result = run_lr_find(config, overrides=set_ or [], out=out, start_lr=start_lr, end_lr=end_lr, steps=steps,
                         progress=render.progress_for(quiet))
    lr_find_done(result, config, set_ or [])


def lr_find_done(result, config: Path, sets: list[str]) -> None:
    import shlex

    from cnntrain.cli.output import escape, out

    span = f"{len(result.lrs)} steps, lr {result.lrs[0]:.2g} to {result.lrs[-1]:.2g}" if result.lrs else "no steps"
    out.print(f"range test: {span} ({result.stopped})")
    if result.suggestion is None:
        out.print("[bold yellow]no suggestion[/]: the loss never fell; check the data and the model, or widen "
                  "--start-lr/--end-lr")
    else:
        out.print(f"suggested learning rate: [bold]{result.suggestion:.2g}[/] ({result.rule})")
        args = [arg for s in sets if not s.startswith("train.lr=") for arg in ("--set", s)]
        line = shlex.join(["cnntrain", "train", "--config", str(config), *args])
        out.print(f"  {escape(line)} --set train.lr={result.suggestion:.2g}", soft_wrap=True)
    out.print(f"wrote {escape(str(result.chart))}\nwrote {escape(str(result.json_path))}", soft_wrap=True)
