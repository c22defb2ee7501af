"""`cnntrain schema`: the config file's JSON Schema."""

from cnntrain.cli.options import INSPECT, Listed

LISTED = Listed(INSPECT, order=20)  # where `cnntrain --help` shows it


def schema() -> None:
    """Print a JSON Schema of the config file, for editor autocompletion and checking."""
    from cnntrain.cli import output as render
    from cnntrain.model.schema import config_schema

    render.print_json(config_schema())
