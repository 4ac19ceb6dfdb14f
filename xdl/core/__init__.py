"""The floor every other one stands on: the backend seam (``backend.py``), argument checks,
``Parameter`` and flat parameter buffers, initializers, regularizers, random numbers, and the
symbolic tensors that layer calls record graphs with."""
