"""What a trained model is used for, one module per command: evaluate, predict, compare, featuremaps."""
