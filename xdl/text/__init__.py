"""Text on the host: strings never reach the device. This package (like xdl/io/) computes
with NumPy; the layers that read strings (xdl/layers/lookup.py, hashing.py, text.py) hand
what it gives to the device."""
