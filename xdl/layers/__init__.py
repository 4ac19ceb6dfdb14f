"""Layers: each a ``Layer`` with ``build``, ``call`` and ``backprop``."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import LAYERS, Layer, register_layer
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNorm, LayerNorm

__all__ = ["Layer", "LAYERS", "register_layer", "Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "Dropout", "BatchNorm", "LayerNorm"]
