"""The options several commands share, declared once as `Annotated` aliases, and where `--help` lists a command.

Help text never holds `[lowercase...]`: Rich would read it as markup and drop it, so defaults written in
the text go in parentheses. Repeatable options name what they take (`--set KEY=VALUE`), not
`<list[str]>`; flags show no type at all (cli/lean.py).

No `from __future__ import annotations`: Typer reads these annotations at every start.
"""

from pathlib import Path
from typing import Annotated, NamedTuple, Optional

import typer

TRAIN = "Train and evaluate"
INSPECT = "Inspect"
PANELS = (TRAIN, INSPECT)  # `cnntrain --help`'s panels, in this order


class Listed(NamedTuple):
    """Where `cnntrain --help` lists a command: its panel, and its place there (lowest first). A command's
    module declares `LISTED = Listed(...)`, and that makes it a command (cli/app.py)."""

    panel: str
    order: int


_CONFIG = typer.Option("--config", "-c", help="YAML config, e.g. configs/cnn.yaml.", show_default=False)
ConfigOption = Annotated[Path, _CONFIG]
OptionalConfigOption = Annotated[Optional[Path], _CONFIG]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="KEY=VALUE", show_default=False,
                 help="Override a config key: dotted.key=value (YAML-typed, repeatable, last wins). Layers by "
                      "index or name: model.layers.conv1.out_channels=64."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result: no progress, no next steps.")]

# A model to run: evaluate and predict also take an exported model.onnx.
CheckpointOption = Annotated[Path, typer.Option("--checkpoint", show_default=False, help="A checkpoint (.pt) or a "
                                                "run directory (its checkpoints/best.pt).")]
ModelOption = Annotated[Path, typer.Option("--checkpoint", show_default=False, help="A checkpoint (.pt), a run "
                                           "directory (its checkpoints/best.pt) or a model.onnx from "
                                           "`cnntrain export`.")]

# What featuremaps and explore look into: a trained checkpoint, or a config's untrained model, and an image.
SubjectCheckpointOption = Annotated[Optional[Path], typer.Option("--checkpoint", show_default=False,
                                                                 help="A trained checkpoint (.pt) or run directory.")]
SubjectConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", show_default=False,
                                                             help="A config: its untrained model (seeded by "
                                                                  "train.seed; hand-designed filters as designed).")]
ImageOption = Annotated[Optional[Path], typer.Option("--image", "-i", show_default=False,
                                                     help="The input: an image file (or a .npy array "
                                                          "[C, *spatial] for signals and volumes) (default: the "
                                                          "first test image of the config's data).")]
