"""Layers: each a ``Layer`` with ``build`` and ``apply`` (the output and its ``backprop``)."""

from .activations import ACTIVATIONS, Activation, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import LAYERS, Layer, register_layer
from .cells import RecurrentCell, SimpleRNNCell
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .gru import GRUCell
from .lstm import LSTMCell
from .normalization import BatchNorm, LayerNorm
from .pooling import AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, MaxPool2D, MaxPooling2D
from .recurrent import GRU, LSTM, Recurrent, SimpleRNN
from .reshape import Flatten, Reshape

__all__ = ["Layer", "LAYERS", "register_layer", "Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "Dropout", "BatchNorm", "LayerNorm"]
__all__ += ["Activation", "ACTIVATIONS", "AveragePooling2D", "MaxPooling2D"]
__all__ += ["AvgPool2D", "Conv2D", "Flatten", "GlobalAveragePooling2D", "MaxPool2D", "Reshape"]
__all__ += ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
__all__ += ["Embedding", "Recurrent", "SimpleRNN", "LSTM", "GRU", "RecurrentCell", "SimpleRNNCell", "LSTMCell",
            "GRUCell"]
