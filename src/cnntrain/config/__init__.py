"""YAML -> a validated Config: the key table with every default, `--set` overrides, line numbers; each
section a typed, frozen object (`config.train.lr`).

Never imports torch: every command reads its config before any heavy import.
"""

from cnntrain.config.loader import Config, config_from_dict, load_config, spatial_size
from cnntrain.config.settings import DataSettings, ModelSettings, TrainSettings

__all__ = ["Config", "DataSettings", "ModelSettings", "TrainSettings", "config_from_dict", "load_config",
           "spatial_size"]
