"""Models (Keras's ``keras.models``): a graph of layers as a program (``graph.py``, with the
rewrites in ``fusion.py``), ``Model`` and ``Sequential``, their configs, ``summary`` and
``generate``."""

from .model import Model
from .saving import clone_model, load_model, model_from_json
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "clone_model"]
