"""cnntrain: describe a CNN in YAML, train it, evaluate it, and look inside."""

__version__ = "0.1.0"
