"""`cnntrain train --fast-dev-run`: the check, and what it tells the user."""

from __future__ import annotations

from pathlib import Path

from cnntrain.errors import ConfigError


def fast_dev_run(config: Path | None, sets: list[str], *, out: Path | None, resume: Path | None, quiet: bool) -> None:
    from cnntrain.cli import output as render
    from cnntrain.tasks.fast_dev_run import fast_dev_run as run_check

    if config is None or resume is not None or out is not None:
        raise ConfigError("--fast-dev-run checks a config and keeps nothing: give --config, without --resume or --out")
    result = run_check(config, overrides=sets, progress=render.progress_for(quiet))
    if render.reporting_rank():
        fast_dev_run_done(result)


def fast_dev_run_done(result) -> None:
    from rich.markup import escape

    from cnntrain.cli.output import out

    s = result.summary
    final = s["final"] or {}
    out.print(f"[bold green]fast dev run passed[/] in {result.seconds:.1f}s: one training batch "
              f"(loss {final.get('train_loss', float('nan')):.4f}), one validation batch"
              + (", one test batch" if s.get("test") else "") + f"; {s['params']:,} parameters on {s['device']}",
              soft_wrap=True)
    out.print("it wrote, then deleted: " + escape(", ".join(result.files)), soft_wrap=True)
    out.print("nothing was kept; train for real without --fast-dev-run")
