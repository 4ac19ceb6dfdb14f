"""Layers: each a ``Layer`` with ``build``, ``call`` and ``backprop``."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import LAYERS, Layer, register_layer
from .cells import RecurrentCell, SimpleRNNCell
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRUCell
from .lstm import LSTMCell
from .normalization import BatchNorm, LayerNorm
from .recurrent import GRU, LSTM, Recurrent, SimpleRNN

__all__ = ["Layer", "LAYERS", "register_layer", "Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "Dropout", "BatchNorm", "LayerNorm",
           "Embedding", "Recurrent", "SimpleRNN", "LSTM", "GRU", "RecurrentCell", "SimpleRNNCell", "LSTMCell",
           "GRUCell"]
