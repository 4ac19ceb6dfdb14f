"""Layers: each a ``Layer`` with ``build`` and ``apply`` (the output and its ``backprop``).

Grouped by family: element-wise and per-position layers here, ``conv/`` (convolutions, pooling,
resizing: windows over images and sequences), ``recurrent/`` (cells, SimpleRNN/LSTM/GRU,
Bidirectional) and ``attention/`` (MultiHeadAttention, positions, the Transformer block).
"""

from .activations import (ACTIVATIONS, ELU, GELU, Activation, LeakyReLU, Mish, ReLU, Sigmoid, SiLU, Softmax,
                          Softplus, Softsign, Swish, Tanh)
from .attention import MultiHeadAttention, PositionEmbedding, TransformerBlock
from .base import LAYERS, Layer, register_layer
from . import operation  # noqa: F401 (ops on symbolic tensors record Operation nodes from here on)
from .conv import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D, Conv1D, Conv1DTranspose, Conv2D,
                   Conv2DTranspose, Cropping2D, DepthwiseConv2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                   GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D, SeparableConv2D,
                   UpSampling2D, ZeroPadding2D)
from .dense import Dense
from .dropout import Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from .embedding import Embedding
from .masking import Masking
from ..core.symbolic import Input
from .merge import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, maximum,
                    minimum, multiply, subtract)
from .normalization import BatchNorm, BatchNormalization, LayerNorm, LayerNormalization
from .recurrent import (GRU, LSTM, Bidirectional, GRUCell, LSTMCell, Recurrent, RecurrentCell, SimpleRNN,
                        SimpleRNNCell)
from .images import RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom, Resizing
from .hashing import Hashing
from .lookup import IntegerLookup, StringLookup
from .preprocessing import CategoryEncoding, CenterCrop, Discretization, Normalization, Rescaling
from .text import TextVectorization
from .reshape import Flatten, Identity, Permute, RepeatVector, Reshape
from .wrappers import Lambda, TimeDistributed

__all__ = ["LAYERS", "Layer", "register_layer", "ACTIVATIONS", "Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Softmax", "ELU", "GELU", "Mish", "SiLU", "Swish", "Softplus", "Softsign", "Dense", "Dropout", "BatchNorm",
           "LayerNorm", "BatchNormalization", "LayerNormalization", "Input", "Flatten", "Reshape", "Masking",
           "Embedding", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate",
           "Conv2D", "Conv1D", "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D",
           "MaxPool2D", "MaxPooling2D",
           "AvgPool2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPool1D",
           "MaxPooling1D", "AvgPool1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
           "UpSampling2D", "ZeroPadding2D", "Cropping2D",
           "Recurrent", "SimpleRNN", "LSTM", "GRU", "RecurrentCell", "SimpleRNNCell", "LSTMCell", "GRUCell",
           "Bidirectional", "MultiHeadAttention", "PositionEmbedding", "TransformerBlock", "RepeatVector", "Permute",
           "Identity", "TimeDistributed", "Lambda", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D",
           "Rescaling", "Normalization", "CenterCrop", "CategoryEncoding", "Discretization", "Resizing", "RandomFlip",
           "RandomContrast", "RandomTranslation", "RandomZoom", "RandomRotation", "IntegerLookup",
           "StringLookup", "Hashing", "TextVectorization"]
