"""Pre-processing on the device: tokenizers, images, audio — NumPy only after decoding."""
