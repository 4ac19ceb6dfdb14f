"""Models (Keras's ``keras.models``): a graph of layers as a program (``graph.py``, with the
rewrites in ``fusion.py``), ``Model`` and ``Sequential``, their configs, ``summary`` and
``generate``."""
