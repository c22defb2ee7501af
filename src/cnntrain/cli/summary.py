"""`cnntrain summary`: the model layer by layer, as a table or as JSON."""

from cnntrain.cli.options import INSPECT, ConfigOption, JsonOption, Listed, SetOption

LISTED = Listed(INSPECT, order=10)  # where `cnntrain --help` shows it


def summary(config: ConfigOption, set_: SetOption = None, json_: JsonOption = False) -> None:
    """Show the model layer by layer: output shapes, parameters, multiply-adds, receptive field.

    Parameters are counted trainable and frozen; model.init's weights, if any, are checked against the model.
    """
    from cnntrain.cli import output as render
    from cnntrain.config.loader import load_config

    loaded = load_config(config, set_ or [])  # a bad config fails before torch is imported
    from cnntrain.model.summary import summarize, summary_dict

    result = summarize(loaded, weights=True)  # model.init's file is read and checked against the model
    render.print_json(summary_dict(result)) if json_ else summary_table(result)


def summary_table(summary) -> None:
    from rich.table import Table

    from cnntrain.cli.output import human, human_bytes, out
    from cnntrain.text import SPACED, compact_text, shape_text

    table = Table(title=f"{summary.name}: input {shape_text(summary.input_shape, SPACED)}", title_justify="left")
    columns = ["#", "name", "type", "output shape", "params", "MACs", "RF", "jump"]
    if summary.frozen_params:  # only worth a column when some weights are fixed (train.freeze, fixed filters)
        columns.insert(5, "frozen")
    for column in columns:
        table.add_column(column, justify="left" if column in ("name", "type", "output shape") else "right",
                         overflow="fold", min_width=len(column))
    for layer in summary.layers:
        row = {
            "#": layer.index, "name": layer.name, "type": layer.type,
            "output shape": shape_text(layer.out_shape, SPACED),
            "params": f"{layer.params:,}", "frozen": f"{layer.params - layer.trainable_params:,}",
            "MACs": human(layer.macs) if layer.macs else "", "RF": compact_text(layer.receptive_field),
            "jump": compact_text(layer.jump),
        }
        table.add_row(*(row[c] for c in columns))
    out.print(table)
    out.print(
        f"params: [bold]{summary.total_params:,}[/] (trainable {summary.trainable_params:,}, "
        f"frozen {summary.frozen_params:,})   MACs per sample: [bold]{human(summary.macs)}[/]\n"
        f"model size: {human_bytes(summary.param_bytes)}   activations per sample: "
        f"{human_bytes(summary.activation_bytes)}   output: {shape_text(summary.output_shape, SPACED)}"
    )
    out.print("[dim]RF: receptive field in input pixels; jump: input pixels between neighbouring outputs "
              "(product of strides); '-': every output sees the whole input[/]")
    if summary.init:
        init = summary.init
        out.print(f"model.init: {init['loaded']} tensors fit, from {init['source']} (sha256 {init['sha256'][:12]})",
                  markup=False, soft_wrap=True)
        for skipped in init["skipped"]:
            out.print(f"  {skipped['name']} {skipped['shape']} stays freshly initialised: {skipped['reason']}",
                      markup=False, soft_wrap=True)
