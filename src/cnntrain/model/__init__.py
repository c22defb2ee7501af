"""Config -> nn.Module: the layer registry, the layers and blocks that fill it, the builder, the summary.

Importing this package imports the modules whose `@register` decorators fill the registry, so the
registry itself imports none of its users.
"""

from cnntrain.model import blocks, layers  # noqa: F401  (they register their layer types)
from cnntrain.model.builder import BuiltModel, LayerInfo, build_model
from cnntrain.model.registry import get_layer_type, list_layers
from cnntrain.model.summary import ModelSummary, summarize

__all__ = ["BuiltModel", "LayerInfo", "ModelSummary", "build_model", "get_layer_type", "list_layers", "summarize"]
