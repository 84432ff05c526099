"""Plots, drawn with matplotlib's Agg backend (no screen needed). Import from the submodules."""
