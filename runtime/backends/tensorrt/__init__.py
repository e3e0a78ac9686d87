"""TensorRT on the device: the backend (backend.py), engine builds through a cache (build.py, cache.py),
CUDA probing (cuda.py), optimization profiles and build recipes (profiles.py), and planning the
builds of a whole bundle (bundle_build.py). Importing this package needs nothing installed."""
