"""cnntrain: describe a CNN in YAML, train it, evaluate it, and look inside.

The library under the `cnntrain` command; every command is one of these calls:

    import cnntrain
    config = cnntrain.load_config("configs/cnn.yaml", ["train.epochs=3"])
    model = cnntrain.build_model(config, num_classes=6).model     # a plain torch.nn.Module
    result = cnntrain.train(config)                                # writes runs/cnn/<n>
    print(cnntrain.evaluate(result.run_dir / "checkpoints/best.pt").accuracy)

Names resolve on first use, so `import cnntrain` does not import torch.
"""

import importlib
import os

# Before torch loads its OpenMP runtime, which reads this once: threads that finish their share of an op
# sleep instead of spinning for the others. On a busy machine a spinning thread takes the core the thread
# it waits for needs (2 fixed threads trained 4-9x slower spinning on a loaded 2-core machine: README,
# "A busy machine"); sleeping keeps that speed with the thread count, and so the weights, fixed
# (run/device.py: run_threads). OMP_WAIT_POLICY=active brings the spinning back.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "load_config": "cnntrain.config",
    "Config": "cnntrain.config",
    "DataSettings": "cnntrain.config",  # what load_data reads: `load_data(DataSettings(dataset="shapes"), seed=0)`
    "load_data": "cnntrain.data",
    "build_model": "cnntrain.model",
    "summarize": "cnntrain.model",
    "train": "cnntrain.run.train",
    "load_trained": "cnntrain.run.load",
    "evaluate": "cnntrain.tasks.evaluate",
    "predict": "cnntrain.tasks.predict",
    "export": "cnntrain.tasks.export",
    "compare": "cnntrain.tasks.compare",
    "featuremaps": "cnntrain.tasks.featuremaps",
    "explore": "cnntrain.tasks.explore",
    "report": "cnntrain.tasks.report",
    "CnntrainError": "cnntrain.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'cnntrain' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # resolve once
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
