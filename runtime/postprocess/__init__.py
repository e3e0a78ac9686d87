"""Post-processing helpers shared by pipelines (NumPy only)."""
