"""Training: objectives, the optimizer, the step and epoch loop, checkpoints, one or K runs."""
