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
from .bidirectional import Bidirectional
from .masking import Masking
from .reshape import Flatten, Reshape

__all__ = ["Layer", "LAYERS", "register_layer", "Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "Dropout", "BatchNorm", "LayerNorm"]
__all__ += ["Activation", "ACTIVATIONS", "AveragePooling2D", "MaxPooling2D"]
__all__ += ["AvgPool2D", "Conv2D", "Flatten", "GlobalAveragePooling2D", "MaxPool2D", "Reshape"]
__all__ += ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
__all__ += ["Embedding", "Recurrent", "SimpleRNN", "LSTM", "GRU", "RecurrentCell", "SimpleRNNCell", "LSTMCell",
            "GRUCell"]
from .activations import ELU, Mish, SiLU, Softplus, Softsign, Swish  # noqa: E402
from .conv1d import Conv1D  # noqa: E402
from .conv_transpose import Conv2DTranspose  # noqa: E402
from .depthwise import DepthwiseConv2D, SeparableConv2D  # noqa: E402
from .pooling1d import (AveragePooling1D, AvgPool1D, GlobalAveragePooling1D, GlobalMaxPooling1D,  # noqa: E402
                        GlobalMaxPooling2D, MaxPool1D, MaxPooling1D)
from .resize import Cropping2D, UpSampling2D, ZeroPadding2D  # noqa: E402

__all__ += ["ELU", "Mish", "SiLU", "Softplus", "Softsign", "Swish"]
__all__ += ["Conv1D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "AveragePooling1D", "AvgPool1D",
            "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPool1D", "MaxPooling1D",
            "Cropping2D", "UpSampling2D", "ZeroPadding2D"]
__all__ += ["Bidirectional", "Masking"]

from .activations import GELU  # noqa: E402
from .attention import MultiHeadAttention  # noqa: E402
from .position import PositionEmbedding  # noqa: E402
from .transformer import TransformerBlock  # noqa: E402

__all__ += ["GELU", "MultiHeadAttention", "PositionEmbedding", "TransformerBlock"]
