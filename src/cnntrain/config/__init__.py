"""YAML -> a validated Config: the key table with every default, `--set` overrides, line numbers.

Never imports torch: every command reads its config before any heavy import.
"""

from cnntrain.config.loader import Config, config_from_dict, load_config, spatial_size

__all__ = ["Config", "config_from_dict", "load_config", "spatial_size"]
