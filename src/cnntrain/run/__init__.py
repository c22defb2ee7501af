"""One training run: the engine (read `engine.py` first: the training step), the run directory,
checkpoints, resume, devices, torchrun, TensorBoard, progress."""
