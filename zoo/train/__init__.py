"""Training: the run configuration, the loop, checkpoints (run directories), budgets, resumable runs."""
