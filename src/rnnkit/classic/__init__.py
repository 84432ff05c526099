"""Recurrent networks not trained by backpropagation: Hopfield networks and echo state networks."""

__all__: list[str] = []
