"""The sections of scripts/bench.py, one module each; bench.py runs them and prints the report."""
