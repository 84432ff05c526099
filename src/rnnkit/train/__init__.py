"""Training: truncated BPTT, checkpoints, metrics."""

__all__: list[str] = []
