"""Task models built from rnnkit layers: language model, forecaster, sequence classifier."""

__all__: list[str] = []
