"""Training jobs: data sets, losses, trainers and checkpoints."""
