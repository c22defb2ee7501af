"""`cnntrain train`: train a model and write its run directory; `--fast-dev-run` checks a config in seconds.

No `from __future__ import annotations` in a command module: Typer reads its annotations at every start.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, Listed, OptionalConfigOption, QuietOption, SetOption
from cnntrain.errors import ConfigError

LISTED = Listed(TRAIN, order=10)  # where `cnntrain --help` shows it


def train(
    config: OptionalConfigOption = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the run exactly here "
                                                "(default: runs/<name>/<n>).", show_default=False)] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue a run: its directory or a "
                                                   "checkpoint. Extend it with --set train.epochs=N.",
                                                   show_default=False)] = None,
    quiet: QuietOption = False,
    fast_dev_run: Annotated[bool, typer.Option("--fast-dev-run", help="Check everything on one batch in seconds "
                                               "(model, data, logging, checkpoints); keeps nothing.")] = False,
    folds: Annotated[Optional[int], typer.Option("--folds", metavar="K", show_default=False,
                                                 help="Stratified K-fold cross-validation over train+val: K runs in "
                                                      "DIR/fold_<i>, the metric's mean ± std in DIR/summary.json.")]
    = None,
) -> None:
    """Train a model on its config's data and write a run directory (metrics, checkpoints, TensorBoard)."""
    from cnntrain.cli import output as render

    if fast_dev_run:
        return _fast_dev_run(config, set_ or [], out=out, resume=resume, quiet=quiet)
    if folds is not None:
        return _train_folds(config, folds, set_ or [], out=out, resume=resume, quiet=quiet)
    from cnntrain.run.train import train as train_run

    result = train_run(config, overrides=set_ or [], out=out, resume=resume, progress=render.progress_for(quiet))
    if render.reporting_rank():  # under torchrun: once, not once per process
        train_done(result, quiet=quiet)


def train_done(result, *, quiet: bool = False) -> None:
    from cnntrain.cli.output import escape, out, shown_path

    s = result.summary
    run = shown_path(result.run_dir)
    best = s["best"]
    value = best["value"]
    shown = "n/a" if value is None else f"{value:.2%}" if best["metric"].endswith("acc") else f"{value:.4f}"
    out.print(f"\n[bold green]done[/] in {s['seconds']:.1f}s{' (stopped early)' if result.stopped_early else ''}: "
              f"best {best['metric']} {shown} at epoch {best['epoch']}"
              + (f"; test accuracy {s['test']['acc']:.2%}" if s.get("test") else ""))
    out.print(f"run directory: [bold]{escape(run)}[/]", soft_wrap=True)
    if quiet:
        return
    out.print("next:\n"
              f"  python -m webbrowser {(result.run_dir / 'report.html').resolve().as_uri()}   # the run at a glance\n"
              f"  cnntrain evaluate --checkpoint {run}/checkpoints/best.pt\n"
              f"  cnntrain featuremaps --checkpoint {run}/checkpoints/best.pt    # add --image PHOTO for your own\n"
              f"  tensorboard --logdir {run}\n"
              f"  cnntrain train --resume {run} --set train.epochs={s['epochs'] + 5}   # train longer",
              markup=False, soft_wrap=True)


def _fast_dev_run(config: Optional[Path], sets: list, *, out: Optional[Path], resume: Optional[Path],
                  quiet: bool) -> None:
    from cnntrain.cli import output as render
    from cnntrain.tasks.fast_dev_run import fast_dev_run as run_check

    if config is None or resume is not None or out is not None:
        raise ConfigError("--fast-dev-run checks a config and keeps nothing: give --config, without --resume or --out")
    result = run_check(config, overrides=sets, progress=render.progress_for(quiet))
    if render.reporting_rank():
        fast_dev_run_done(result)


def fast_dev_run_done(result) -> None:
    from cnntrain.cli.output import escape, out

    s = result.summary
    final = s["final"] or {}
    out.print(f"[bold green]fast dev run passed[/] in {result.seconds:.1f}s: one training batch "
              f"(loss {final.get('train_loss', float('nan')):.4f}), one validation batch"
              + (", one test batch" if s.get("test") else "") + f"; {s['params']:,} parameters on {s['device']}",
              soft_wrap=True)
    out.print("it wrote, then deleted: " + escape(", ".join(result.files)), soft_wrap=True)
    out.print("nothing was kept; train for real without --fast-dev-run")


def _train_folds(config: Optional[Path], folds: int, sets: list, *, out: Optional[Path], resume: Optional[Path],
                 quiet: bool) -> None:
    from cnntrain.cli import output as render
    from cnntrain.tasks.folds import train_folds

    if config is None or resume is not None:
        raise ConfigError("--folds starts a cross-validation from --config; to continue one, run the same command "
                          "with the same --out: finished folds stay, a cut one resumes")
    folds_done(train_folds(config, folds, overrides=sets, out=out, progress=render.progress_for(quiet)))


def folds_done(result) -> None:
    from cnntrain.cli.output import escape, out, shown_path

    def show(value):
        return "n/a" if value is None else f"{value:.2%}" if result.metric.endswith("acc") else f"{value:.4f}"

    for fold in result.folds:
        out.print(f"fold {fold.index}: {result.metric} {show(fold.value)} ({len(fold.held_out)} held out) in "
                  f"{escape(shown_path(fold.run_dir))}", soft_wrap=True)
    out.print(f"[bold green]{len(result.folds)}-fold cross-validation[/]: {result.metric} "
              f"[bold]{show(result.mean)} ± {show(result.std)}[/] (mean ± std over the folds)")
    out.print(f"wrote [bold]{escape(shown_path(result.out_dir / 'summary.json'))}[/] and "
              f"[bold]{escape(shown_path(result.page))}[/]", soft_wrap=True)
